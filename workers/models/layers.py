"""Layers that carry a role and one plain float multiplier, and the walk that lists every parameter's role.

The parametrization (workers.parametrization.resolve) sets `multiplier` once when the model is built; the
forward pass only multiplies by a Python float. Nothing is attached to tensors or parameters, so the
model works under torch.compile and with FSDP flat parameters (microsoft/mup #59, #60).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from workers.roles import Role


class ScaledLinear(nn.Module):
    """y = multiplier · x Wᵀ (no bias). `zero_init` names the config option that may zero this weight."""

    def __init__(self, fan_in: int, fan_out: int, role: Role, zero_init: str | None = None) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.empty(fan_out, fan_in))
        self.role = role
        self.zero_init = zero_init
        self.multiplier = 1.0

    def fans(self) -> tuple[int, int]:
        return self.weight.shape[1], self.weight.shape[0]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = F.linear(x, self.weight)
        return y if self.multiplier == 1.0 else y * self.multiplier


class ScaledEmbedding(nn.Module):
    """A lookup table whose output is multiplied by `multiplier` (α_in for embeddings)."""

    def __init__(self, num: int, width: int, role: Role = Role.INPUT) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.empty(num, width))
        self.role = role
        self.zero_init: str | None = None
        self.multiplier = 1.0

    def fans(self) -> tuple[int, int]:
        return self.weight.shape[0], self.weight.shape[1]

    def forward(self, idx: torch.Tensor) -> torch.Tensor:
        y = F.embedding(idx, self.weight)
        return y if self.multiplier == 1.0 else y * self.multiplier


SCALED = (ScaledLinear, ScaledEmbedding)


@dataclass
class ParameterSite:
    """One parameter as the parametrization sees it: its role, fans and the module that applies it."""

    name: str
    param: nn.Parameter
    role: Role
    fan_in: int
    fan_out: int
    module: nn.Module
    constant_init: float | None  # norm gains 1, biases 0; None for matrices drawn from N(0, std²)
    keep_init: bool = False  # an external model's vector: its own init is kept (gain or bias, unknown here)
    zero_init: str | None = None  # the config option that may zero this weight (readout_zero_init, ...)
    # How the rule's forward multiplier is applied: by the layer (`ScaledLinear`), "folded" into init and LR
    # (an external model), by a forward "hook" (an external model's tied weight), or "none" (a LayerNorm).
    multiplier_at: str = "layer"
    role_source: str = "declared by the model"


def parameter_sites(model: nn.Module) -> list[ParameterSite]:
    """Every parameter once, in `named_parameters` order. A tied weight takes the role of the first module
    that owns it (the embedding: input), so it is initialized and optimized by one rule (mup #55). A model
    that infers its own sites (`workers.external.ExternalModel`) lists them itself."""
    own = getattr(model, "parameter_sites", None)
    if callable(own):
        return own()  # type: ignore[no-any-return]
    names = {id(p): n for n, p in model.named_parameters()}
    sites: dict[int, ParameterSite] = {}
    for _, module in model.named_modules():
        if isinstance(module, SCALED):
            p = module.weight
            if id(p) not in sites:
                fan_in, fan_out = module.fans()
                sites[id(p)] = ParameterSite(
                    names[id(p)], p, module.role, fan_in, fan_out, module, None, zero_init=module.zero_init
                )
        elif isinstance(module, nn.LayerNorm):
            for attr, value in (("weight", 1.0), ("bias", 0.0)):
                p = getattr(module, attr)
                if p is not None:
                    sites[id(p)] = ParameterSite(
                        names[id(p)], p, Role.VECTOR, 1, p.numel(), module, value, multiplier_at="none"
                    )
    missing = [n for n, p in model.named_parameters() if id(p) not in sites]
    if missing:
        raise TypeError(
            f"parameters {missing} have no role: build them from ScaledLinear, "
            "ScaledEmbedding or LayerNorm (workers/models/layers.py)"
        )
    order = {name: i for i, name in enumerate(names.values())}
    return sorted(sites.values(), key=lambda site: order[site.name])


def role_table(model: nn.Module) -> dict[str, Role]:
    """name -> role, computed once when a model is built and kept as `model.param_roles`."""
    return {site.name: site.role for site in parameter_sites(model)}
