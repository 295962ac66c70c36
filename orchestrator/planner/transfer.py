"""How an optimum moves with scale: u*(s) = u₀ + γ·log2(s), i.e. log η*(w) = log c + γ log w (Tensor
Programs V; docs/planner.md).

Generic over the scale variable (width or depth). μP promises γ ≈ 0 for width; SP with Adam drifts like
γ ≈ −1 for the learning rate. The interval on γ and on the extrapolated value propagates each scale's optimum
uncertainty: every bootstrap replicate takes one draw of u* per scale (`OptimumFit.draws`) and refits the
line by weighted least squares (weights 1/σ², σ the spread of that scale's draws). Scatter of the optima
beyond their own uncertainty (reduced χ² > 1) means the power law itself is doubtful: the draws are then
widened by √χ²_red (Birge ratio) instead of being trusted as they are.

A parametrization may promise an invariant optimum along the scale (`invariant=True`: μP in width, CompleteP
in depth). A promise is a prior, not a measurement (docs/planner.md, "Promises"): when γ's interval contains
0 the point estimate averages the promise (γ = 0: the precision-weighted mean of the optima) and the fitted
line by their BIC weights, but the interval stays the fitted line's band. The proxies cannot exclude any
drift inside that band, and a small true drift (μP's optimum does move a little) extrapolated over several
octaves puts the target outside the promise's own narrow band: keeping that band covered the truth in none
of the simulated studies with γ = −0.12. A γ whose interval excludes 0 refutes the promise: the target
follows the line and an `invariance_refuted` warning says so.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from orchestrator.planner.axis import HPAxis
from orchestrator.planner.numeric import finite, json_safe, percentile_interval, rng_from
from orchestrator.planner.optimum import OptimumFit
from orchestrator.planner.types import Interval, PlanWarning

MIN_SIGMA = 1e-3  # in u: an optimum known "exactly" (one sampled point) still gets a finite weight


@dataclass
class ScaleLaw:
    """The fitted transfer law of one HP over one scale variable, and its extrapolation to the target."""

    hparam: str
    scale_name: str  # "width" | "depth"
    scales: list[float]
    optima_u: list[float]
    sigmas: list[float]
    gamma: Interval  # slope of u* against log2(scale): 0 means "copy the value"
    intercept: float | None  # u* at scale 1
    gamma_compatible_with_zero: bool | None
    target_scale: float
    target: Interval  # HP units at the target scale
    target_u: Interval
    residual_rms: float | None  # fit quality (transfer-quality metric 1), in u units (octaves on log axes)
    reduced_chi2: float | None
    warnings: list[PlanWarning] = field(default_factory=list)
    draws_u: np.ndarray = field(default_factory=lambda: np.empty(0), repr=False)
    # the law the point comes from: "power_law" (the fitted line) or "invariant" (the promise held, so the
    # point averages γ = 0 and the line by `promise_weight`; the interval is still the line's band)
    model: str = "power_law"
    draws_gamma: np.ndarray = field(default_factory=lambda: np.empty(0), repr=False)  # the line's γ draws
    promise_weight: float | None = None  # BIC weight of γ = 0 against the free line; None: nothing promised

    @property
    def applied_line(self) -> tuple[float, float] | None:
        """(u₀, γ) of the line the point lies on: the fitted line, or under an averaged promise the line of
        slope (1 − w₀)·γ through the optima's weighted centroid, which the fitted line also passes through."""
        if self.intercept is None or self.gamma.value is None:
            return None
        if self.model != "invariant" or self.target_u.value is None:
            return float(self.intercept), float(self.gamma.value)
        slope = float(self.applied_gamma.value or 0.0)
        return float(self.target_u.value) - slope * math.log2(self.target_scale), slope

    @property
    def applied_gamma(self) -> Interval:
        """The slope the point uses, (1 − w₀)·γ̂ when the promise is averaged in, with the line's γ band: the
        drift the proxies cannot exclude is what any move along this scale must carry."""
        if self.model != "invariant" or self.gamma.value is None:
            return self.gamma
        value = (1.0 - (self.promise_weight or 0.0)) * self.gamma.value
        low = None if self.gamma.low is None else min(self.gamma.low, value)
        high = None if self.gamma.high is None else max(self.gamma.high, value)
        return Interval(value, low, high, self.gamma.level)

    def to_dict(self) -> dict[str, Any]:
        return json_safe(
            {
                "hparam": self.hparam,
                "scale_name": self.scale_name,
                "scales": self.scales,
                "optima_u": self.optima_u,
                "sigmas": self.sigmas,
                "gamma": self.gamma,
                "intercept": self.intercept,
                "gamma_compatible_with_zero": self.gamma_compatible_with_zero,
                "model": self.model,
                "promise_weight": self.promise_weight,
                "applied_gamma": self.applied_gamma,
                "target_scale": self.target_scale,
                "target": self.target,
                "target_u": self.target_u,
                "residual_rms": self.residual_rms,
                "reduced_chi2": self.reduced_chi2,
                "warnings": [w.to_dict() for w in self.warnings],
            }
        )


def fit_scale_law(
    axis: HPAxis,
    optima: list[OptimumFit],
    target_scale: float,
    *,
    scale_name: str = "width",
    level: float = 0.9,
    n_boot: int = 1000,
    seed: int | np.random.Generator | None = None,
    invariant: bool = False,
) -> ScaleLaw:
    """Fit u*(s) = u₀ + γ log2 s over the scales that have an optimum; extrapolate to `target_scale`.

    `invariant`: the parametrization promises γ = 0 along this scale (see the module docstring)."""
    rng = rng_from(seed)
    warnings: list[PlanWarning] = []

    def warn(code: str, message: str) -> None:
        warnings.append(PlanWarning(code, message, hparam=axis.name))

    usable = [o for o in optima if o.u is not None and math.isfinite(o.u) and o.scale > 0]
    scales = np.array([o.scale for o in usable], dtype=float)
    u = np.array([o.u for o in usable], dtype=float)
    sig = np.array([_sigma(o) for o in usable], dtype=float)
    none = Interval(None, None, None, level)
    if usable and len(usable) < len(optima):
        warn("missing_optima", f"{len(optima) - len(usable)} {scale_name}(s) had no optimum for {axis.name}")
    if len(usable) < 2:
        warn(
            "transfer_unfitted",
            f"{axis.name}: an optimum at {len(usable)} {scale_name}(s) cannot give a "
            f"transfer law; at least 2 are needed",
        )
        target_u = none if not usable else Interval(float(u[0]), *_bounds(usable[0].draws, level), level)
        return ScaleLaw(
            axis.name,
            scale_name,
            scales.tolist(),
            u.tolist(),
            sig.tolist(),
            none,
            None,
            None,
            target_scale,
            to_hp(axis, target_u),
            target_u,
            None,
            None,
            warnings,
        )

    x = np.log2(scales)
    xt = math.log2(target_scale)
    w = 1.0 / sig**2
    coef = _wls(x, u[None, :], w)[0]
    resid = u - (coef[0] + coef[1] * x)
    dof = len(usable) - 2
    chi2 = float(np.sum(w * resid**2) / dof) if dof > 0 else None
    if dof == 0:
        warn(
            "two_scales",
            f"{axis.name}: only 2 {scale_name}s, so the power law passes through both optima "
            "exactly and its form cannot be checked; add a third proxy size",
        )

    draws = np.stack([o.draws[rng.integers(0, o.draws.size, n_boot)] for o in usable], axis=1)
    boot = _wls(x, draws, w)
    inflate = math.sqrt(chi2) if chi2 is not None and chi2 > 1 else 1.0
    gammas = coef[1] + (boot[:, 1] - coef[1]) * inflate
    point_t = coef[0] + coef[1] * xt
    targets = point_t + (boot[:, 0] + boot[:, 1] * xt - point_t) * inflate
    if inflate > 1.5:
        warn(
            "poor_power_law",
            f"{axis.name}: the optima scatter {inflate:.1f}× more than their uncertainty "
            f"around the fitted law (reduced χ² {chi2:.2g}); the intervals were widened to match",
        )

    g_lo, g_hi = percentile_interval(gammas, level)
    t_lo, t_hi = percentile_interval(targets, level)
    gamma = Interval(float(coef[1]), _lo(g_lo, coef[1]), _hi(g_hi, coef[1]), level)
    target_u = Interval(float(point_t), _lo(t_lo, point_t), _hi(t_hi, point_t), level)
    compatible = gamma.contains(0.0)
    model = "power_law"
    weight = promise_weight(x, u, w, coef) if invariant else None
    if invariant and compatible:
        model = "invariant"
        mean = float(np.sum(w * u) / np.sum(w))
        averaged = float(weight * mean + (1.0 - weight) * point_t)  # type: ignore[operator]
        target_u = Interval(averaged, _lo(t_lo, averaged), _hi(t_hi, averaged), level)
        warn(
            "invariance_assumed",
            f"{axis.name}: γ = {coef[1]:.3g} {_bounds_text(gamma)} is compatible with 0, as this "
            f"parametrization promises over {scale_name}: the value at {scale_name} {target_scale:g} "
            f"averages the promise ({axis.from_u(mean):.3g}, weight {weight:.2f} by BIC) with the fitted "
            f"line ({axis.from_u(float(point_t)):.3g}); its interval is the line's band, since the proxies "
            "cannot exclude a drift inside it",
        )
    elif invariant:
        warn(
            "invariance_refuted",
            f"{axis.name}: γ = {coef[1]:.3g} {_bounds_text(gamma)} excludes 0, although this parametrization "
            f"promises an invariant optimum over {scale_name}: the target follows the fitted line; check the "
            "parametrization (coordinate check) and the proxies' budget",
        )
    return ScaleLaw(
        hparam=axis.name,
        scale_name=scale_name,
        scales=scales.tolist(),
        optima_u=u.tolist(),
        sigmas=sig.tolist(),
        gamma=gamma,
        intercept=float(coef[0]),
        gamma_compatible_with_zero=compatible,
        target_scale=target_scale,
        target=to_hp(axis, target_u),
        target_u=target_u,
        residual_rms=finite(float(np.sqrt(np.mean(resid**2)))),
        reduced_chi2=finite(chi2) if chi2 is not None else None,
        warnings=warnings,
        model=model,
        draws_u=targets,
        draws_gamma=gammas,
        promise_weight=finite(weight),
    )


def promise_weight(x: np.ndarray, u: np.ndarray, w: np.ndarray, coef: np.ndarray) -> float:
    """The BIC (Schwarz) weight of the promise γ = 0 against the free line, from the same weighted optima.

    BIC_k = χ²_k + p_k·ln n (p = 1 for the constant, 2 for the line) approximates each model's evidence
    with a unit-information prior; the weight is exp(−BIC_0/2) normalised over both. With n = 2 scales the
    line fits exactly, so the weight is at most 1/(1 + 2^−½) ≈ 0.59: two proxies never make the promise
    certain. When the line itself scatters beyond the optima's uncertainty (χ²_red > 1), both χ² are divided
    by that ratio (the optima's errors rescaled as in the Birge-widened bootstrap), so that misfit is not
    read as evidence against the promise."""
    n = u.size
    mean = float(np.sum(w * u) / np.sum(w))
    chi_line = float(np.sum(w * (u - coef[0] - coef[1] * x) ** 2))
    chi_const = float(np.sum(w * (u - mean) ** 2))
    scale = max(1.0, chi_line / (n - 2)) if n > 2 else 1.0
    delta = (chi_const - chi_line) / scale - math.log(n)  # BIC_const − BIC_line
    return float(1.0 / (1.0 + math.exp(min(delta / 2.0, 700.0))))


def _bounds_text(interval: Interval) -> str:
    if interval.low is None or interval.high is None:
        return "(interval unknown)"
    return f"({100 * interval.level:g} % interval [{interval.low:.3g}, {interval.high:.3g}])"


def _sigma(fit: OptimumFit) -> float:
    draws = fit.draws[np.isfinite(fit.draws)] if fit.draws.size else fit.draws
    return max(float(np.std(draws)) if draws.size > 1 else 0.0, MIN_SIGMA)


def _wls(x: np.ndarray, y: np.ndarray, w: np.ndarray) -> np.ndarray:
    """Weighted least squares of each row of y on [1, x]: returns (rows, 2) intercepts and slopes."""
    sw = np.sqrt(w)
    design = np.column_stack([np.ones_like(x), x]) * sw[:, None]
    return (np.linalg.pinv(design) @ (y * sw[None, :]).T).T


def _bounds(draws: np.ndarray, level: float) -> tuple[float | None, float | None]:
    return percentile_interval(draws, level) if draws.size else (None, None)


def _lo(bound: float | None, point: float) -> float | None:
    return None if bound is None else min(bound, float(point))


def _hi(bound: float | None, point: float) -> float | None:
    return None if bound is None else max(bound, float(point))


def to_hp(axis: HPAxis, interval: Interval) -> Interval:
    return Interval(
        axis.from_u(interval.value), axis.from_u(interval.low), axis.from_u(interval.high), interval.level
    )
