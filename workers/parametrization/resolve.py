"""Evaluate the table for one model: per-parameter rows, the model's float multipliers, and the init.

`resolve_params` is the one place where a (model, TrialConfig) pair becomes numbers; `apply_parametrization`
(init + multipliers, called by `build_model`), `build_optimizer` (param groups) and `resolve_table` (the CLI
and the planner) all read it, so what is printed is what is trained.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any

import torch
from torch import nn

from workers.config import TrialConfig
from workers.models import attention_shape
from workers.models.gpt import Block, CausalSelfAttention
from workers.models.layers import SCALED, ParameterSite, parameter_sites
from workers.parametrization.fold import fold
from workers.parametrization.table import (
    Rule,
    Scale,
    attention_scale,
    lookup,
    optimizer_family,
    residual_multiplier,
)
from workers.roles import Role

WEIGHT_DECAY_MODES = ("standard", "independent", "width_scaled")


@dataclass(frozen=True)
class ParamRow:
    """One parameter of the resolved table (the `parametrization --json` fields, exactly)."""

    name: str
    shape: list[int]
    role: str
    init_std: float
    forward_multiplier: float
    lr: float
    weight_decay: float
    # how forward_multiplier is applied: "layer" (the layer multiplies its output), "folded" (already in
    # init_std and lr: an external model), "hook" (a forward hook: an external model's tied weight), "none"
    applied_as: str = "layer"
    role_source: str = "declared by the model"

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class ResolvedParam:
    row: ParamRow
    site: ParameterSite
    rule: Rule
    eps: float  # absolute Adam ε for this parameter
    folded_multiplier: float = 1.0  # c when a forward multiplier c is folded into this parameter


def validate(config: TrialConfig) -> None:
    """Reject configs no rule can be evaluated on, saying which field to fix."""
    positive_ints = {
        "width": config.width,
        "base_width": config.base_width,
        "depth": config.depth,
        "base_depth": config.base_depth,
    }
    for name, value in positive_ints.items():
        if not isinstance(value, int) or value < 1:
            raise ValueError(f"{name} must be a positive integer, got {value!r}")
    positive = {"lr": config.lr, "depth_alpha": config.depth_alpha, "eps": config.eps}
    for name, value in positive.items():
        if not (math.isfinite(value) and value > 0):
            raise ValueError(f"{name} must be a finite number > 0, got {value!r}")
    finite = {
        "init_std": config.base_init_std(),
        "alpha_in": config.alpha_in,
        "alpha_out": config.alpha_out,
        "alpha_attn": config.alpha_attn,
        "weight_decay": config.weight_decay,
    }
    for name, value in finite.items():
        if not math.isfinite(value):
            raise ValueError(f"{name} must be finite, got {value!r}")
    if config.base_init_std() < 0 or config.weight_decay < 0:
        raise ValueError("init_std and weight_decay must be >= 0")
    if config.readout_zero_init and config.tied_embeddings:
        raise ValueError("readout_zero_init needs tied_embeddings=False: a tied readout is the embedding")
    if config.weight_decay_mode not in WEIGHT_DECAY_MODES:
        raise ValueError(f"weight_decay_mode {config.weight_decay_mode!r}: choose {list(WEIGHT_DECAY_MODES)}")


def _scale(config: TrialConfig, site_module: nn.Module, fan_in: int, fan_out: int) -> Scale:
    """The rule's inputs. `m` is width/base_width, except for a layer that declares the fan-in of its base
    shape (`base_fan_in`, MoE experts): then m = fan_in / base_fan_in (microsoft/mup's base shapes)."""
    base_fan_in = getattr(site_module, "base_fan_in", None)
    return Scale(
        m=config.width / config.base_width if base_fan_in is None else fan_in / base_fan_in,
        m_depth=config.depth / config.base_depth,
        depth_alpha=config.depth_alpha,
        sigma=config.base_init_std(),
        alpha_in=config.alpha_in,
        alpha_out=config.alpha_out,
        width=config.width,
        fan_in=fan_in,
        fan_out=fan_out,
    )


def effective_weight_decay(config: TrialConfig, role: Role, lr: float, rule_wd: float) -> float:
    """The weight_decay value handed to the optimizer (torch decays p by lr·weight_decay per step).

    - vectors (norm gains, biases) and parameters with no width dimension are never decayed (nanoGPT's
      split: only matrices are);
    - standard: torch AdamW semantics with the table's multiplier: SP leaves wd alone, μP multiplies hidden
      wd by m (MuAdam, Adam family) or divides vector-like wd by m (MuSGD), so lr·wd keeps its base value;
    - independent: wd / lr, so the per-step decay lr·wd = wd whatever the LR (Loshchilov & Hutter's
      decoupling; u-μP, Blake et al. 2024);
    - width_scaled: independent and ∝ 1/m, per-step decay wd/m (Qiu et al. 2025).
    """
    if role in (Role.VECTOR, Role.FINITE) or config.weight_decay == 0:
        return 0.0
    if config.weight_decay_mode == "standard":
        return config.weight_decay * rule_wd
    if config.weight_decay_mode == "independent":
        return config.weight_decay / lr
    return config.weight_decay / (lr * config.width / config.base_width)


def _zeroed(config: TrialConfig, site: ParameterSite) -> bool:
    """Whether a μP zero-init option (readout_zero_init, query_zero_init) applies to this parameter."""
    return bool(site.zero_init) and bool(getattr(config, site.zero_init))


def resolve_params(model: nn.Module, config: TrialConfig) -> list[ResolvedParam]:
    """Every parameter of `model` with its resolved init std, forward multiplier, LR, weight decay and ε."""
    validate(config)
    family = optimizer_family(config.optimizer)
    resolved = []
    for site in parameter_sites(model):
        rule = lookup(config.parametrization, site.role, config.optimizer)
        scale = _scale(config, site.module, site.fan_in, site.fan_out)
        forward = rule.forward(scale)
        applied = site.multiplier_at if forward != 1.0 else "none"
        lr = config.lr * rule.lr(scale)
        init_std = 0.0 if site.constant_init is not None or _zeroed(config, site) else rule.init(scale)
        eps = config.eps * rule.eps(scale)
        weight_decay = effective_weight_decay(config, site.role, lr, rule.wd(scale))
        if applied == "folded":
            folded = fold(forward, family, init_std, lr, eps, weight_decay)
            init_std, lr, eps, weight_decay = folded.init_std, folded.lr, folded.eps, folded.weight_decay
        row = ParamRow(
            name=site.name,
            shape=list(site.param.shape),
            role=site.role.value,
            init_std=init_std,
            forward_multiplier=forward if applied != "none" else 1.0,
            lr=lr,
            weight_decay=weight_decay,
            applied_as=applied,
            role_source=site.role_source,
        )
        resolved.append(ResolvedParam(row, site, rule, eps, forward if applied == "folded" else 1.0))
    return resolved


def _set_multipliers(model: nn.Module, config: TrialConfig) -> None:
    """The model's plain-float multipliers: one per scaled layer, the attention scale, the residual scale (an
    external model: one per forward hook)."""
    hook_sites = getattr(model, "hook_sites", None)
    if callable(hook_sites):
        for name, role, fan_in, fan_out in hook_sites():
            rule = lookup(config.parametrization, role, config.optimizer)
            model.hook_multipliers[name] = rule.forward(_scale(config, model, fan_in, fan_out))
        return
    _, head_dim, base_head_dim = attention_shape(config)
    for module in model.modules():
        if isinstance(module, SCALED):
            fan_in, fan_out = module.fans()
            rule = lookup(config.parametrization, module.role, config.optimizer)
            module.multiplier = rule.forward(_scale(config, module, fan_in, fan_out))
        elif isinstance(module, CausalSelfAttention):
            module.scale = attention_scale(config.parametrization, head_dim, base_head_dim, config.alpha_attn)
        elif isinstance(module, Block):
            module.residual_multiplier = residual_multiplier(
                config.parametrization, config.depth / config.base_depth, config.depth_alpha
            )


@torch.no_grad()
def apply_parametrization(model: nn.Module, config: TrialConfig) -> nn.Module:
    """Initialize every parameter from its row (seeded by config.seed) and set the model's multipliers."""
    _set_multipliers(model, config)
    generator = torch.Generator().manual_seed(config.seed)
    for item in resolve_params(model, config):
        param, std = item.site.param, item.row.init_std
        if item.site.keep_init:
            continue
        if item.site.constant_init is not None:
            param.fill_(item.site.constant_init)
        elif std == 0.0:
            param.zero_()
        else:
            param.copy_(torch.randn(param.shape, generator=generator, dtype=param.dtype) * std)
    return model
