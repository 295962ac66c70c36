"""One-dimensional profiles of a multi-HP search: the trials a per-HP optimum is fitted to.

Choice (documented in the plan): the profile of HP h is the slice through the best configuration — the trials
whose *other* HPs equal the best trial's, within a tolerance. A grid search yields exact slices (tolerance 0);
a random or TPE search has none, so the tolerance (a fraction of each other HP's searched span, in its fit
coordinate) grows until the slice holds enough distinct values of h. Taking the best loss per value of h
instead (a "min over the others" profile) would mix noise minima into the curve and bias it low.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from orchestrator.planner.axis import HPAxis
from orchestrator.planner.types import TrialResult

TOLERANCES = (0.0, 0.1, 0.2, 0.35, 0.5, 1.01)  # fractions of each other HP's span; the last keeps everything
WANTED_DISTINCT = 5


@dataclass(frozen=True)
class Profile:
    values: np.ndarray  # HP values of the slice's trials
    losses: np.ndarray  # final loss (NaN for diverged)
    diverged: np.ndarray
    tolerance: float  # 0: an exact slice


def best_configuration(trials: list[TrialResult], names: list[str]) -> dict[str, float] | None:
    """The swept values of the configuration with the lowest mean finite loss over its seeds."""
    sums: dict[tuple[float, ...], list[float]] = {}
    for t in trials:
        if t.is_diverged or t.final_loss is None:
            continue
        key = tuple(float(t.hparams.get(n, np.nan)) for n in names)
        sums.setdefault(key, []).append(float(t.final_loss))
    if not sums:
        return None
    key = min(sums, key=lambda k: float(np.mean(sums[k])))
    return dict(zip(names, key, strict=True))


def profile(trials: list[TrialResult], axis: HPAxis, others: list[HPAxis]) -> Profile:
    """The trials along `axis` through the best configuration of `others` (see the module docstring)."""
    usable = [t for t in trials if t.is_usable and axis.name in t.hparams]
    # the best configuration of *all* swept HPs (grouping by the others alone would average over this HP's
    # values and pick the others' values that are best on average, not those of the best configuration)
    best = best_configuration(usable, [axis.name, *(o.name for o in others)]) if others else None
    values = np.array([float(t.hparams[axis.name]) for t in usable], dtype=float)
    losses = np.array(
        [np.nan if t.is_diverged else float(t.final_loss or np.nan) for t in usable], dtype=float
    )
    diverged = np.array([t.is_diverged for t in usable], dtype=bool)
    if best is None:
        return Profile(values, losses, diverged, 0.0)
    distance = np.zeros(len(usable))
    for o in others:
        col = o.to_u(np.array([float(t.hparams.get(o.name, np.nan)) for t in usable]))
        ref = float(o.to_u(np.array([best[o.name]]))[0])
        finite_col = col[np.isfinite(col)]
        lo, hi = o.searched_u(finite_col) if finite_col.size else (ref, ref)
        span = hi - lo if hi > lo else 1.0
        distance = np.maximum(distance, np.where(np.isfinite(col), np.abs(col - ref) / span, np.inf))
    available = np.unique(np.round(values[~diverged], 9)).size
    wanted = min(WANTED_DISTINCT, available)  # a 3-point grid never yields 5: stop at what exists
    for tol in TOLERANCES:
        keep = distance <= tol + 1e-9
        if np.unique(np.round(values[keep & ~diverged], 9)).size >= wanted or tol == TOLERANCES[-1]:
            return Profile(values[keep], losses[keep], diverged[keep], tol)
    raise AssertionError("unreachable: the last tolerance keeps every trial")
