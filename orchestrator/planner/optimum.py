"""The optimum of one hyperparameter at one scale (width or depth), with a bootstrap interval.

Method (docs/planner.md): in u = log2(HP), fit L(u) = a·u² + b·u + c by least
squares to the points nearest the best one, require a > 0 and take u* = −b/2a. The window is the k distinct
HP values nearest the best, k = max(5, half of them): a parabola is only a local model of the loss curve, and
Open-Athena (2026) shows wide or off-centre windows bias u*. When the window is visibly skewed (a cubic's
minimum lies more than SKEW_SHIFT from the parabola's vertex) a log axis narrows it to the points within 1.5
octaves of the best (at least 3). An exact fit through three points has no residuals to resample: its
bootstrap adds noise at the scale of the wide window's scatter instead, or, without one, the optimum is known
to the grid's resolution.

The interval is a residual bootstrap with the design held fixed (each replicate resamples the fit's residuals,
seed-to-seed noise and lack of fit alike, and refits), so a grid with one seed per point still gets an
interval; its spread is widened by t/z for the few residual degrees of freedom. A replicate whose parabola has
no minimum (a ≤ 0) draws u* uniformly across the window ("could be anywhere here") instead of being dropped.
Real loss curves are skewed (steeper toward divergence), which shifts a parabola's vertex by more than noise
does: the interval is stretched to also cover the same interval moved to a cubic's local minimum. Diverged
trials are left out of the fit but bound u*: the optimum cannot lie beyond a value that diverged.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from scipy import stats

from orchestrator.planner.axis import HPAxis
from orchestrator.planner.numeric import finite, json_safe, percentile_interval, rng_from
from orchestrator.planner.types import Interval, PlanWarning

RECOMMENDED_POINTS = 5  # distinct HP values a parabola needs to be more than an interpolation
MIN_WINDOW = 5
UNCERTAIN_FRACTION = 0.05  # bootstrap replicates without a minimum before the optimum is called uncertain
OFF_CENTRE = 0.3  # |u* − window centre| above this fraction of the window span: the window is off-centre
SKEW_SHIFT = (
    0.25  # a cubic's optimum this far (in u) from the parabola's, beyond noise: the window is too wide
)
LOCAL_OCTAVES = 1.5  # log axes: the parabola is fitted to the points within this many octaves of the best
GROUP_DECIMALS = 9  # HP values equal to this many decimals (in u) are replicates of one point


@dataclass
class OptimumFit:
    """Where the loss is lowest along one HP at one scale; `u` is log2(HP) for log axes."""

    hparam: str
    scale: float
    optimum: Interval  # HP units
    u: float | None
    u_low: float | None
    u_high: float | None
    method: str  # "quadratic" | "best_point" | "none"
    n_points: int  # finite points in the fit window
    n_distinct: int  # distinct finite HP values overall
    n_diverged: int
    best_loss: float | None  # the fitted minimum (quadratic) or the best observed mean loss
    coefficients: tuple[float, float, float] | None  # (a, b, c) of L(u) = a u² + b u + c
    suggested_range: tuple[float, float] | None  # HP units, when the optimum sits at the edge
    warnings: list[PlanWarning] = field(default_factory=list)
    draws: np.ndarray = field(default_factory=lambda: np.empty(0), repr=False)  # bootstrap u*
    # the scatter of the window's losses around the parabola (√(SSE/(n−3))): one run's noise plus lack of
    # fit, which is what the loss law falls back on when a configuration has a single seed
    residual_std: float | None = None
    # the range of u the parabola was fitted over: where `loss_at` describes measured losses (a backtest
    # reads a held-out cell's loss there, docs/import.md)
    window_u: tuple[float, float] | None = None

    def loss_at(self, u: float) -> float | None:
        """The fitted loss curve at u (None without a parabola): the extrapolation metric reads it."""
        if self.coefficients is None:
            return None
        a, b, c = self.coefficients
        return a * u * u + b * u + c

    def to_dict(self) -> dict[str, Any]:
        return json_safe(
            {
                "hparam": self.hparam,
                "scale": self.scale,
                "value": self.optimum.value,
                "low": self.optimum.low,
                "high": self.optimum.high,
                "level": self.optimum.level,
                "u": self.u,
                "u_low": self.u_low,
                "u_high": self.u_high,
                "method": self.method,
                "n_points": self.n_points,
                "n_distinct": self.n_distinct,
                "n_diverged": self.n_diverged,
                "best_loss": self.best_loss,
                "residual_std": self.residual_std,
                "coefficients": self.coefficients,
                "suggested_range": self.suggested_range,
                "warnings": [w.to_dict() for w in self.warnings],
            }
        )


def fit_optimum(
    axis: HPAxis,
    values: np.ndarray | list[float],
    losses: np.ndarray | list[float | None],
    diverged: np.ndarray | list[bool] | None = None,
    *,
    scale: float = 0.0,
    level: float = 0.9,
    n_boot: int = 1000,
    seed: int | np.random.Generator | None = None,
) -> OptimumFit:
    """Fit the optimum of `axis` from trials (HP value, final loss, diverged?) at one `scale`.

    NaN/inf losses count as diverged; invalid HP values (≤ 0 on a log axis, NaN) are ignored with a warning.
    """
    rng = rng_from(seed)
    values = np.asarray(values, dtype=float)
    raw = np.asarray([np.nan if v is None else v for v in losses], dtype=float)
    div = np.zeros(values.shape, bool) if diverged is None else np.asarray(diverged, dtype=bool)
    warn = _Collector(axis.name, scale)
    u = axis.to_u(values)
    bad_u = ~np.isfinite(u)
    if bad_u.any():
        warn(
            "invalid_values",
            f"{int(bad_u.sum())} trial(s) had an invalid {axis.name} (NaN, or ≤ 0 on a log "
            "axis) and were ignored",
        )
    div = (div | ~np.isfinite(raw)) & ~bad_u
    ok = ~bad_u & ~div
    u_ok, y_ok, u_div = u[ok], raw[ok], u[div]
    if u_ok.size == 0:
        code, what = (
            ("all_diverged", "every trial diverged") if u_div.size else ("no_data", "no finite trials")
        )
        warn(
            code, f"{what}: no optimum for {axis.name} at scale {scale:g}; lower the range or check the runs"
        )
        return _empty(axis, scale, level, int(u_div.size), warn.items)

    keys = np.round(u_ok, GROUP_DECIMALS)
    distinct, inverse = np.unique(keys, return_inverse=True)
    means = np.bincount(inverse, weights=y_ok) / np.bincount(inverse)
    ibest = int(np.argmin(means))
    u_best = float(distinct[ibest])
    div_lo, div_hi = _divergence_bounds(u_div, u_best)

    order = np.argsort(np.abs(distinct - u_best), kind="stable")
    k = min(distinct.size, max(MIN_WINDOW, math.ceil(distinct.size / 2)))
    wide = np.sort(distinct[order[:k]])
    in_wide = np.isin(keys, wide)
    u_wide, y_wide = u_ok[in_wide] - u_best, y_ok[in_wide]  # centred on the best point, as the fit below
    window = wide
    if axis.log and _skew_shift(u_wide, y_wide, wide - u_best) > SKEW_SHIFT:
        window = _local_window(distinct, order, u_best)
        if window.size < wide.size:
            warn(
                "narrowed_window",
                f"the loss along {axis.name} at scale {scale:g} is skewed over the {wide.size} points "
                f"nearest the best (a cubic's optimum differs from the parabola's by more than "
                f"{SKEW_SHIFT:g} octave): the parabola was fitted to the {window.size} within "
                f"{LOCAL_OCTAVES:g} octaves instead",
            )
    in_window = np.isin(keys, window)
    uw, yw = u_ok[in_window] - u_best, y_ok[in_window]  # centred on the best point for conditioning

    coeffs: tuple[float, float, float] | None = None
    # the scatter around a parabola over the wide window: one run's noise plus lack of fit (the loss law's
    # fallback noise, and the noise scale of an exact three-point fit's bootstrap)
    residual_std = _scatter(u_wide, y_wide)
    if distinct.size < RECOMMENDED_POINTS:
        warn(
            "too_few_points",
            f"only {distinct.size} distinct finite {axis.name} value(s) at scale {scale:g}; "
            f"a reliable parabola needs ≥ {RECOMMENDED_POINTS}: sample more points",
        )
    if window.size >= 3:
        design = np.column_stack([uw**2, uw, np.ones_like(uw)])
        a, b, c = np.linalg.lstsq(design, yw, rcond=None)[0]
        if a > 0:
            coeffs = (float(a), float(b), float(c))
        else:
            warn(
                "no_curvature",
                f"the loss has no minimum along {axis.name} near the best point at scale "
                f"{scale:g} (fitted curvature a = {a:.3g} ≤ 0); using the best observed point instead",
            )

    if coeffs is not None:
        a, b, c = coeffs
        u_star = u_best - b / (2 * a)
        best_loss = c - b * b / (4 * a)
        if yw.size > 3:
            draws = _bootstrap(design, yw, window - u_best, level, n_boot, rng) + u_best
        elif residual_std is not None and wide.size > window.size:
            draws = _noise_bootstrap(design, yw, window - u_best, residual_std, level, n_boot, rng) + u_best
        else:  # an exact fit through three points and no noise estimate: known to the grid's resolution
            draws = _grid_resolution_draws(distinct, ibest, n_boot, rng)
        cubic = _cubic_minimum(u_wide, y_wide, wide - u_best)  # the wide window's, even when the fit narrowed
        method = "quadratic"
    else:
        u_star = u_best
        best_loss = float(means[ibest])
        draws = _grid_resolution_draws(distinct, ibest, n_boot, rng)
        cubic = None
        method = "best_point"

    span = float(window[-1] - window[0]) if window.size > 1 else 1.0
    lo_clip = max(div_lo, float(window[0]) - span)
    hi_clip = min(div_hi, float(window[-1]) + span)
    if not lo_clip <= u_star <= hi_clip:
        warn(
            "clipped",
            f"the fitted optimum of {axis.name} at scale {scale:g} lay beyond the fitted window or "
            "a diverged value; it was clipped to that bound",
        )
    u_star = float(np.clip(u_star, lo_clip, hi_clip))
    draws = np.clip(draws, lo_clip, hi_clip)
    u_low, u_high = percentile_interval(draws, level)
    if u_low is not None and u_high is not None:
        # the union of the parabola's interval and the same interval moved to the cubic's estimate
        shift = 0.0 if cubic is None else float(np.clip(cubic + u_best, lo_clip, hi_clip)) - u_star
        if abs(shift) > max(SKEW_SHIFT, (u_high - u_low) / 2):
            warn(
                "skewed_window",
                f"the loss along {axis.name} at scale {scale:g} is skewed over the fitted "
                f"window: a cubic puts the optimum {shift:+.2f} from the parabola's; the interval covers "
                "both, and a denser grid near the optimum would narrow it",
            )
        u_low, u_high = min(u_low, u_star, u_low + shift), max(u_high, u_star, u_high + shift)

    u_all = np.concatenate([u_ok, u_div])
    searched = axis.searched_u(u_all)
    suggested = _edge(axis, scale, u_best, u_star, u_all, searched, (div_lo, div_hi), warn)
    if method == "quadratic":
        _centre(axis, scale, u_star, window, warn)

    return OptimumFit(
        hparam=axis.name,
        scale=scale,
        optimum=Interval(axis.from_u(u_star), axis.from_u(u_low), axis.from_u(u_high), level),
        u=u_star,
        u_low=u_low,
        u_high=u_high,
        method=method,
        n_points=int(in_window.sum()),
        n_distinct=int(distinct.size),
        n_diverged=int(u_div.size),
        best_loss=finite(best_loss),
        coefficients=None if coeffs is None else _uncentre(coeffs, u_best),
        suggested_range=suggested,
        warnings=warn.items,
        draws=draws,
        residual_std=residual_std,
        window_u=(float(window[0]), float(window[-1])) if coeffs is not None else None,
    )


class _Collector:
    def __init__(self, hparam: str, scale: float) -> None:
        self.hparam, self.scale, self.items = hparam, scale, []

    def __call__(self, code: str, message: str) -> None:
        self.items.append(PlanWarning(code, message, hparam=self.hparam, scale=self.scale))


def _empty(axis: HPAxis, scale: float, level: float, n_div: int, warnings: list[PlanWarning]) -> OptimumFit:
    return OptimumFit(
        axis.name,
        scale,
        Interval(None, None, None, level),
        None,
        None,
        None,
        "none",
        0,
        0,
        n_div,
        None,
        None,
        None,
        warnings,
    )


def _divergence_bounds(u_div: np.ndarray, u_best: float) -> tuple[float, float]:
    """The nearest diverged values on each side of the best point (±inf when none)."""
    above, below = u_div[u_div > u_best], u_div[u_div < u_best]
    return (float(below.max()) if below.size else -math.inf, float(above.min()) if above.size else math.inf)


def _bootstrap(
    design: np.ndarray, y: np.ndarray, window: np.ndarray, level: float, n_boot: int, rng: np.random.Generator
) -> np.ndarray:
    """Residual bootstrap of u* (design fixed); replicates without a minimum draw u* across the window.

    Residuals are leverage-corrected (r / √(1 − h)), and the spread of the draws is widened by t/z for the
    residual degrees of freedom: a plain percentile bootstrap on 5-10 points covers ~77 % for a nominal 90 %.
    """
    n = y.size
    pinv = np.linalg.pinv(design)
    coef = pinv @ y
    fitted = design @ coef
    leverage = np.clip(np.einsum("ij,ji->i", design, pinv), 0.0, 0.99)
    resid = (y - fitted) / np.sqrt(1.0 - leverage)
    resid = resid - resid.mean()
    idx = rng.integers(0, n, size=(n_boot, n))
    coefs = (fitted[None, :] + resid[idx]) @ pinv.T
    a, b = coefs[:, 0], coefs[:, 1]
    with np.errstate(divide="ignore", invalid="ignore"):
        u = np.where(a > 0, -b / (2 * a), np.nan)
    missing = ~np.isfinite(u)
    u[missing] = rng.uniform(window[0], window[-1], size=int(missing.sum()))
    centre = -coef[1] / (2 * coef[0])
    dof = max(n - 3, 1)
    tail = 1 - (1 - level) / 2
    return centre + (u - centre) * float(stats.t.ppf(tail, dof) / stats.norm.ppf(tail))


def _parabola(x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Least-squares (a, b, c) of y = a·x² + b·x + c, and the fitted values."""
    design = np.column_stack([x**2, x, np.ones_like(x)])
    coef = np.linalg.lstsq(design, y, rcond=None)[0]
    return coef, design @ coef


def _skew_shift(x: np.ndarray, y: np.ndarray, window: np.ndarray) -> float:
    """|cubic's local minimum − parabola's vertex| over a window (0 when either has none)."""
    (a, b, _), _ = _parabola(x, y)
    cubic = _cubic_minimum(x, y, window)
    if a <= 0 or cubic is None:
        return 0.0
    return abs(cubic + b / (2 * a))


def _local_window(distinct: np.ndarray, order: np.ndarray, u_best: float) -> np.ndarray:
    """The points within LOCAL_OCTAVES of the best (at least its 3 nearest). A parabola is a local model: a
    loss curve steeper toward divergence pulls a wide window's vertex away from the optimum by more than
    noise does (Open-Athena 2026), and on a coarse grid (an octave apart) that pull differs between widths
    and reads as a drift of the optimum."""
    near = distinct[np.abs(distinct - u_best) <= LOCAL_OCTAVES + 1e-9]
    if near.size < 3:
        near = distinct[order[: min(3, distinct.size)]]
    return np.sort(near)


def _scatter(x: np.ndarray, y: np.ndarray) -> float | None:
    """√(SSE/(n−3)) of a parabola through the points; None with ≤ 3 (no residual freedom)."""
    if y.size <= 3:
        return None
    _, fitted = _parabola(x, y)
    return finite(math.sqrt(float(np.sum((fitted - y) ** 2)) / (y.size - 3)))


def _noise_bootstrap(
    design: np.ndarray,
    y: np.ndarray,
    window: np.ndarray,
    noise: float,
    level: float,
    n_boot: int,
    rng: np.random.Generator,
) -> np.ndarray:
    """Parametric bootstrap of an exact three-point fit: each replicate adds N(0, noise²) to the fitted
    losses (noise: the wide window's scatter, lack of fit included, so conservative) and refits."""
    pinv = np.linalg.pinv(design)
    fitted = design @ (pinv @ y)
    coefs = (fitted[None, :] + rng.normal(0.0, noise, size=(n_boot, y.size))) @ pinv.T
    a, b = coefs[:, 0], coefs[:, 1]
    with np.errstate(divide="ignore", invalid="ignore"):
        u = np.where(a > 0, -b / (2 * a), np.nan)
    missing = ~np.isfinite(u)
    u[missing] = rng.uniform(window[0], window[-1], size=int(missing.sum()))
    return u


def _cubic_minimum(u: np.ndarray, y: np.ndarray, window: np.ndarray) -> float | None:
    """The local minimum of a cubic fitted to the window, if it has one inside it.

    Real loss curves are skewed (steeper toward divergence), which shifts a parabola's vertex; the bootstrap
    only sees noise, so the interval is stretched to include this shape-aware estimate as well.
    """
    if window.size < 5:
        return None
    d, c2, c1, _ = np.linalg.lstsq(np.column_stack([u**3, u**2, u, np.ones_like(u)]), y, rcond=None)[0]
    roots = np.roots([3 * d, 2 * c2, c1]) if abs(d) > 1e-15 else np.array([-c1 / (2 * c2)]) if c2 > 0 else []
    for r in np.atleast_1d(roots):
        if np.isreal(r) and 6 * d * r.real + 2 * c2 > 0 and window[0] <= r.real <= window[-1]:
            return float(r.real)
    return None


def _grid_resolution_draws(
    distinct: np.ndarray, ibest: int, n_boot: int, rng: np.random.Generator
) -> np.ndarray:
    """Without a parabola the optimum is known to within half the spacing to the neighbouring samples."""
    u0 = float(distinct[ibest])
    left = u0 - distinct[ibest - 1] if ibest > 0 else None
    right = distinct[ibest + 1] - u0 if ibest + 1 < distinct.size else None
    left = right if left is None else left
    right = left if right is None else right
    if left is None or right is None:
        return np.full(n_boot, u0)
    return rng.uniform(u0 - left / 2, u0 + right / 2, size=n_boot)


def _uncentre(coeffs: tuple[float, float, float], shift: float) -> tuple[float, float, float]:
    """Coefficients fitted in (u − shift) rewritten for u itself."""
    a, b, c = coeffs
    return a, b - 2 * a * shift, a * shift * shift - b * shift + c


def _edge(
    axis: HPAxis,
    scale: float,
    u_best: float,
    u_star: float,
    u_all: np.ndarray,
    searched: tuple[float, float],
    bounds: tuple[float, float],
    warn: _Collector,
) -> tuple[float, float] | None:
    """Flag an optimum at the edge of what was sampled, and suggest a range of the same span centred on it."""
    sampled = np.unique(np.round(u_all, GROUP_DECIMALS))
    lo, hi = searched
    half = (hi - lo) / 2 if hi > lo else 1.0
    at_low = sampled.size >= 3 and (u_best <= sampled[0] or u_star < sampled[0])
    at_high = sampled.size >= 3 and (u_best >= sampled[-1] or u_star > sampled[-1])
    if not (at_low or at_high):
        return None
    edge = float(sampled[0] if at_low else sampled[-1])
    centre = float(np.clip(u_star, edge - half, edge + half)) if u_star != u_best else edge
    new_lo, new_hi = max(centre - half, bounds[0]), min(centre + half, bounds[1])
    suggested = (axis.from_u(new_lo), axis.from_u(new_hi))
    side = "lowest" if at_low else "highest"
    text = f"[{suggested[0]:.4g}, {suggested[1]:.4g}]" if None not in suggested else "a wider range"
    warn(
        "edge_of_range",
        f"the optimum of {axis.name} at scale {scale:g} is at the {side} value searched; "
        f"widen and resample, e.g. {text}",
    )
    return None if None in suggested else (float(suggested[0]), float(suggested[1]))  # type: ignore[arg-type]


def _centre(axis: HPAxis, scale: float, u_star: float, window: np.ndarray, warn: _Collector) -> None:
    """Open-Athena (2026): a parabola fitted to points mostly on one side of the optimum is biased."""
    span = float(window[-1] - window[0])
    mid = float(window[0] + window[-1]) / 2
    left, right = int((window < u_star).sum()), int((window > u_star).sum())
    # at least 2 points on each side (1 in a 3-point window around the best)
    if span > 0 and (
        abs(u_star - mid) > OFF_CENTRE * span or min(left, right) < min(2, (window.size - 1) // 2)
    ):
        warn(
            "off_centre",
            f"the points fitted for {axis.name} at scale {scale:g} lie mostly on one side of the "
            f"optimum ({left} below, {right} above); resample centred on {axis.from_u(u_star):.4g}",
        )
