"""Transfer along the training budget: the token horizon and the batch size (docs/planner.md, "Horizon and
batch size").

μP's promise is about width (and CompleteP's about depth); no parametrization promises an optimum that stays
put as the run trains on more tokens or with a larger batch, and the literature measures the opposite: the
optimal LR falls as the token horizon grows (Bjorck et al. 2025, "Scaling optimal LR across token
horizons"), and the optimal LR and batch size follow power laws in the data (DeepSeek LLM 2024; Li et al.
2025, "Step Law"). So each swept HP's optimum is fitted against the proxies' token budgets,
u*(D) = u₀ + γ_D·log2 D, with the width law's machinery (transfer.py) and no promise averaged in, at the
widest proxy width that ran ≥ 2 budgets; the batch-size law likewise over the batch sizes, each at the base
budget. The target's HPs move by γ·log2(target / base) along each axis (plan.py adds the moves).

Weight decay moves by AdamW's timescale instead of a fitted law: τ = B/(η·λ·D), B the batch in tokens, is
the EMA timescale of the weights, 1/(η·λ) steps, as a fraction of the run's D/B steps (Wang & Aitchison
2024). Power Lines (Bergsma et al. 2025) measure that the optimal τ is not a constant but a power law in
tokens per parameter, τ* ∝ (D/N)^c; keeping the proxies' τ* is exact only where the target's tokens per
parameter equal the proxies'. So the target keeps the proxies' τ* (λ_target = B_t/(η_t·τ*·D_t)) and the plan
says this rule was never tested on a held-out budget (verdict.py). With decay independent of the LR
(`weight_decay_mode: independent`, p ← p − λ·p) the timescale is B/(λ·D).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np

from orchestrator.planner.axis import HPAxis
from orchestrator.planner.numeric import json_safe
from orchestrator.planner.optimum import OptimumFit, fit_optimum
from orchestrator.planner.profile import profile
from orchestrator.planner.surface import SurfaceFit, fit_surface
from orchestrator.planner.transfer import ScaleLaw, fit_scale_law
from orchestrator.planner.types import PlanWarning, TrialResult

HORIZON = "horizon"  # the scale is tokens per run
BATCH = "batch size"


def fit_cells(
    axes: list[HPAxis], cells: list[tuple[list[TrialResult], float, int]], level: float
) -> dict[str, list[OptimumFit]]:
    """Each swept HP's optimum at each cell (its trials, its scale, a bootstrap seed): the cells one law is
    fitted across (the proxy widths, depths or budgets).

    With one swept HP: the parabola along its values (optimum.py). With ≥ 2: the joint optimum of the
    quadratic loss surface over all of them (surface.py), because the slice through the best grid point of
    the others misses a tilted valley (a larger batch wanting a larger LR) by up to half a grid step per
    HP; the slice's parabola is kept for what reads the curve's shape (the HP-miss penalty, the robustness
    exponent). The surface is used at every cell or at none: two methods mixed along one law would read
    their difference as a drift of the optimum. Where it is refused at any cell (too few configurations, no
    determined minimum, an optimum off the range) the slices' optima stand at every cell, and each says why
    (`surface_refused`)."""
    slices = {
        a.name: [_slice(a, axes, trials, scale, level, seed) for trials, scale, seed in cells] for a in axes
    }
    if len(axes) < 2:
        return slices
    surfaces = [fit_surface(axes, trials, level=level, seed=seed) for trials, _, seed in cells]
    refused = [
        (scale, s.reason) for (_, scale, _), s in zip(cells, surfaces, strict=True) if s.method == "refused"
    ]
    if refused:
        why = "; ".join(f"at scale {scale:g}: {reason}" for scale, reason in refused)
        for a in axes:  # said once per HP, on its first cell's fit
            slices[a.name][0].warnings.append(
                PlanWarning(
                    "surface_refused",
                    f"{a.name}: no joint optimum over {[x.name for x in axes]} ({why}); the optima along the "
                    "slice through each cell's best configuration are used at every scale",
                    hparam=a.name,
                )
            )
        return slices
    return {
        a.name: [
            _joint(fit, surface, a, axes, scale)
            for fit, surface, (_, scale, _) in zip(slices[a.name], surfaces, cells, strict=True)
        ]
        for a in axes
    }


def fit_at(
    axis: HPAxis, axes: list[HPAxis], trials: list[TrialResult], scale: float, level: float, seed: int
) -> OptimumFit:
    """The optimum of `axis` among `trials` (one cell), as `fit_cells` fits a cell."""
    return fit_cells(axes, [(trials, scale, seed)], level)[axis.name][0]


def _slice(
    axis: HPAxis, axes: list[HPAxis], trials: list[TrialResult], scale: float, level: float, seed: int
) -> OptimumFit:
    """The parabola along `axis` through the best configuration of the other HPs (profile.py)."""
    prof = profile(trials, axis, [a for a in axes if a.name != axis.name])
    return fit_optimum(axis, prof.values, prof.losses, prof.diverged, scale=scale, level=level, seed=seed)


def _joint(
    fit: OptimumFit, surface: SurfaceFit, axis: HPAxis, axes: list[HPAxis], scale: float
) -> OptimumFit:
    """`fit` with its optimum, interval and draws replaced by the joint surface's for `axis`."""
    index = [a.name for a in axes].index(axis.name)
    value = surface.optimum[axis.name]
    bounds = axis.to_u(np.array([np.nan if v is None else v for v in (value.low, value.high)], dtype=float))
    located = {"edge_of_range", "off_centre", "clipped", "no_curvature", "too_few_points"}
    mine = [w for w in surface.warnings if w.hparam in (None, axis.name)]
    return replace(
        fit,
        optimum=value,
        u=surface.u[axis.name],
        u_low=float(bounds[0]) if math.isfinite(bounds[0]) else None,
        u_high=float(bounds[1]) if math.isfinite(bounds[1]) else None,
        method="quadratic_surface",
        draws=surface.draws[:, index] if surface.draws.size else np.empty(0),
        warnings=[w for w in fit.warnings if w.code not in located]
        + [replace(w, hparam=w.hparam or axis.name, scale=scale) for w in mine],
    )


@dataclass
class BudgetLaw:
    """One budget axis's laws (one per swept HP), the proxy width they were fitted at, and its optima."""

    scale_name: str  # HORIZON | BATCH
    width: int
    base: float  # the width sweep's tokens per run or batch size
    target: float
    laws: dict[str, ScaleLaw]
    optima: dict[str, list[OptimumFit]] = field(default_factory=dict)
    widths: list[int] = field(default_factory=list)  # every width the law pools (`width` is the widest)
    groups: list[float] = field(default_factory=list)  # the width of each optimum in `optima`

    def series(self, hparam: str) -> list[OptimumFit]:
        """The optima of `hparam` at the widest width with ≥ 3 budgets (the held-out check's series), or at
        the width with the most budgets when none has 3."""
        fits = self.optima.get(hparam, [])
        by_width: dict[float, list[OptimumFit]] = {}
        for fit, width in zip(fits, self.groups, strict=True):
            by_width.setdefault(width, []).append(fit)
        if not by_width:
            return []
        return max(by_width.items(), key=lambda kv: (min(len(kv[1]), 3), kv[0]))[1]

    @property
    def shift(self) -> float:
        """Octaves from the base budget to the target's along this axis."""
        return math.log2(self.target / self.base)

    def to_dict(self) -> dict[str, Any]:
        return json_safe(
            {
                "scale_name": self.scale_name,
                "fit_width": self.width,
                "fit_widths": self.widths,
                "base": self.base,
                "target": self.target,
                "laws": {k: v.to_dict() for k, v in self.laws.items()},
            }
        )


def fit_budget_law(
    scale_name: str,
    trials: list[TrialResult],
    axes: list[HPAxis],
    *,
    base: float,
    target: float,
    level: float,
    seed: int,
) -> BudgetLaw | None:
    """The law of every swept HP along one budget axis, pooled over every width that ran ≥ 2 budgets of it.

    `trials` are one parametrization's trials at the fit depth: the width sweep's (their budget is `base`)
    and the scan's. A trial of the other scan (batch when fitting the horizon) is left out, so each law varies
    one axis with the other at its base. Each width keeps its own intercept and all share the drift along the
    budget (transfer.py, `groups`): log η* = a(N) + β·log D, the separable form DeepSeek LLM and Step Law fit.
    With the width sweep at one budget D₀, moving by β·log2(D_t/D₀) from the width law's value at the
    target's size is the same move in tokens or in tokens per parameter (log(D/N) − log(D₀/N) = log(D/D₀)),
    so the raw budget is the axis. None when no width ran ≥ 2 budgets of this axis."""
    on_axis = [(t, _budget(t, scale_name, base)) for t in trials if _other_is_base(t, scale_name)]
    widths = []
    for width in sorted({t.width for t, _ in on_axis}):
        if len({b for t, b in on_axis if t.width == width and t.is_usable}) >= 2:
            widths.append(width)
    if not widths:
        return None
    cells = []
    groups: list[float] = []
    for width in widths:
        mine = [(t, b) for t, b in on_axis if t.width == width and t.is_usable]
        for i, budget in enumerate(sorted({b for _, b in mine})):
            cells.append(([t for t, b in mine if b == budget], budget, seed + 7 * i + 1009 * len(groups)))
            groups.append(float(width))
    optima = fit_cells(axes, cells, level)
    laws = {
        a.name: fit_scale_law(
            a,
            optima[a.name],
            target,
            scale_name=scale_name,
            level=level,
            seed=seed,
            invariant=False,
            base_scale=base,
            groups=groups,
        )
        for a in axes
    }
    budgets = sorted({b for _, b, _ in cells})
    for law in laws.values():
        law.warnings = [_two_budgets(w, scale_name, budgets) for w in law.warnings]
    return BudgetLaw(scale_name, widths[-1], base, target, laws, optima, widths, groups)


def _two_budgets(warning: PlanWarning, scale_name: str, budgets: list[float]) -> PlanWarning:
    """The width law's `two_scales` warning, said of a budget axis (its own code: its caveat differs)."""
    if warning.code != "two_scales":
        return warning
    key = "token_budgets" if scale_name == HORIZON else "batch_sizes"
    return PlanWarning(
        f"two_{'horizons' if scale_name == HORIZON else 'batch_sizes'}",
        f"{warning.hparam}: only 2 {scale_name}s ({budgets[0]:,.0f} and {budgets[1]:,.0f}), so the law "
        f"passes through both optima exactly and its form cannot be checked; list a third in proxy.{key}",
        hparam=warning.hparam,
    )


def _budget(trial: TrialResult, scale_name: str, base: float) -> float:
    value = trial.tokens if scale_name == HORIZON else trial.batch_size
    return float(value) if value is not None else base


def _other_is_base(trial: TrialResult, scale_name: str) -> bool:
    return (trial.batch_size if scale_name == HORIZON else trial.tokens) is None


@dataclass(frozen=True)
class Timescale:
    """AdamW's τ = B/(η·λ·D) (B/(λ·D) with LR-independent decay), B the batch in tokens, at the proxies'
    optimum and at the target, in units of the run: the fraction of the run the weights' moving average
    spans."""

    mode: str  # the spec's weight_decay_mode
    proxy: dict[str, float]  # batch_size (sequences), batch_tokens, lr, weight_decay, tokens, tau
    target: dict[str, float]

    def to_dict(self) -> dict[str, Any]:
        return json_safe({"mode": self.mode, "proxy": self.proxy, "target": self.target})


def timescale(
    mode: str, *, batch_tokens: float, lr: float, weight_decay: float, tokens: float, **_: float
) -> float | None:
    """τ in runs (the batch in tokens, like D); None when the decay is off (an infinite timescale)."""
    rate = weight_decay * (1.0 if mode == "independent" else lr)
    if rate <= 0 or tokens <= 0:
        return None
    return batch_tokens / (rate * tokens)


def keep_timescale(mode: str, proxy: dict[str, float], target: dict[str, float]) -> float | None:
    """λ_target that gives the target the proxies' τ (module docstring); `target` holds its B, η and D."""
    tau = timescale(mode, **proxy)
    if tau is None:
        return None
    lr = 1.0 if mode == "independent" else target["lr"]
    return target["batch_tokens"] / (lr * tau * target["tokens"])
