"""Backtest: plan from some of a study's runs, and score every prediction on the cells held out.

The only honest test of a transfer law is a run it did not see (docs/import.md, "Backtest"). For every
held-out cell (one parametrization at one size and budget) the study's other runs are planned with the
planner's normal procedure (`plan_study`, the cell's size and budget as the target), and the plan's
predictions are compared with the cell's own runs:

* each HP's predicted value and interval against the cell's own fitted optimum (the joint surface's over
  ≥ 2 swept HPs, else the HP's parabola: the optimum a sweep at that cell would have reported);
* the regret: the cell's loss read at the predicted HPs, over the cell's fitted best, minus 1. The loss is
  read on the fitted curve (or surface) where the prediction lies inside the window it was fitted to; else
  interpolated linearly in the log of each HP between the cell's measured configurations (never the
  nearest grid point). A prediction outside the cell's searched range is read at the range's edge: the
  regret is then a lower bound and says so (`regret_is_lower_bound`);
* whether each interval covers the cell's optimum, and whether the predicted loss interval covers the
  cell's best loss.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from scipy.interpolate import LinearNDInterpolator, NearestNDInterpolator

from orchestrator.holdout import parse_hold_out
from orchestrator.imported import DesignError, Target, hp_axes, hp_bounds, study_design
from orchestrator.planner import HPAxis, Interval, TrialResult
from orchestrator.planner.horizon import fit_at
from orchestrator.planner.numeric import json_safe
from orchestrator.planner.plan import plan_study
from orchestrator.planner.surface import fit_surface
from orchestrator.run_table import ImportedRun


class BacktestError(ValueError):
    """The backtest cannot run as asked (nothing held out, nothing left to plan from, ...)."""


@dataclass
class CellScore:
    """One held-out cell's predictions against its own runs."""

    cell: dict[str, float]
    parametrization: str
    runs: int
    predicted: dict[str, dict[str, float | None]]
    observed_optimum: dict[str, float | None]
    observed_interval: dict[str, dict[str, float | None]]
    regret: float | None
    regret_method: str  # "surface" | "parabola" | "interpolated" | "none"
    regret_is_lower_bound: bool
    covered: dict[str, bool]
    # the predicted interval and the cell's own optimum interval agree: their difference's interval (the
    # two sides' half-widths in quadrature, in the fit coordinate) holds 0. The cell's optimum is itself an
    # estimate, so `covered` alone under-counts an interval that holds the cell's true optimum.
    consistent: dict[str, bool]
    predicted_loss: dict[str, float | None]
    best_loss: float | None
    loss_covered: bool | None
    verdict: str | None  # the plan's transfer verdict for this parametrization
    notes: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return json_safe(dict(self.__dict__))


@dataclass
class Backtest:
    study: str
    hold_out: str
    level: float
    trained_on: int  # runs the plans were made from
    cells: list[CellScore]

    def summary(self) -> dict[str, Any]:
        regrets = [c.regret for c in self.cells if c.regret is not None and math.isfinite(c.regret)]
        pairs = [ok for c in self.cells for ok in c.covered.values()]
        agree = [ok for c in self.cells for ok in c.consistent.values()]
        losses = [c.loss_covered for c in self.cells if c.loss_covered is not None]
        return json_safe(
            {
                "median_regret": float(np.median(regrets)) if regrets else None,
                "max_regret": max(regrets) if regrets else None,
                "coverage": sum(pairs) / len(pairs) if pairs else None,
                "coverage_with_cell_noise": sum(agree) / len(agree) if agree else None,
                "loss_coverage": sum(losses) / len(losses) if losses else None,
                "cells": len(self.cells),
                "scored_cells": len(regrets),
                "lower_bound_regrets": sum(c.regret_is_lower_bound for c in self.cells),
                "level": self.level,
            }
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            "study": self.study,
            "hold_out": self.hold_out,
            "trained_on": self.trained_on,
            "cells": [c.to_dict() for c in self.cells],
            "summary": self.summary(),
        }


def run_backtest(
    study: str,
    runs: Sequence[ImportedRun],
    hps: Sequence[str],
    axes: Sequence[str],
    hold_out: str,
    *,
    level: float = 0.9,
    seed: int = 0,
) -> Backtest:
    """Plan from the runs outside `hold_out` and score each held-out cell (module docstring)."""
    keep = parse_hold_out(hold_out, list(axes))
    held = [r for r in runs if keep({a: r.value(a) for a in axes})]
    train = [r for r in runs if not keep({a: r.value(a) for a in axes})]
    if not held:
        raise BacktestError(f"hold-out {hold_out!r} matches no run: nothing to test")
    if not train:
        raise BacktestError(f"hold-out {hold_out!r} matches every run: nothing is left to plan from")
    bounds = hp_bounds(runs, hps)
    cells: dict[tuple[str, tuple[tuple[str, float], ...]], list[ImportedRun]] = {}
    for r in held:
        cells.setdefault((r.parametrization, r.cell(list(axes))), []).append(r)
    plans: dict[Target, Any] = {}
    scores = []
    for (p, key), mine in sorted(cells.items(), key=lambda kv: (kv[0][1], kv[0][0])):
        target = _target_of(mine)
        if target not in plans:
            try:
                imported = study_design(study, train, hps, target, bounds=bounds)
            except DesignError as exc:
                raise BacktestError(f"cannot plan for the held-out cell {dict(key)}: {exc}") from None
            plans[target] = plan_study(imported.design, imported.trials, level=level, seed=seed)
        scores.append(_score(plans[target], p, dict(key), mine, hps, bounds, level, seed))
    return Backtest(study, hold_out, level, len(train), scores)


def _target_of(runs: Sequence[ImportedRun]) -> Target:
    """The held-out cell's size and budget, as the plan's target."""
    first = runs[0]
    return Target(
        width=first.width,
        depth=first.depth,
        n_params=first.n_params,
        tokens=first.tokens,
        batch_size=first.batch_size,
        context_length=first.context_length,
        batch_tokens=first.batch_tokens,
    )


def _score(
    plan: Any,
    p: str,
    cell: dict[str, float],
    runs: Sequence[ImportedRun],
    hps: Sequence[str],
    bounds: dict[str, tuple[float, float]],
    level: float,
    seed: int,
) -> CellScore:
    axes = hp_axes(runs, [h for h in hps if h in bounds], bounds)
    trials = [
        TrialResult(
            parametrization=p,
            width=1,
            depth=1,
            seed=r.seed,
            hparams={h: r.hparams[h] for h in hps if h in r.hparams},
            final_loss=None if r.diverged else r.loss,
            diverged=r.diverged,
            status="diverged" if r.diverged else "completed",
        )
        for r in runs
    ]
    observed = _cell_optimum(axes, trials, level, seed)
    pp = plan.parametrizations.get(p)
    notes: list[str] = list(observed.notes)
    if pp is None:
        notes.append(f"the runs planned from have no {p} runs")
    predicted = {h: _interval(pp.hparams[h]) for h in hps} if pp is not None else {}
    covered = {
        h: Interval(**{k: predicted[h][k] for k in ("value", "low", "high")}, level=level).contains(v)
        for h, v in observed.optimum.items()
        if h in predicted and v is not None
    }
    consistent = {
        h: _consistent(axes, h, predicted[h], v, observed.intervals.get(h, {}))
        for h, v in observed.optimum.items()
        if h in predicted and v is not None
    }
    values = {h: predicted.get(h, {}).get("value") for h in hps}
    regret, method, lower = None, "none", False
    if all(v is not None for v in values.values()) and observed.best is not None:
        loss, method, lower = observed.loss_at({h: float(v) for h, v in values.items() if v is not None})
        if loss is not None:
            regret = loss / observed.best - 1.0
    elif pp is not None:
        notes.append("the plan has no value for every swept HP: no regret")
    predicted_loss = _interval(pp.predicted_loss) if pp is not None else {}
    loss_covered = None
    if pp is not None and observed.best is not None and pp.predicted_loss.low is not None:
        loss_covered = pp.predicted_loss.contains(observed.best)
    return CellScore(
        cell=cell,
        parametrization=p,
        runs=len(runs),
        predicted=predicted,
        observed_optimum=observed.optimum,
        observed_interval=observed.intervals,
        regret=regret,
        regret_method=method,
        regret_is_lower_bound=lower,
        covered=covered,
        consistent=consistent,
        predicted_loss=predicted_loss,
        best_loss=observed.best,
        loss_covered=loss_covered,
        verdict=pp.transfer_verdict if pp is not None else None,
        notes=notes,
    )


def _consistent(
    axes: list[HPAxis], hp: str, predicted: dict[str, float | None], observed: float, cell: dict[str, Any]
) -> bool:
    """Whether the predicted and the observed intervals agree: |û − u_obs| ≤ √(h_pred² + h_obs²), each h the
    half-width on the side facing the other (in log2 on log axes)."""
    axis = next((a for a in axes if a.name == hp), None)
    if axis is None or predicted.get("value") is None:
        return False

    def u(v: Any) -> float | None:
        if v is None:
            return None
        x = float(axis.to_u(np.array([float(v)]))[0])
        return x if math.isfinite(x) else None

    pv, po = u(predicted["value"]), u(observed)
    if pv is None or po is None:
        return False
    above = po > pv
    bound_p = u(predicted.get("high") if above else predicted.get("low"))
    bound_o = u(cell.get("low") if above else cell.get("high"))
    h_p = abs(bound_p - pv) if bound_p is not None else 0.0
    h_o = abs(po - bound_o) if bound_o is not None else 0.0
    return abs(po - pv) <= math.hypot(h_p, h_o)


def _interval(x: Interval) -> dict[str, float | None]:
    return {"value": x.value, "low": x.low, "high": x.high}


@dataclass
class _CellFit:
    """A held-out cell's own optimum, best loss and loss reader."""

    axes: list[HPAxis]
    optimum: dict[str, float | None]
    intervals: dict[str, dict[str, float | None]]
    best: float | None
    surface: Any  # SurfaceFit when one was fitted
    parabola: Any  # the OptimumFit of a one-HP cell
    points: np.ndarray  # measured configurations in u (seed means), finite losses only
    losses: np.ndarray
    notes: list[str]

    def loss_at(self, values: dict[str, float]) -> tuple[float | None, str, bool]:
        """(loss, how it was read, whether it is a lower bound) at HP values (module docstring)."""
        u = {a.name: float(a.to_u(np.array([values[a.name]]))[0]) for a in self.axes}
        if self.surface is not None and self.surface.inside_window(u):
            return self.surface.loss_at(u), "surface", False
        if self.parabola is not None and self.parabola.window_u is not None:
            lo, hi = self.parabola.window_u
            x = u[self.axes[0].name]
            if lo <= x <= hi:
                return self.parabola.loss_at(x), "parabola", False
        if self.points.size == 0:
            return None, "none", False
        x = np.array([u[a.name] for a in self.axes])
        lo, hi = self.points.min(axis=0), self.points.max(axis=0)
        lower = bool(np.any(x < lo - 1e-9) or np.any(x > hi + 1e-9))
        clipped = np.clip(x, lo, hi)
        if self.points.shape[1] == 1:
            order = np.argsort(self.points[:, 0])
            value = float(np.interp(clipped[0], self.points[order, 0], self.losses[order]))
            return value, "interpolated", lower
        value = float(LinearNDInterpolator(self.points, self.losses)(clipped[None, :])[0])
        if not math.isfinite(value):  # outside the measured configurations' hull
            value = float(NearestNDInterpolator(self.points, self.losses)(clipped[None, :])[0])
            lower = True
        return value, "interpolated", lower


def _cell_optimum(axes: list[HPAxis], trials: list[TrialResult], level: float, seed: int) -> _CellFit:
    """The cell's own optimum: the joint surface over ≥ 2 HPs (when it can be fitted), else each HP's
    parabola along its profile, as the planner fits a proxy size."""
    points, losses = _seed_means(axes, trials)
    notes: list[str] = []
    if len(axes) >= 2:
        surface = fit_surface(axes, trials, level=level, seed=seed)
        if surface.method != "refused":
            return _CellFit(
                axes,
                {h: iv.value for h, iv in surface.optimum.items()},
                {h: _interval(iv) for h, iv in surface.optimum.items()},
                surface.best_loss,
                surface,
                None,
                points,
                losses,
                notes,
            )
        notes.append(
            f"the cell's loss surface was refused ({surface.reason}); each HP fitted along its profile"
        )
    fits = {a.name: fit_at(a, axes, trials, 0.0, level, seed) for a in axes}
    best_losses = [f.best_loss for f in fits.values() if f.best_loss is not None]
    best = min(best_losses) if best_losses else (float(losses.min()) if losses.size else None)
    return _CellFit(
        axes,
        {h: f.optimum.value for h, f in fits.items()},
        {h: _interval(f.optimum) for h, f in fits.items()},
        best,
        None,
        fits[axes[0].name] if len(axes) == 1 else None,
        points,
        losses,
        notes,
    )


def _seed_means(axes: list[HPAxis], trials: list[TrialResult]) -> tuple[np.ndarray, np.ndarray]:
    """Each measured configuration (in u) and its mean finite loss over seeds."""
    groups: dict[tuple[float, ...], list[float]] = {}
    for t in trials:
        if t.is_diverged or t.final_loss is None:
            continue
        key = tuple(round(float(a.to_u(np.array([t.hparams.get(a.name, np.nan)]))[0]), 9) for a in axes)
        if all(math.isfinite(k) for k in key):
            groups.setdefault(key, []).append(float(t.final_loss))
    if not groups:
        return np.empty((0, len(axes))), np.empty(0)
    keys = list(groups)
    return np.array(keys, dtype=float), np.array([np.mean(groups[k]) for k in keys], dtype=float)
