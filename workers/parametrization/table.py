"""The parametrization table: (parametrization, role, optimizer family) -> init std, forward, LR, WD and ε
rules.

This module is the whole of the μP science in `workers/` (docs/parametrizations.md). Every rule is a plain
function of a `Scale` (the width multiplier m = width / base_width, the depth multiplier m_L = depth /
base_depth, the parameter's fans and the tuned base values), and every row names its source in one line.
Nothing here knows about a model: models assign roles, `resolve.py` evaluates rows, `optimizer.py` turns them
into parameter groups. Rows are looked up first-match, so a more specific row goes above a general one.

Conventions (one name each, used everywhere):
- `init` returns the absolute init std (0.0 means a constant init: norm gains 1, biases 0);
- `forward` returns the multiplier the layer applies to its output (embedding α_in, logits α_out/m, ...);
- `lr` returns the multiplier on the base learning rate η;
- `wd` returns the multiplier on the base weight decay in the `standard` mode (MuAdam/MuSGD keep lr·wd
  width-independent; SP keeps torch's plain semantics); the `independent` and `width_scaled` modes do not
  read it (see `optimizer.effective_weight_decay`);
- `eps` returns the multiplier on Adam's ε.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, replace

from workers.roles import Role

PARAMETRIZATIONS = ("sp", "mup", "sp-embedding-lr", "u-mup", "completep")
OPTIMIZERS = ("adamw", "sgd", "muon", "lamb", "adopt")

# Optimizer -> the family whose update shape decides the LR rule (docs/parametrizations.md, "Optimizers").
OPTIMIZER_FAMILY = {"adamw": "adam", "adopt": "adam", "sgd": "sgd", "muon": "muon", "lamb": "lamb"}
FAMILIES = ("adam", "sgd", "muon", "lamb")


@dataclass(frozen=True)
class Scale:
    """Everything a rule may read, for one parameter of one model."""

    m: float  # width / base_width
    m_depth: float  # depth / base_depth
    depth_alpha: float  # CompleteP α (1) or depth-μP α (½)
    sigma: float  # the tuned base init std σ
    alpha_in: float
    alpha_out: float
    width: int  # d_model
    fan_in: int
    fan_out: int


Fn = Callable[[Scale], float]


def one(s: Scale) -> float:
    return 1.0


@dataclass(frozen=True)
class Rule:
    parametrization: str
    roles: tuple[Role, ...]
    families: tuple[str, ...]
    init: Fn
    forward: Fn
    lr: Fn
    source: str
    wd: Fn = one
    eps: Fn = one


def zero(s: Scale) -> float:
    return 0.0


def sigma(s: Scale) -> float:
    return s.sigma


def sigma_over_sqrt_m(s: Scale) -> float:
    return s.sigma / math.sqrt(s.m)


def m(s: Scale) -> float:
    return s.m


def inv_m(s: Scale) -> float:
    return 1.0 / s.m


def sqrt_m(s: Scale) -> float:
    return math.sqrt(s.m)


def inv_sqrt_m(s: Scale) -> float:
    return 1.0 / math.sqrt(s.m)


def alpha_in(s: Scale) -> float:
    return s.alpha_in


def alpha_out(s: Scale) -> float:
    return s.alpha_out


def alpha_out_over_m(s: Scale) -> float:
    return s.alpha_out / s.m


def alpha_out_over_fan_in(s: Scale) -> float:
    return s.alpha_out / s.fan_in


def inv_fan_in(s: Scale) -> float:
    return 1.0 / s.fan_in


def inv_sqrt_fan_in(s: Scale) -> float:
    return 1.0 / math.sqrt(s.fan_in)


def inv_sqrt_width(s: Scale) -> float:
    return 1.0 / math.sqrt(s.width)


def muon_match_adamw_rms(s: Scale) -> float:
    return 0.2 * math.sqrt(max(s.fan_in, s.fan_out))


def muon_match_adamw_rms_at_base(s: Scale) -> float:
    return 0.2 * math.sqrt(max(s.fan_in, s.fan_out) / s.m)


ALL = FAMILIES
ADAM_LIKE = ("adam", "muon")  # Muon keeps every non-hidden parameter on AdamW
NOT_SGD = ("adam", "muon", "lamb")
INPUT, HIDDEN, OUTPUT, VECTOR = (Role.INPUT,), (Role.HIDDEN,), (Role.OUTPUT,), (Role.VECTOR,)
EXPERT, ROUTER = (Role.EXPERT,), (Role.ROUTER,)

# fmt: off
# Columns: parametrization, roles, optimizer families, init std, forward multiplier, LR multiplier,
# source[, wd].
_SP_ROWS = (
    # SP: GPT-2/nanoGPT init σ for every matrix, one LR for all (docs/parametrizations.md, row SP).
    Rule("sp", INPUT, ALL, sigma, alpha_in, one, "GPT-2 / nanoGPT: init σ, LR η"),
    Rule("sp", HIDDEN, ("muon",), sigma, one, muon_match_adamw_rms,
         "Moonlight (Liu et al. 2025): LR × 0.2·√max(fan_out, fan_in) matches AdamW's update RMS"),
    Rule("sp", HIDDEN, ALL, sigma, one, one, "GPT-2 / nanoGPT: init σ, LR η"),
    Rule("sp", OUTPUT, ALL, sigma, alpha_out, one, "GPT-2 / nanoGPT: init σ, LR η"),
    Rule("sp", VECTOR, ALL, zero, one, one, "GPT-2 / nanoGPT: gains 1, biases 0, LR η"),
    Rule("sp", EXPERT, ALL, sigma, one, one, "Switch / Mixtral: experts as SP hidden matrices, init σ, LR η"),
    Rule("sp", ROUTER, ALL, sigma, one, one, "Switch / Mixtral: router init σ, forward 1, LR η"),
)

_SP_EMBEDDING_LR_ROWS = (
    Rule("sp-embedding-lr", INPUT, ALL, sigma, alpha_in, m,
         "Kalra & Barkeshli 2026: SP with the embedding LR × m"),
    *(replace(row, parametrization="sp-embedding-lr") for row in _SP_ROWS if row.roles != INPUT),
)

_MUP_ROWS = (
    # μP in the TP5 (Yang et al. 2022) Table 8 form, as microsoft/mup implements it.
    Rule("mup", INPUT, NOT_SGD, sigma, alpha_in, one, "TP5 Table 8 / MuAdam: input init σ, LR η"),
    Rule("mup", INPUT, ("sgd",), sigma, alpha_in, m, "TP5 Table 8 / MuSGD: input LR η·m", wd=inv_m),
    Rule("mup", HIDDEN, ("adam",), sigma_over_sqrt_m, one, inv_m,
         "TP5 Table 8 / MuAdam: init σ/√m, LR η/m, wd × m", wd=m),
    Rule("mup", HIDDEN, ("sgd",), sigma_over_sqrt_m, one, one, "TP5 Table 8 / MuSGD: init σ/√m, LR η"),
    Rule("mup", HIDDEN, ("muon",), sigma_over_sqrt_m, one, muon_match_adamw_rms_at_base,
         "spectral condition (Yang, Simon & Bernstein 2023): LR constant in m; Moonlight's factor at base"),
    Rule("mup", HIDDEN, ("lamb",), sigma_over_sqrt_m, one, inv_sqrt_m,
         "docs/parametrizations.md, spectral condition on LAMB's ‖ΔW‖ = η‖W‖: LR η/√m", wd=sqrt_m),
    Rule("mup", OUTPUT, NOT_SGD, sigma, alpha_out_over_m, one,
         "TP5 Table 8 / MuReadout: forward α_out/m, init σ, LR η"),
    Rule("mup", OUTPUT, ("sgd",), sigma, alpha_out_over_m, m,
         "TP5 Table 8 / MuSGD: forward α_out/m, LR η·m", wd=inv_m),
    Rule("mup", VECTOR, NOT_SGD, zero, one, one, "TP5 Table 8 / MuAdam: vector LR η"),
    Rule("mup", VECTOR, ("sgd",), zero, one, m, "TP5 Table 8 / MuSGD: vector LR η·m", wd=inv_m),
    # MoE (docs/parametrizations.md, "Mixture of experts"). For EXPERT rows `Scale.m` is the multiplier of the
    # parameter's own fan-in (resolve.py): d_model for the up projection, the active width (Complete-muE) for
    # the down projection.
    Rule("mup", EXPERT, ("adam", "muon"), sigma_over_sqrt_m, one, inv_m,
         "μP for MoE (2025): experts are hidden matrices of width d_expert: init σ/√m, LR η/m (Muon: AdamW)",
         wd=m),
    Rule("mup", EXPERT, ("sgd",), sigma_over_sqrt_m, one, one,
         "μP for MoE (2025) + TP5 MuSGD: init σ/√m, LR η"),
    Rule("mup", EXPERT, ("lamb",), sigma_over_sqrt_m, one, inv_sqrt_m,
         "μP for MoE (2025) + the LAMB rule (docs/parametrizations.md): init σ/√m, LR η/√m", wd=sqrt_m),
    Rule("mup", ROUTER, NOT_SGD, sigma, inv_m, one,
         "μP for MoE (2025): the router is output-like (fan_out = n_experts): forward × 1/m, init σ, LR η"),
    Rule("mup", ROUTER, ("sgd",), sigma, inv_m, m,
         "μP for MoE (2025) + TP5 MuSGD: router forward × 1/m, LR η·m", wd=inv_m),
)

_U_MUP_ROWS = (
    # u-μP (Blake et al. 2024, Table 2; graphcore unit-scaling): unit init, scale moved into the forward
    # multipliers. Defined for Adam-type optimizers only.
    Rule("u-mup", INPUT, ("adam",), one, alpha_in, inv_sqrt_width, "u-μP Table 2: unit init, LR η/√d_model"),
    Rule("u-mup", HIDDEN, ("adam",), one, inv_sqrt_fan_in, inv_sqrt_fan_in,
         "u-μP Table 2: unit init, forward and LR × fan_in^-½"),
    Rule("u-mup", OUTPUT, ("adam",), one, alpha_out_over_fan_in, one,
         "u-μP Table 2: unit init, forward α_out/fan_in, LR η"),
    Rule("u-mup", VECTOR, ("adam",), zero, one, one, "u-μP Table 2: vector LR η"),
    Rule("u-mup", EXPERT, ("adam",), one, inv_sqrt_fan_in, inv_sqrt_fan_in,
         "u-μP Table 2 (hidden) applied per expert: unit init, forward and LR × fan_in^-½"),
    Rule("u-mup", ROUTER, ("adam",), one, inv_fan_in, one,
         "u-μP Table 2 (output-like, α_out = 1): unit init, forward 1/fan_in, LR η"),
)
# fmt: on


def _depth_lr(s: Scale) -> float:
    return s.m_depth ** (s.depth_alpha - 1.0)


def _completep(row: Rule) -> Rule:
    """CompleteP / depth-μP (Dey et al. 2025 Table 1; TP-VI): μP, with hidden and vector LR × m_L^(α−1)
    (weight decay compensated as MuAdam does for width) and the hidden Adam ε × m^-1·m_L^-α."""
    if row.roles[0] not in (Role.HIDDEN, Role.EXPERT, Role.VECTOR):
        return replace(row, parametrization="completep")
    lr, wd = row.lr, row.wd
    matrix = row.roles[0] in (Role.HIDDEN, Role.EXPERT)
    eps: Fn = (lambda s: 1.0 / (s.m * s.m_depth**s.depth_alpha)) if matrix else one
    return replace(
        row,
        parametrization="completep",
        lr=lambda s: lr(s) * _depth_lr(s),
        wd=lambda s: wd(s) / _depth_lr(s),
        eps=eps,
        source=f"CompleteP (Dey et al. 2025): LR × m_L^(α−1), ε × m^-1·m_L^-α; {row.source}",
    )


# Parameters with no width dimension (roles.py, FINITE): every parametrization leaves them as SP does, their
# own init, forward 1, LR η under every optimizer (microsoft/mup: a parameter whose infshape has no infinite
# dimension is not rescaled by MuAdam or MuSGD).
_FINITE_ROWS = tuple(
    # u-μP is defined for Adam-type optimizers only
    Rule(p, (Role.FINITE,), ("adam",) if p == "u-mup" else ALL, zero, one, one,
         "microsoft/mup: no width dimension, nothing rescaled")
    for p in PARAMETRIZATIONS
)  # fmt: skip

RULES: tuple[Rule, ...] = (
    *_FINITE_ROWS,
    *_SP_ROWS,
    *_SP_EMBEDDING_LR_ROWS,
    *_MUP_ROWS,
    *(_completep(row) for row in _MUP_ROWS),
    *_U_MUP_ROWS,
)


def optimizer_family(optimizer: str) -> str:
    if optimizer not in OPTIMIZER_FAMILY:
        raise ValueError(f"unknown optimizer {optimizer!r}; choose one of {list(OPTIMIZER_FAMILY)}")
    return OPTIMIZER_FAMILY[optimizer]


def lookup(parametrization: str, role: Role, optimizer: str) -> Rule:
    """The first row for (parametrization, role, optimizer family); a clear error when the table has none."""
    if parametrization not in PARAMETRIZATIONS:
        raise ValueError(
            f"unknown parametrization {parametrization!r}; choose one of {list(PARAMETRIZATIONS)}"
        )
    family = optimizer_family(optimizer)
    for row in RULES:
        if row.parametrization == parametrization and role in row.roles and family in row.families:
            return row
    families = {f for r in RULES if r.parametrization == parametrization for f in r.families}
    supported = sorted(o for o, f in OPTIMIZER_FAMILY.items() if f in families)
    raise ValueError(
        f"parametrization {parametrization!r} has no rule for role {role.value!r} "
        f"under optimizer {optimizer!r}; "
        f"it is defined for optimizers {supported}"
    )


# Model-level multipliers: one float each, computed once and read by the model's forward.


def attention_scale(parametrization: str, head_dim: int, base_head_dim: int, alpha_attn: float) -> float:
    """Softmax temperature of q·k. μP: 1/d_head (TP5 §4), written α·√d_base/d_head (microsoft/mup README)
    so that it equals SP's 1/√d_head at the base head size; u-μP uses α/d_head (Blake et al. 2024)."""
    if parametrization in ("mup", "completep"):
        return alpha_attn * math.sqrt(base_head_dim) / head_dim
    if parametrization == "u-mup":
        return alpha_attn / head_dim
    return alpha_attn / math.sqrt(head_dim)


def residual_multiplier(parametrization: str, m_depth: float, depth_alpha: float) -> float:
    """Each residual branch × (L/L_base)^-α under CompleteP / depth-μP (Dey et al. 2025; TP-VI); else 1."""
    return m_depth**-depth_alpha if parametrization == "completep" else 1.0
