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
* **HP miss**: the target trains at the transferred value, not at its (unknown) optimum; the upper bound adds
  the loss of an HP at the far end of its interval, read off the widest proxy's fitted loss curve.

Both enter in quadrature with the law's own half-widths: exact for independent Gaussian parts, an
approximation for the skewed ones.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from scipy import stats

from orchestrator.planner.numeric import finite, json_safe
from orchestrator.planner.optimum import OptimumFit
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
            }
        )


def estimate_run_noise(
    per_width: dict[int, list[TrialResult]], fits: dict[str, list[OptimumFit]]
) -> RunNoise:
    """σ of one run's final loss: from the proxy seeds when any configuration has ≥ 2, else the model."""
    measured = _pooled_seed_noise(per_width)
    if measured is not None:
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
