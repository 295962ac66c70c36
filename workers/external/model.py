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

from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from workers.activations import CoordSite, Kind
from workers.external.behaviour import leaf_modules, norm_modules, readouts_reading_norms
from workers.external.forward import call
from workers.external.roles import InferredParam
from workers.models.layers import ParameterSite
from workers.roles import Role


class ExternalModel(nn.Module):
    """The user's model as `model`, with its inferred roles; see the module docstring."""

    def __init__(self, model: nn.Module, inferred: list[InferredParam]) -> None:
        super().__init__()
        self.model = model
        self.inferred = inferred
        self.param_roles = {p.name: p.role for p in inferred}
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
                fan_in, fan_out = p.fans(tuple(params[p.name].shape))
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
            fan_in, fan_out = p.fans(tuple(params[p.name].shape))  # at this width, not the base's
            sites.append(
                ParameterSite(
                    name=p.name,
                    param=params[p.name],
                    role=p.role,
                    fan_in=fan_in,
                    fan_out=fan_out,
                    module=modules[p.owner.module],
                    constant_init=None,
                    keep_init=p.role in (Role.VECTOR, Role.FINITE),
                    zero_init="readout_zero_init" if p.role == Role.OUTPUT and not tied else None,
                    multiplier_at="hook" if tied else "folded",
                    role_source=p.reason
                    + ("; keeps the model's own init" if p.role in (Role.VECTOR, Role.FINITE) else ""),
                )
            )
        return sites

    @property
    def tied(self) -> bool:
        return any(p.tied_readout is not None for p in self.inferred)

    def forward(
        self, idx: torch.Tensor, targets: torch.Tensor | None = None
    ) -> tuple[torch.Tensor, torch.Tensor | None]:
        logits, loss = call(self.model, idx, targets)
        if loss is None and targets is not None:
            loss = F.cross_entropy(logits.flatten(0, 1).float(), targets.flatten())
        return logits, loss

    def coord_modules(self) -> dict[str, CoordSite]:
        """Every leaf module's output, and the logits. A site's kind comes from what it does: the module that
        looks up an input weight makes an embedding; the readout (its module, or the model's output when
        the readout is written in the forward, `h @ W`) the logits, chain 1 when it reads a norm's output;
        a module that behaves as a norm (`behaviour.norm_modules`: its output's scale ignores its input's)
        a norm; anything else is opaque (only theories that predict every activation alike judge it). The
        behaviour is read on real weights: on the meta device nothing is a norm."""
        norms = norm_modules(self.model)
        leaves = leaf_modules(self.model)
        readouts = {p.name: p.tied_readout or p.owner.module for p in self.inferred if p.role == Role.OUTPUT}
        readouts |= {p.name: p.tied_readout for p in self.inferred if p.tied_readout is not None}
        reading = readouts_reading_norms(self.model, set(readouts), norms) if norms else set()
        kinds: dict[str, Kind] = {}
        for p in self.inferred:
            if p.role == Role.INPUT:
                kinds.setdefault(p.owner.module, Kind.EMBEDDING)
        sites = {}
        for name, module in leaves.items():
            kind = kinds.get(name) or (Kind.NORM if name in norms else Kind.OPAQUE)
            sites[name] = CoordSite(module, "output", kind)
        for param, module in readouts.items():
            kind = Kind.LOGITS if param in reading else Kind.OPAQUE
            label = module if module in leaves else "logits"
            target = sites[module].module if module in leaves else self
            sites[label] = CoordSite(target, "output", kind, chain=1 if kind == Kind.LOGITS else 0)
        return sites
