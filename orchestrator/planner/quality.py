"""Transfer quality: the three metrics of Kalra & Barkeshli 2026, as we define them (docs/planner.md,
"Transfer quality"; the paper's exact formulas are not in our sources, so these definitions are ours, named
apart from the loss law's irreducible loss E). u*(w) is the fitted optimum at proxy width w in the HP's fit
coordinate (log2 on log axes: octaves), û(w) = `law.predict_u(w)` the law the plan applied (transfer.py: the
forms' weighted mixture, shrunk by a promise's prior where there is one, or the base's value where a move was
not resolved).

1. `fit_error_octaves`: the RMS residual of the optima about the applied law,
   √(Σ_w (u*(w) − û(w))² / (n − 2)) (every form has 2 parameters); None with < 3 widths.
   `fit_error_loo_octaves`: the leave-one-out RMS, each u*(w) predicted by `fit_scale_law` (the plan's own
   procedure: same axis, same promise, the held-out width as target, no base) on the other widths' optima;
   ≥ 3 widths (the refit needs 2).
2. `robustness_exponent` κ: ΔL/L* ≈ c·|u − u*|^κ, fitted (log-log least squares, one c and κ pooled over
   the proxy widths) to the seed-mean losses 0.25..3 octaves from each width's optimum, with a 90 % percentile
   interval from a bootstrap of the pooled points (`robustness_exponent_interval`). κ is not reported (None,
   with a note) with < 3 points, points bunched within a factor 1.5 in |u − u*|, or an interval wider than 2;
   an interval that contains 2 is noted: κ ≈ 2 is what any smooth minimum gives (a parabola near its
   vertex), so such a κ says only that the basin is smooth. Combined with metric 1 into
   `expected_penalty_at_target` = c·E|ε|^κ for ε ~ N(0, σ²), σ² = fit_error² + the law's own variance at the
   target (its interval's half-width over z): the relative loss a target run pays for the scatter (None
   without κ).
3. `asymptotic_penalty`: R(w) = L(η_transferred(w), w) / L*(w) − 1 at each width, η_transferred(w) the
   leave-one-out prediction of metric 1 read off w's fitted loss parabola (or a measured point the caller
   adds, e.g. the bench's target run), extrapolated to w → ∞ by R(w) = R∞ + b/w, fitted by non-negative
   least squares (R∞ ≥ 0, b ≥ 0: a penalty is never negative and does not grow with width; 1/w ∝ N^-½),
   with a 90 % percentile interval from a bootstrap of the widths' points (`asymptotic_penalty_interval`,
   ≥ 3 points).

`extrapolation_robustness` (hold out the widest proxy, predict it from the rest, price the miss) is the
plan's own check of whether transfer holds; `predicted_loss_gaps` compares the parametrizations' predicted
target losses.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from scipy import optimize, special, stats

from orchestrator.planner.axis import HPAxis
from orchestrator.planner.loss_law import LossLaw
from orchestrator.planner.numeric import finite, json_safe, percentile_interval, rng_from
from orchestrator.planner.optimum import OptimumFit
from orchestrator.planner.profile import profile
from orchestrator.planner.transfer import ScaleLaw, fit_scale_law
from orchestrator.planner.types import TrialResult

# octaves from a width's optimum used for κ: off the noisy bottom, inside the basin
ROBUSTNESS_WINDOW = (0.25, 3.0)
QUALITY_LEVEL = 0.9  # the intervals of κ and R∞
QUALITY_BOOT = 1000  # bootstrap replicates for those intervals
QUALITY_SEED = 0  # fixed: a re-plan of the same trials gives the same metrics
LOO_BOOT = 200  # a leave-one-out refit reads only its point, so its own interval needs few replicates
LAW_PARAMETERS = 2  # every form of the transfer law has 2 parameters (transfer.py)
KAPPA_MAX_WIDTH = 2.0  # a κ interval wider than this does not identify κ
SMOOTH_KAPPA = 2.0  # what any smooth minimum gives near its vertex


@dataclass(frozen=True)
class Robustness:
    """Metric 2 for one HP: `loss_penalty` is absolute, `relative_penalty` relative to the optimum's loss."""

    hparam: str
    held_out_scale: float | None
    predicted_u: float | None
    fitted_u: float | None
    error_u: float | None  # prediction − fitted optimum, in u units (octaves on log axes)
    loss_penalty: float | None
    relative_penalty: float | None
    note: str
    # the prediction lies inside the held-out scale's own optimum interval: the check cannot tell it from
    # that optimum (a 3-point grid knows its optimum only to ± half a step), so it does not fail on it
    within_held_out_interval: bool = False

    def to_dict(self) -> dict[str, Any]:
        return json_safe(self.__dict__)


def fit_quality(law: ScaleLaw) -> dict[str, Any]:
    """How well the applied law describes the optima, as transfer.py measured it (None with < 3 scales)."""
    return json_safe(
        {
            "hparam": law.hparam,
            "residual_rms": law.residual_rms,
            "reduced_chi2": law.reduced_chi2,
            "n_scales": len(law.scales),
        }
    )


def extrapolation_robustness(
    axis: HPAxis,
    fits: list[OptimumFit],
    *,
    scale_name: str = "width",
    level: float = 0.9,
    seed: int = 0,
    invariant: bool = False,
) -> Robustness:
    """Metric 2: predict the widest scale's optimum from the others and price the miss on its loss curve.

    `invariant` is the plan's own choice of law (transfer.py): the check tests the procedure the plan used."""
    usable = sorted((f for f in fits if f.u is not None), key=lambda f: f.scale)
    if len(usable) < 3:
        return Robustness(
            axis.name,
            None,
            None,
            None,
            None,
            None,
            None,
            f"needs optima at ≥ 3 {scale_name}s (2 to fit, 1 to check); got {len(usable)}",
        )
    held = usable[-1]
    law = fit_scale_law(
        axis, usable[:-1], held.scale, scale_name=scale_name, level=level, seed=seed, invariant=invariant
    )
    predicted = law.target_u.value
    if predicted is None or held.u is None:
        return Robustness(axis.name, held.scale, None, held.u, None, None, None, "the reduced law has no fit")
    error = predicted - held.u
    at_pred, at_opt = held.loss_at(predicted), held.loss_at(held.u)
    if at_pred is None or at_opt is None:
        return Robustness(
            axis.name,
            held.scale,
            predicted,
            held.u,
            error,
            None,
            None,
            f"the widest {scale_name}'s loss curve has no parabola to read the penalty from",
        )
    penalty = max(at_pred - at_opt, 0.0)
    relative = penalty / at_opt if at_opt > 0 else None
    inside = held.u_low is not None and held.u_high is not None and held.u_low <= predicted <= held.u_high
    return Robustness(
        axis.name,
        held.scale,
        predicted,
        held.u,
        finite(error),
        finite(penalty),
        finite(relative),
        f"fitted on {len(usable) - 1} {scale_name}s, checked at {held.scale:g}"
        + ("; the prediction is inside that scale's own optimum interval" if inside else ""),
        inside,
    )


def predicted_loss_gaps(laws: dict[str, LossLaw]) -> dict[str, dict[str, Any]]:
    """Each parametrization's predicted target loss and loss-law E minus the best (lowest) among them: how
    much a parametrization costs at the target by the proxies' own laws (not a transfer-quality metric)."""
    predicted = {p: law.prediction.value for p, law in laws.items() if law.prediction.value is not None}
    asymptote = {p: law.E for p, law in laws.items() if law.E is not None}
    best_pred = min(predicted.values(), default=None)
    best_e = min(asymptote.values(), default=None)
    out: dict[str, dict[str, Any]] = {}
    for p in laws:
        pred, e = predicted.get(p), asymptote.get(p)
        out[p] = json_safe(
            {
                "target_loss_penalty": None if pred is None or best_pred is None else pred - best_pred,
                "relative_target_loss_penalty": None
                if pred is None or not best_pred
                else (pred - best_pred) / best_pred,
                # the loss law's irreducible loss E, against the lowest E among the parametrizations
                "irreducible_loss_penalty": None if e is None or best_e is None else e - best_e,
            }
        )
    return out


@dataclass
class TransferQuality:
    """The three transfer-quality metrics for one HP along width (module docstring; README, "Transfer
    quality")."""

    hparam: str
    n_widths: int
    fit_error_octaves: float | None  # metric 1, about the applied law
    fit_error_loo_octaves: float | None  # refitted by fit_scale_law without each width
    robustness_exponent: float | None  # metric 2: κ (None where not identified; see `notes`)
    robustness_exponent_interval: tuple[float, float] | None  # 90 % bootstrap interval of κ
    robustness_coefficient: float | None  # c
    robustness_points: int
    target_error_octaves: float | None  # σ at the target: fit error and the law's own spread, in quadrature
    expected_penalty_at_target: float | None  # c·E|ε|^κ, relative loss
    asymptotic_penalty: float | None  # metric 3: R∞ ≥ 0 (relative loss)
    asymptotic_penalty_interval: tuple[float, float] | None  # 90 % bootstrap interval of R∞ (≥ 3 points)
    penalty_by_width: dict[str, float] = field(default_factory=dict)  # R(w), the points R∞ is fitted to
    notes: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return json_safe(dict(self.__dict__))


def _usable(fits: list[OptimumFit]) -> list[OptimumFit]:
    """The optima `fit_scale_law` fits: a finite u at a positive scale."""
    return [f for f in fits if f.u is not None and math.isfinite(f.u) and f.scale > 0]


def fit_error(law: ScaleLaw) -> float | None:
    """Metric 1, in u (octaves on log axes): the RMS residual of the optima about the applied law
    (`law.predict_u`), √(Σ residual² / (n − 2)); None with fewer than 3 scales."""
    n = len(law.optima_u)
    if n < 3:
        return None
    predicted = [law.predict_u(s) for s in law.scales]
    if any(p is None for p in predicted):
        return None
    resid = np.asarray(law.optima_u, float) - np.asarray(predicted, float)
    return finite(math.sqrt(float(np.sum(resid**2)) / (n - LAW_PARAMETERS)))


def loo_predictions(
    axis: HPAxis, law: ScaleLaw, fits: list[OptimumFit], *, n_boot: int = LOO_BOOT, seed: int = QUALITY_SEED
) -> dict[float, float]:
    """Each scale's optimum predicted by the plan's own procedure without it: `fit_scale_law` on the other
    optima (same axis and promise, the held-out scale as target, no base). Empty with fewer than 3 scales
    (the refit needs 2)."""
    usable = _usable(fits)
    if len(usable) < 3:
        return {}
    level = law.target_u.level or QUALITY_LEVEL
    out: dict[float, float] = {}
    for i, held in enumerate(usable):
        refit = fit_scale_law(
            axis,
            usable[:i] + usable[i + 1 :],
            held.scale,
            scale_name=law.scale_name,
            level=level,
            n_boot=n_boot,
            seed=seed,
            invariant=law.promise_scale is not None,
            base_scale=None,
        )
        if refit.target_u.value is not None and math.isfinite(refit.target_u.value):
            out[float(held.scale)] = float(refit.target_u.value)
    return out


def loo_fit_error(fits: list[OptimumFit], predictions: dict[float, float]) -> float | None:
    """Metric 1's leave-one-out RMS: √(mean (u*(w) − prediction without w)²); None with < 3 predictions."""
    errors = [
        float(f.u) - predictions[float(f.scale)] for f in _usable(fits) if float(f.scale) in predictions
    ]
    if len(errors) < 3:
        return None
    return finite(math.sqrt(float(np.mean(np.square(errors)))))


def loo_penalties(
    axis: HPAxis, law: ScaleLaw, fits: list[OptimumFit], predictions: dict[float, float] | None = None
) -> dict[float, float]:
    """R(w) at each proxy width: `fit_scale_law` refitted without w predicts u*(w) (`loo_predictions`); the
    miss is priced on w's fitted loss parabola, relative to its minimum (an in-sample law would be judged on
    its own points). Widths without a parabola give no point."""
    if predictions is None:
        predictions = loo_predictions(axis, law, fits)
    out: dict[float, float] = {}
    for f in _usable(fits):
        predicted = predictions.get(float(f.scale))
        if predicted is None or f.coefficients is None:
            continue
        at_pred, at_opt = f.loss_at(predicted), f.loss_at(float(f.u))  # type: ignore[arg-type]
        if at_pred is not None and at_opt and at_opt > 0:
            out[float(f.scale)] = max(at_pred - at_opt, 0.0) / at_opt
    return out


def seed_mean_curve(
    trials: list[TrialResult], axis: HPAxis, axes: list[HPAxis]
) -> tuple[np.ndarray, np.ndarray]:
    """(u, mean finite loss over seeds) along `axis` through the best of the others; a value with any diverged
    or failed seed is left out (its mean would be meaningless)."""
    prof = profile(trials, axis, [a for a in axes if a.name != axis.name])
    groups: dict[float, list[float]] = {}
    for value, loss, div in zip(prof.values, prof.losses, prof.diverged, strict=True):
        u = round(float(np.log2(value) if axis.log else value), 9)
        groups.setdefault(u, []).append(math.nan if div else float(loss))
    us = sorted(u for u, ls in groups.items() if all(math.isfinite(x) for x in ls))
    return np.array(us), np.array([float(np.mean(groups[u])) for u in us])


@dataclass(frozen=True)
class RobustnessFit:
    """Metric 2: κ and c of ΔL/L* ≈ c·|u − u*|^κ, κ's bootstrap interval and why κ is withheld or weak."""

    kappa: float | None  # None where not identified
    coefficient: float | None
    points: int
    interval: tuple[float, float] | None
    notes: tuple[str, ...] = ()


def _robustness_points(
    curves: dict[float, tuple[np.ndarray, np.ndarray]], optima: dict[float, float]
) -> tuple[np.ndarray, np.ndarray]:
    """The pooled (log|u − u*|, log ΔL/L*) points inside `ROBUSTNESS_WINDOW`."""
    xs: list[float] = []
    ys: list[float] = []
    for scale, (u, loss) in curves.items():
        if scale not in optima or len(loss) == 0:
            continue
        best = float(np.min(loss))
        du = np.abs(np.asarray(u, float) - optima[scale])
        rel = (np.asarray(loss, float) - best) / best
        ok = (du >= ROBUSTNESS_WINDOW[0]) & (du <= ROBUSTNESS_WINDOW[1]) & (rel > 0)
        xs += list(np.log(du[ok]))
        ys += list(np.log(rel[ok]))
    return np.array(xs, float), np.array(ys, float)


def _slopes(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Least-squares slopes of each row of y on the same row of x (NaN where a row's x is constant)."""
    xc = x - x.mean(axis=-1, keepdims=True)
    yc = y - y.mean(axis=-1, keepdims=True)
    sxx = np.sum(xc * xc, axis=-1)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(sxx > 1e-12, np.sum(xc * yc, axis=-1) / sxx, np.nan)


def robustness_fit(
    curves: dict[float, tuple[np.ndarray, np.ndarray]],
    optima: dict[float, float],
    *,
    level: float = QUALITY_LEVEL,
    n_boot: int = QUALITY_BOOT,
    seed: int = QUALITY_SEED,
) -> RobustnessFit:
    """Metric 2: log(ΔL/L*) = log c + κ·log|u − u*|, pooled over widths (L* each width's lowest seed-mean
    loss, u* its fitted optimum), κ's interval a percentile bootstrap of the pooled points. κ is withheld
    (None) with < 3 points, points bunched in |u − u*|, or an interval wider than `KAPPA_MAX_WIDTH`."""
    x, y = _robustness_points(curves, optima)
    n = int(x.size)
    if n < 3:
        return RobustnessFit(
            None, None, n, None, (f"κ needs ≥ 3 points of the loss curves' basins; got {n}",)
        )
    # κ is a slope in log|u − u*|: points bunched within a factor 1.5 of each other do not determine it
    if np.ptp(x) < math.log(1.5):
        return RobustnessFit(
            None,
            None,
            n,
            None,
            ("κ not identified: the points' |u − u*| lie within a factor 1.5 of each other",),
        )
    kappa, logc = (float(v) for v in np.polyfit(x, y, 1))
    idx = rng_from(seed).integers(0, n, size=(n_boot, n))
    lo, hi = percentile_interval(_slopes(x[idx], y[idx]), level)
    interval = None if lo is None or hi is None else (min(lo, kappa), max(hi, kappa))
    label = f"{100 * level:g} % interval"
    if interval is None:
        return RobustnessFit(
            None, None, n, None, ("κ not identified: no bootstrap replicate could be fitted",)
        )
    text = f"κ = {kappa:.3g}, {label} [{interval[0]:.3g}, {interval[1]:.3g}]"
    if interval[1] - interval[0] > KAPPA_MAX_WIDTH:
        return RobustnessFit(
            None, None, n, interval, (f"{text}, wider than {KAPPA_MAX_WIDTH:g}: κ is not identified",)
        )
    notes: tuple[str, ...] = ()
    tol = 1e-6 * SMOOTH_KAPPA
    if interval[0] - tol <= SMOOTH_KAPPA <= interval[1] + tol:
        notes = (
            f"{text} contains {SMOOTH_KAPPA:g}: κ ≈ 2 is what any smooth minimum gives (a parabola near its "
            "vertex), so it says only that the basin is smooth, nothing more about the loss curve",
        )
    # a degenerate fit (points bunched in log|u − u*|) can give a log c past float range: no c, not a crash
    c = math.exp(logc) if logc < 700 else math.inf
    return RobustnessFit(finite(kappa), finite(c), n, interval, notes)


def robustness_exponent(
    curves: dict[float, tuple[np.ndarray, np.ndarray]], optima: dict[float, float]
) -> tuple[float | None, float | None, int]:
    """Metric 2 as (κ, c, points): `robustness_fit` without its interval and notes (κ None where not
    identified)."""
    fit = robustness_fit(curves, optima)
    return fit.kappa, fit.coefficient, fit.points


def expected_penalty(kappa: float, c: float, sigma: float) -> float:
    """c·E|ε|^κ for ε ~ N(0, σ²): E|ε|^κ = σ^κ·2^(κ/2)·Γ((κ+1)/2)/√π."""
    if sigma <= 0:
        return 0.0
    # in logs: σ^κ and Γ overflow for the large κ of a nearly flat or noise-dominated fit
    log_value = (
        (
            math.log(c)
            + kappa * math.log(sigma)
            + kappa / 2 * math.log(2)
            + special.gammaln((kappa + 1) / 2)
            - 0.5 * math.log(math.pi)
        )
        if c > 0
        else -math.inf
    )
    return math.exp(log_value) if log_value < 700 else math.inf


def _nnls_r_inf(w: np.ndarray, r: np.ndarray) -> float:
    """R∞ of R(w) = R∞ + b/w by non-negative least squares (R∞ ≥ 0, b ≥ 0)."""
    coef, _ = optimize.nnls(np.column_stack([np.ones_like(w), 1.0 / w]), r)
    return float(coef[0])


def asymptotic_penalty(points: dict[float, float]) -> float | None:
    """Metric 3: R∞ ≥ 0 of R(w) = R∞ + b/w (b ≥ 0), non-negative least squares over the widths' penalties
    (≥ 2 widths)."""
    if len({float(x) for x in points}) < 2:
        return None
    w = np.array(sorted(points), float)
    r = np.array([points[x] for x in sorted(points)], float)
    return finite(_nnls_r_inf(w, r))


def asymptotic_penalty_interval(
    points: dict[float, float],
    *,
    level: float = QUALITY_LEVEL,
    n_boot: int = QUALITY_BOOT,
    seed: int = QUALITY_SEED,
) -> tuple[float, float] | None:
    """Metric 3's interval: the widths' points resampled with replacement and refitted (a replicate with a
    single distinct width cannot place R∞ and is skipped), the percentile interval widened to hold the point;
    None with fewer than 3 points."""
    point = asymptotic_penalty(points)
    if len(points) < 3 or point is None:
        return None
    w = np.array(sorted(points), float)
    r = np.array([points[x] for x in sorted(points)], float)
    idx = rng_from(seed).integers(0, w.size, size=(n_boot, w.size))
    draws = np.array([_nnls_r_inf(w[i], r[i]) if np.ptp(w[i]) > 0 else math.nan for i in idx])
    lo, hi = percentile_interval(draws, level)
    if lo is None or hi is None:
        return None
    return min(lo, point), max(hi, point)  # nnls: every draw is ≥ 0


def transfer_quality(
    axis: HPAxis,
    axes: list[HPAxis],
    law: ScaleLaw,
    fits: list[OptimumFit],
    trials_by_width: dict[int, list[TrialResult]],
    extra_penalties: dict[float, float] | None = None,
) -> TransferQuality:
    """Seed 004's three metrics for `axis` along width. `extra_penalties` adds measured R(w) points to the
    asymptotic fit (the bench's target run: L_transferred / L_oracle − 1)."""
    notes: list[str] = []
    err = fit_error(law)
    predictions = loo_predictions(axis, law, fits)
    err_loo = loo_fit_error(fits, predictions)
    if err is None:
        notes.append(f"fit error needs optima at ≥ 3 widths; got {len(law.scales)}")
    optima = {float(f.scale): float(f.u) for f in fits if f.u is not None}
    curves = {float(w): seed_mean_curve(ts, axis, axes) for w, ts in trials_by_width.items()}
    rob = robustness_fit(curves, optima)
    notes += list(rob.notes)
    kappa, c = rob.kappa, rob.coefficient
    sigma, expected = None, None
    t = law.target_u
    if t.low is not None and t.high is not None and t.level:
        spread = (t.high - t.low) / (2 * stats.norm.ppf(0.5 + t.level / 2))
        sigma = math.sqrt((err or 0.0) ** 2 + spread**2)
    if kappa is not None and kappa <= 0:
        notes.append(f"κ = {kappa:.3g} ≤ 0: the losses do not rise away from the optimum (noise-dominated)")
    elif kappa is not None and c is not None and sigma is not None:
        expected = finite(expected_penalty(kappa, c, sigma))
    by_width = loo_penalties(axis, law, fits, predictions)
    by_width.update(extra_penalties or {})
    return TransferQuality(
        hparam=axis.name,
        n_widths=len(law.scales),
        fit_error_octaves=err,
        fit_error_loo_octaves=err_loo,
        robustness_exponent=kappa,
        robustness_exponent_interval=rob.interval,
        robustness_coefficient=c,
        robustness_points=rob.points,
        target_error_octaves=finite(sigma) if sigma is not None else None,
        expected_penalty_at_target=expected,
        asymptotic_penalty=asymptotic_penalty(by_width),
        asymptotic_penalty_interval=asymptotic_penalty_interval(by_width),
        penalty_by_width={f"{w:g}": v for w, v in sorted(by_width.items())},
        notes=notes,
    )
