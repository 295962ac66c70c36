"""What one realized target run adds to the loss law's band: its own run-to-run noise, and the loss an HP
set off its optimum costs (docs/planner.md, "Loss interval: one realized target run").

The loss law predicts the expected best loss at the target's size. The target is one run, with one seed, at
the transferred HPs, so the interval it is judged against must also hold:

* **run noise**: the spread of final loss across seeds at one configuration. With ≥ 2 proxy seeds it is
  measured: the pooled standard deviation over the configurations nearest each width's optimum (the better
  half by mean loss: near-divergent learning rates are noisier and not where the target trains). With one seed
  it cannot be measured, because all learning rates of a width share one init draw and one batch order: the
  scatter around the LR parabola shows only the part of the noise that differs between LRs. The stated model
  takes the shared part to be as large as that visible part, so σ = √2 × the scatter.
  With ≥ 2 seeds the model's ratio is measured as well (`shared_to_visible`): each seed's own LR curve near
  the optimum is fitted by a parabola, whose scatter is the visible part; the seeds' spread at a fixed
  configuration is the whole; the shared part is their difference. Plans of single-seed studies still use the
  assumed 1, and say so; a multi-seed study tells a team what its single-seed studies would leave out.
* **HP miss**: the target trains at the transferred value, not at its (unknown) optimum; the upper bound adds
  the loss of an HP at the far end of its interval, read off the widest proxy's fitted loss curve.

Both enter in quadrature with the law's own half-widths: exact for independent Gaussian parts, an
approximation for the skewed ones.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np
from scipy import stats

from orchestrator.planner.axis import HPAxis
from orchestrator.planner.numeric import finite, json_safe
from orchestrator.planner.optimum import OptimumFit
from orchestrator.planner.profile import profile
from orchestrator.planner.types import Interval, TrialResult

SHARED_TO_VISIBLE = 1.0  # the model's ratio of the unseen (init, batch order) variance to the visible scatter
MODEL_TEXT = (
    "one seed per configuration: σ = √2 × the scatter of each width's losses around its fitted LR curve "
    "(that scatter shows only the noise that differs between LRs; the part all LRs of a width share, its "
    "init draw and batch order, is assumed as large); list ≥ 2 proxy.seeds to measure it"
)
SEEDS_TEXT = (
    "measured: the pooled standard deviation of the final loss across proxy seeds, over the better half of "
    "each width's configurations"
)


@dataclass(frozen=True)
class RunNoise:
    """One run's loss noise, and where it came from: "proxy_seeds" (measured), "model" or "unknown"."""

    source: str
    sigma: float | None
    dof: int | None  # degrees of freedom of a measured σ (its quantile is Student's t), None for the model
    method: str
    per_width: dict[int, float] = field(default_factory=dict)
    # measured (shared variance)/(visible variance) where ≥ 2 seeds allow it, else None (the model assumes 1)
    shared_to_visible: float | None = None

    def quantile(self, level: float) -> float:
        """The two-sided `level` multiplier of σ: t for a measured σ with few degrees of freedom, else z."""
        tail = 1.0 - (1.0 - level) / 2.0
        if self.dof:
            return float(stats.t.ppf(tail, self.dof))
        return float(stats.norm.ppf(tail))

    def at(self, width: int) -> float | None:
        """σ at one proxy width (its own estimate where it has one, else the pooled one)."""
        return self.per_width.get(width, self.sigma)

    def to_dict(self) -> dict[str, Any]:
        return json_safe(
            {
                "source": self.source,
                "sigma": self.sigma,
                "dof": self.dof,
                "method": self.method,
                "per_width": {str(w): s for w, s in self.per_width.items()},
                "shared_to_visible": self.shared_to_visible,
                "shared_to_visible_assumed": SHARED_TO_VISIBLE,
            }
        )


def estimate_run_noise(
    per_width: dict[int, list[TrialResult]],
    fits: dict[str, list[OptimumFit]],
    axis: HPAxis | None = None,
    others: list[HPAxis] | None = None,
) -> RunNoise:
    """σ of one run's final loss: from the proxy seeds when any configuration has ≥ 2, else the model."""
    measured = _pooled_seed_noise(per_width)
    if measured is not None:
        visible = _visible_scatter(per_width, axis, others or []) if axis is not None else None
        if visible and measured.sigma is not None:
            ratio = max(0.0, measured.sigma**2 - visible**2) / visible**2
            return replace(measured, shared_to_visible=finite(ratio))
        return measured
    per: dict[int, float] = {}
    for width in per_width:
        visible = [
            f.residual_std
            for curve in fits.values()
            for f in curve
            if f.scale == width and f.residual_std is not None and math.isfinite(f.residual_std)
        ]
        if visible:
            per[width] = math.sqrt(1.0 + SHARED_TO_VISIBLE) * max(visible)
    if not per:
        return RunNoise(
            "unknown", None, None, "no seeds to compare and no fitted LR curve to read a scatter off"
        )
    pooled = math.sqrt(float(np.mean(np.square(list(per.values())))))
    return RunNoise("model", finite(pooled), None, MODEL_TEXT, per)


def _pooled_seed_noise(per_width: dict[int, list[TrialResult]]) -> RunNoise | None:
    """Σ(n−1)s² / Σ(n−1) over the configurations with ≥ 2 finite seeds, nearest each width's optimum."""
    total_ss, total_dof = 0.0, 0
    per: dict[int, float] = {}
    for width, trials in per_width.items():
        groups: dict[tuple[tuple[str, float], ...], list[float]] = {}
        for t in trials:
            if t.is_diverged or t.status != "completed" or t.final_loss is None:
                continue
            groups.setdefault(tuple(sorted(t.hparams.items())), []).append(float(t.final_loss))
        ranked = sorted(groups.values(), key=lambda v: float(np.mean(v)))
        near = ranked[: max(1, math.ceil(len(ranked) / 2))]
        ss = sum(float(np.sum((np.asarray(v) - np.mean(v)) ** 2)) for v in near if len(v) > 1)
        dof = sum(len(v) - 1 for v in near if len(v) > 1)
        if dof:
            per[width] = math.sqrt(ss / dof)
            total_ss, total_dof = total_ss + ss, total_dof + dof
    if not total_dof:
        return None
    return RunNoise("proxy_seeds", finite(math.sqrt(total_ss / total_dof)), total_dof, SEEDS_TEXT, per)


def _visible_scatter(
    per_width: dict[int, list[TrialResult]], axis: HPAxis, others: list[HPAxis]
) -> float | None:
    """The pooled scatter of each seed's own loss curve along `axis` (the slice through its best configuration
    of the other HPs) about a parabola over its better half: the part of the noise that differs between LRs
    (≥ 5 finite points per curve; None when no curve has them)."""
    ss, dof = 0.0, 0
    for trials in per_width.values():
        for seed in sorted({t.seed for t in trials}):
            mine = [t for t in trials if t.seed == seed]
            prof = profile(mine, axis, others)
            ok = ~prof.diverged & np.isfinite(prof.losses)
            values = np.asarray(prof.values, float)[ok]
            losses = np.asarray(prof.losses, float)[ok]
            if values.size < 5:
                continue
            u = np.asarray(axis.to_u(values), float)
            near = np.argsort(losses)[: max(5, values.size // 2)]
            coef = np.polyfit(u[near], losses[near], 2)
            ss += float(np.sum((losses[near] - np.polyval(coef, u[near])) ** 2))
            dof += near.size - 3
    return math.sqrt(ss / dof) if dof > 0 else None


def hp_miss_penalty(fits: OptimumFit | None, value_u: float | None, interval_u: Interval) -> float:
    """The loss of an HP at the far end of its target interval, on the widest proxy's loss curve (a·d²)."""
    if fits is None or fits.coefficients is None or value_u is None:
        return 0.0
    a = fits.coefficients[0]
    ends = [abs(b - value_u) for b in (interval_u.low, interval_u.high) if b is not None]
    return float(a * max(ends) ** 2) if ends and a > 0 else 0.0


def realized_interval(law: Interval, noise: RunNoise, hp_miss: float) -> Interval:
    """The interval of one run's final loss: the law's half-widths, z·σ and (above) the HP miss in quadrature.

    An unknown law bound stays unknown; an unknown σ adds nothing (the plan says so)."""
    if law.value is None:
        return law
    spread = noise.quantile(law.level) * noise.sigma if noise.sigma is not None else 0.0
    low = None if law.low is None else law.value - math.hypot(law.value - law.low, spread)
    high = (
        None
        if law.high is None
        else law.value + math.sqrt((law.high - law.value) ** 2 + spread**2 + hp_miss**2)
    )
    return Interval(law.value, finite(low), finite(high), law.level)
