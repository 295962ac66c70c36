"""Transfer quality: the three metrics of Kalra & Barkeshli 2026, as we define them (docs/planner.md,
"Transfer quality"; the paper's exact formulas are not in our sources, so these definitions are ours, named
apart from the loss law's irreducible loss E):

1. `fit_error_octaves`: the RMS residual of u*(w) = log2 η*(w) about the law the plan applied (u₀ + γ log2 w,
   or the constant when γ = 0 is kept), the fitted parameters' degrees of freedom removed; ≥ 3 widths
   (`fit_error_loo_octaves`, the leave-one-out prediction error, also needs ≥ 3).
2. `robustness_exponent` κ: ΔL/L* ≈ c·|u − u*|^κ, fitted (log-log least squares, one c and κ pooled over
   the proxy widths) to the seed-mean losses 0.25..3 octaves from each width's optimum. Combined with metric 1
   into `expected_penalty_at_target` = c·E|ε|^κ for ε ~ N(0, σ²), σ² = fit_error² + the law's own variance
   at the target (its interval's half-width over z): the relative loss a target run pays for the scatter.
3. `asymptotic_penalty`: R(w) = L(η_transferred(w), w) / L*(w) − 1 at each width, η_transferred(w) predicted
   by the law refitted without w and read off w's fitted loss parabola (or a measured point the caller adds,
   e.g. the bench's target run), extrapolated to w → ∞ by R(w) = R∞ + b/w (least squares; 1/w ∝ N^-½).

`extrapolation_robustness` (hold out the widest proxy, predict it from the rest, price the miss) is the
plan's own check of whether transfer holds; `predicted_loss_gaps` compares the parametrizations' predicted
target losses.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from scipy import special, stats

from orchestrator.planner.axis import HPAxis
from orchestrator.planner.loss_law import LossLaw
from orchestrator.planner.numeric import finite, json_safe
from orchestrator.planner.optimum import OptimumFit
from orchestrator.planner.profile import profile
from orchestrator.planner.transfer import ScaleLaw, fit_scale_law
from orchestrator.planner.types import TrialResult

# octaves from a width's optimum used for κ: off the noisy bottom, inside the basin
ROBUSTNESS_WINDOW = (0.25, 3.0)


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

    def to_dict(self) -> dict[str, Any]:
        return json_safe(self.__dict__)


def fit_quality(law: ScaleLaw) -> dict[str, Any]:
    """Metric 1: how well u*(s) = u₀ + γ log2 s describes the optima (None with fewer than 3 scales)."""
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
    return Robustness(
        axis.name,
        held.scale,
        predicted,
        held.u,
        finite(error),
        finite(penalty),
        finite(relative),
        f"fitted on {len(usable) - 1} {scale_name}s, checked at {held.scale:g}",
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
    fit_error_octaves: float | None  # metric 1
    fit_error_loo_octaves: float | None
    robustness_exponent: float | None  # metric 2: κ
    robustness_coefficient: float | None  # c
    robustness_points: int
    target_error_octaves: float | None  # σ at the target: fit error and the law's own spread, in quadrature
    expected_penalty_at_target: float | None  # c·E|ε|^κ, relative loss
    asymptotic_penalty: float | None  # metric 3: R∞ (relative loss)
    penalty_by_width: dict[str, float] = field(default_factory=dict)  # R(w), the points R∞ is fitted to
    notes: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return json_safe(dict(self.__dict__))


def _law_line(law: ScaleLaw) -> tuple[float, float] | None:
    """(u₀, γ) of the law the plan applied: u*(s) = u₀ + γ·log2 s."""
    if law.model == "invariant":
        return None if law.target_u.value is None else (float(law.target_u.value), 0.0)
    if law.intercept is None or law.gamma.value is None:
        return None
    return float(law.intercept), float(law.gamma.value)


def _ols(x: np.ndarray, u: np.ndarray, invariant: bool) -> tuple[float, float]:
    if invariant or len(x) < 2 or np.ptp(x) == 0:
        return float(np.mean(u)), 0.0
    gamma, u0 = np.polyfit(x, u, 1)
    return float(u0), float(gamma)


def fit_error(law: ScaleLaw) -> tuple[float | None, float | None]:
    """Metric 1, in octaves: (in-sample RMS residual, fitted parameters' dof removed; leave-one-out RMS)."""
    x, u = np.log2(np.asarray(law.scales, float)), np.asarray(law.optima_u, float)
    if len(u) < 3:
        return None, None
    line = _law_line(law)
    invariant = law.model == "invariant"
    k = 1 if invariant else 2
    in_sample = None
    if line is not None:
        resid = u - (line[0] + line[1] * x)
        in_sample = math.sqrt(float(np.sum(resid**2)) / (len(u) - k))
    loo = []
    for i in range(len(u)):
        keep = np.arange(len(u)) != i
        u0, gamma = _ols(x[keep], u[keep], invariant)
        loo.append(u[i] - (u0 + gamma * x[i]))
    return finite(in_sample), finite(math.sqrt(float(np.mean(np.square(loo)))))


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


def robustness_exponent(
    curves: dict[float, tuple[np.ndarray, np.ndarray]], optima: dict[float, float]
) -> tuple[float | None, float | None, int]:
    """Metric 2: (κ, c, points) of log(ΔL/L*) = log c + κ·log|u − u*|, pooled over widths; L* is each width's
    lowest seed-mean loss, u* its fitted optimum."""
    xs, ys = [], []
    for scale, (u, loss) in curves.items():
        if scale not in optima or len(loss) == 0:
            continue
        best = float(np.min(loss))
        du = np.abs(u - optima[scale])
        rel = (loss - best) / best
        ok = (du >= ROBUSTNESS_WINDOW[0]) & (du <= ROBUSTNESS_WINDOW[1]) & (rel > 0)
        xs += list(np.log(du[ok]))
        ys += list(np.log(rel[ok]))
    # κ is a slope in log|u − u*|: points bunched within a factor 1.5 of each other do not determine it
    if len(xs) < 3 or np.ptp(xs) < math.log(1.5):
        return None, None, len(xs)
    kappa, logc = np.polyfit(np.array(xs), np.array(ys), 1)
    # a degenerate fit (points bunched in log|u − u*|) can give a log c past float range: no c, not a crash
    c = math.exp(logc) if logc < 700 else math.inf
    return finite(float(kappa)), finite(c), len(xs)


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


def asymptotic_penalty(points: dict[float, float]) -> float | None:
    """Metric 3: R∞ of R(w) = R∞ + b/w, least squares over the widths' penalties (≥ 2 widths)."""
    if len(points) < 2:
        return None
    w = np.array(sorted(points), float)
    r = np.array([points[x] for x in sorted(points)], float)
    _, r_inf = np.polyfit(1.0 / w, r, 1)
    return finite(float(r_inf))


def loo_penalties(law: ScaleLaw, fits: list[OptimumFit]) -> dict[float, float]:
    """R(w) at each proxy width: the law refitted without w predicts u*(w); the miss is priced on w's fitted
    loss parabola, relative to its minimum (an in-sample law would be judged on its own points)."""
    usable = [f for f in fits if f.u is not None and f.coefficients is not None]
    if len(usable) < 3:
        return {}
    x = np.log2([f.scale for f in usable])
    u = np.array([f.u for f in usable], float)
    out: dict[float, float] = {}
    for i, f in enumerate(usable):
        keep = np.arange(len(usable)) != i
        u0, gamma = _ols(x[keep], u[keep], law.model == "invariant")
        at_pred, at_opt = f.loss_at(u0 + gamma * x[i]), f.loss_at(float(f.u))  # type: ignore[arg-type]
        if at_pred is not None and at_opt and at_opt > 0:
            out[float(f.scale)] = max(at_pred - at_opt, 0.0) / at_opt
    return out


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
    err, err_loo = fit_error(law)
    if err is None:
        notes.append(f"fit error needs optima at ≥ 3 widths; got {len(law.scales)}")
    optima = {float(f.scale): float(f.u) for f in fits if f.u is not None}
    curves = {float(w): seed_mean_curve(ts, axis, axes) for w, ts in trials_by_width.items()}
    kappa, c, n = robustness_exponent(curves, optima)
    sigma, expected = None, None
    t = law.target_u
    if t.low is not None and t.high is not None and t.level:
        spread = (t.high - t.low) / (2 * stats.norm.ppf(0.5 + t.level / 2))
        sigma = math.sqrt((err or 0.0) ** 2 + spread**2)
    if kappa is not None and kappa <= 0:
        notes.append(f"κ = {kappa:.3g} ≤ 0: the losses do not rise away from the optimum (noise-dominated)")
    elif kappa is not None and c is not None and sigma is not None:
        expected = finite(expected_penalty(kappa, c, sigma))
    by_width = loo_penalties(law, fits)
    by_width.update(extra_penalties or {})
    return TransferQuality(
        hparam=axis.name,
        n_widths=len(law.scales),
        fit_error_octaves=err,
        fit_error_loo_octaves=err_loo,
        robustness_exponent=kappa,
        robustness_coefficient=c,
        robustness_points=n,
        target_error_octaves=finite(sigma) if sigma is not None else None,
        expected_penalty_at_target=expected,
        asymptotic_penalty=asymptotic_penalty(by_width),
        penalty_by_width={f"{w:g}": v for w, v in sorted(by_width.items())},
        notes=notes,
    )
