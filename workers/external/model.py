"""`ExternalModel`: a user's module (or a `transformers` model) behind the contract every mutransfer model
keeps: `forward(idx, targets) -> (logits, loss)`, `parameter_sites()` and `coord_modules()`.

The forward contract is adapted once, here (docs/external-models.md, "The forward contract"):
- a `transformers` model (or any forward that takes `input_ids`) is called as `model(input_ids=idx)` and
  the loss is computed from its `.logits` against mutransfer's targets, which are already the next tokens
  (passing `labels=` would shift them a second time);
- any other module is called nanoGPT's way, `model(idx, targets)` (or `model(idx)` when its forward takes
  one argument); a returned `(logits, loss)` keeps the model's own loss, a bare tensor or an object with
  `.logits` gets the cross-entropy computed here.

Nothing in the user's module is edited. The forward multipliers μP needs are folded into init and learning
rate (`workers.parametrization.fold`), except on a tied weight, where a multiplier on the weight would
reach both its uses: there the embedding's and the readout's multipliers are forward hooks on those two
modules, registered here and listed by `hook_notes()`.
"""

from __future__ import annotations

import inspect
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from workers.activations import CoordSite, Kind
from workers.external.roles import InferredParam
from workers.models.layers import ParameterSite
from workers.roles import Role


def _takes_input_ids(model: nn.Module) -> bool:
    try:
        parameters = inspect.signature(model.forward).parameters
    except (TypeError, ValueError):
        return False
    return "input_ids" in parameters


def _positional_arity(model: nn.Module) -> int:
    try:
        parameters = inspect.signature(model.forward).parameters.values()
    except (TypeError, ValueError):
        return 2
    kinds = (inspect.Parameter.POSITIONAL_ONLY, inspect.Parameter.POSITIONAL_OR_KEYWORD)
    if any(p.kind == inspect.Parameter.VAR_POSITIONAL for p in parameters):
        return 2
    return sum(p.kind in kinds for p in parameters)


def _first_tensor(value: Any) -> torch.Tensor | None:
    if isinstance(value, torch.Tensor):
        return value
    if isinstance(value, list | tuple):
        return next((v for v in value if isinstance(v, torch.Tensor)), None)
    return getattr(value, "logits", None) if not isinstance(value, dict) else value.get("logits")


class ExternalModel(nn.Module):
    """The user's model as `model`, with its inferred roles; see the module docstring."""

    def __init__(self, model: nn.Module, inferred: list[InferredParam]) -> None:
        super().__init__()
        self.model = model
        self.inferred = inferred
        self.param_roles = {p.name: p.role for p in inferred}
        self.hf_style = _takes_input_ids(model)
        self.arity = _positional_arity(model)
        # module name -> multiplier, for the forward hooks a tied weight needs (set by the parametrization)
        self.hook_multipliers: dict[str, float] = {}
        modules = dict(model.named_modules())
        for module_name in self.hooked_modules():
            modules[module_name].register_forward_hook(self._hook(module_name))

    def _hook(self, module_name: str) -> Any:
        def scale(_module: nn.Module, _args: Any, output: torch.Tensor) -> torch.Tensor | None:
            value = self.hook_multipliers.get(module_name, 1.0)
            return None if value == 1.0 else output * value

        return scale

    def hooked_modules(self) -> list[str]:
        """Modules whose output carries a forward multiplier by hook: both uses of each tied weight."""
        names = []
        for p in self.inferred:
            if p.tied_readout is not None:
                names += [p.owner.module, p.tied_readout]
        return names

    def hook_sites(self) -> list[tuple[str, Role, int, int]]:
        """(module, role, fan_in, fan_out) per hooked module: the rule whose forward multiplier it applies."""
        params = dict(self.model.named_parameters())
        sites = []
        for p in self.inferred:
            if p.tied_readout is not None:
                fan_in, fan_out = p.owner.fans(tuple(params[p.name].shape))
                sites.append((p.owner.module, Role.INPUT, fan_in, fan_out))
                sites.append((p.tied_readout, Role.OUTPUT, fan_out, fan_in))
        return sites

    def hook_notes(self) -> list[str]:
        """What a user who compiles or wraps the model themselves must keep (the hooks above), in words."""
        return [
            f"{module}: output × {self.hook_multipliers.get(module, 1.0):.6g} by a forward hook (μP's "
            f"{role.value} multiplier; the weight is tied, so it cannot be folded into init and LR). "
            f"To apply it yourself: model.get_submodule({module!r})"
            f".register_forward_hook(lambda m, a, y: y * {self.hook_multipliers.get(module, 1.0):.6g})"
            for module, role, _, _ in self.hook_sites()
            if self.hook_multipliers.get(module, 1.0) != 1.0
        ]

    def parameter_sites(self) -> list[ParameterSite]:
        params = dict(self.model.named_parameters())
        modules = dict(self.model.named_modules())
        sites = []
        for p in self.inferred:
            assert p.role is not None  # inference raised on ambiguous parameters
            tied = p.tied_readout is not None
            fan_in, fan_out = p.owner.fans(tuple(params[p.name].shape))  # at this width, not the base's
            sites.append(
                ParameterSite(
                    name=p.name,
                    param=params[p.name],
                    role=p.role,
                    fan_in=fan_in,
                    fan_out=fan_out,
                    module=modules[p.owner.module],
                    constant_init=None,
                    keep_init=p.role == Role.VECTOR,
                    zero_init="readout_zero_init" if p.role == Role.OUTPUT and not tied else None,
                    multiplier_at="hook" if tied else "folded",
                    role_source=p.reason + ("; keeps the model's own init" if p.role == Role.VECTOR else ""),
                )
            )
        return sites

    @property
    def tied(self) -> bool:
        return any(p.tied_readout is not None for p in self.inferred)

    def forward(
        self, idx: torch.Tensor, targets: torch.Tensor | None = None
    ) -> tuple[torch.Tensor, torch.Tensor | None]:
        loss = None
        if self.hf_style:
            out: Any = self.model(input_ids=idx)
        elif targets is not None and self.arity >= 2:
            out = self.model(idx, targets)
            if isinstance(out, tuple) and len(out) == 2 and isinstance(out[1], torch.Tensor):
                loss = out[1]
        else:
            out = self.model(idx)
        logits = _first_tensor(out)
        if logits is None:
            raise TypeError(
                f"the model's forward returned {type(out).__name__}: mutransfer needs logits (a tensor, "
                "(logits, loss), or an object with .logits; docs/external-models.md)"
            )
        if loss is None and targets is not None:
            loss = F.cross_entropy(logits.flatten(0, 1).float(), targets.flatten())
        return logits, loss

    def coord_modules(self) -> dict[str, CoordSite]:
        """Every leaf module's output. Its kind comes from the roles of what it applies: an input weight makes
        an embedding, an output weight the logits (chain 1 when the readout reads a norm's output, which a
        forward on the meta device finds), a module whose class is a norm a norm; anything else is opaque
        (only theories that predict every activation alike judge it)."""
        kinds: dict[str, Kind] = {}
        for p in self.inferred:
            if p.role == Role.INPUT:
                kinds.setdefault(p.owner.module, Kind.EMBEDDING)
            if p.role == Role.OUTPUT or p.tied_readout is not None:
                kinds[p.tied_readout or p.owner.module] = Kind.LOGITS
        reads_norm = self._readout_reads_norm([m for m, k in kinds.items() if k == Kind.LOGITS])
        sites = {}
        for name, module in self.model.named_modules():
            if not name or any(True for _ in module.children()):
                continue
            kind = kinds.get(name) or (Kind.NORM if "norm" in type(module).__name__.lower() else Kind.OPAQUE)
            if kind == Kind.LOGITS and not reads_norm.get(name, False):
                kind = Kind.OPAQUE
            sites[name] = CoordSite(module, "output", kind, chain=1 if kind == Kind.LOGITS else 0)
        return sites

    def _readout_reads_norm(self, readouts: list[str]) -> dict[str, bool]:
        """Whether each readout's input is the output of a norm module: one forward of 4 tokens (free on the
        meta device, where `recorded_sites` builds the model) with hooks that compare tensor identity."""
        modules = dict(self.model.named_modules())
        norm_outputs: list[torch.Tensor] = []
        found: dict[str, bool] = {}
        handles = []
        for module in modules.values():
            if "norm" in type(module).__name__.lower():
                handles.append(module.register_forward_hook(lambda _m, _a, out: norm_outputs.append(out)))
        for name in readouts:

            def check(_m: nn.Module, args: Any, name: str = name) -> None:
                x = args[0]  # the norm's output itself, or a view of it (transformers slices positions)
                found[name] = any(x is out or x._base is out for out in norm_outputs)

            handles.append(modules[name].register_forward_pre_hook(check))
        device = next(self.model.parameters()).device
        try:
            with torch.no_grad():
                self(torch.zeros(1, 4, dtype=torch.long, device=device))
        finally:
            for handle in handles:
                handle.remove()
        return found
