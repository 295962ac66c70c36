"""Loss against scale: L(N) = E + A·N^−α (Chinchilla approach 3; docs/planner.md) and its target prediction.

N is the non-embedding parameter count (or compute C = 6·N·tokens: the same fit with another variable).
The point fit is variable projection (docs/planner.md): for each α, E and A (both ≥ 0) are solved by least
squares, and α minimises a Huber loss (δ = 1e-3) of log L, first on a grid and then by Brent's method between
the best grid point's neighbours. Chinchilla's L-BFGS over all three parameters was tried and dropped: scipy's
L-BFGS-B calls multithreaded BLAS on 3-vectors and ran 25× slower on a loaded 2-core machine. The band is a
parametric bootstrap: each replicate perturbs log L by the larger of the point's seed noise and the fit's
residual scale and refits by variable projection.

Three parameters need four points before the fit can be checked at all. With two or three scales the law is
underdetermined, so the plan does not pretend otherwise: it fits a pure power law (E = 0, the most optimistic
extrapolation) and reports an interval reaching up to the widest proxy's loss (no further gain at all), with
a warning. A narrow interval from an exactly-determined fit would be a fake.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from scipy import optimize

from orchestrator.planner.numeric import finite, json_safe, percentile_interval, rng_from
from orchestrator.planner.types import Interval, PlanWarning

HUBER_DELTA = 1e-3
ALPHAS = np.geomspace(0.01, 3.0, 150)
MIN_FULL_FIT = 4


@dataclass
class LossLaw:
    variable: str  # "params" | "compute"
    form: str  # "E + A*x^-alpha" | "A*x^-alpha"
    E: float | None
    A: float | None
    alpha: float | None
    xs: list[float]
    losses: list[float]
    residual_rms: float | None  # in log L
    target_x: float
    prediction: Interval
    E_interval: Interval | None
    warnings: list[PlanWarning] = field(default_factory=list)

    def predict(self, x: float) -> float | None:
        if self.A is None or self.alpha is None:
            return None
        return (self.E or 0.0) + self.A * x ** (-self.alpha)

    def to_dict(self) -> dict[str, Any]:
        return json_safe(
            {
                k: getattr(self, k)
                for k in (
                    "variable",
                    "form",
                    "E",
                    "A",
                    "alpha",
                    "xs",
                    "losses",
                    "residual_rms",
                    "target_x",
                    "prediction",
                    "E_interval",
                )
            }
            | {"warnings": [w.to_dict() for w in self.warnings]}
        )


def fit_loss_law(
    xs: list[float] | np.ndarray,
    losses: list[float] | np.ndarray,
    target_x: float,
    *,
    sems: list[float] | np.ndarray | None = None,
    variable: str = "params",
    level: float = 0.9,
    n_boot: int = 400,
    seed: int | np.random.Generator | None = None,
) -> LossLaw:
    """Fit L(x) = E + A x^−α to the best loss per scale and predict it at `target_x` with an interval.

    `sems` are the standard errors of each loss over seeds (None or NaN: unknown); non-finite or non-positive
    points are dropped with a warning.
    """
    rng = rng_from(seed)
    x = np.asarray(xs, dtype=float)
    y = np.asarray(losses, dtype=float)
    se = np.full(x.shape, np.nan) if sems is None else np.asarray(sems, dtype=float)
    warnings: list[PlanWarning] = []

    def warn(code: str, message: str) -> None:
        warnings.append(PlanWarning(code, message))

    ok = np.isfinite(x) & np.isfinite(y) & (x > 0) & (y > 0)
    if not ok.all():
        warn(
            "loss_points_dropped",
            f"{int((~ok).sum())} scale(s) without a finite positive best loss were "
            "left out of the loss-vs-scale fit",
        )
    x, y, se = x[ok], y[ok], se[ok]
    order = np.argsort(x)
    x, y, se = x[order], y[order], se[order]
    rel_se = np.where(np.isfinite(se) & (se >= 0), se / y, 0.0)
    empty = Interval(None, None, None, level)
    base = dict(variable=variable, xs=x.tolist(), losses=y.tolist(), target_x=target_x)
    if x.size < 2 or not math.isfinite(target_x) or target_x <= 0:
        warn(
            "loss_law_unfitted",
            f"the loss-vs-{variable} law needs at least 2 scales with a finite loss; got {x.size}",
        )
        return LossLaw(
            form="none",
            E=None,
            A=None,
            alpha=None,
            residual_rms=None,
            prediction=empty,
            E_interval=None,
            warnings=warnings,
            **base,
        )
    if y[-1] >= y[0]:
        warn(
            "loss_not_decreasing",
            f"the best loss does not fall with {variable} ({y[0]:.4g} → {y[-1]:.4g}): "
            "the proxies may be undertrained or their HPs off; the loss prediction is not meaningful",
        )

    x0 = float(x[0])
    z, zt = x / x0, target_x / x0
    if x.size < MIN_FULL_FIT:
        return _power_law(z, y, zt, rel_se, x0, level, n_boot, rng, base, warnings)

    E, A, alpha = _huber_fit(z, y)
    fitted = E + A * z ** (-alpha)
    resid = np.log(y) - np.log(fitted)
    s_resid = math.sqrt(float(np.sum(resid**2)) / (x.size - 3)) if x.size > 3 else 0.0
    noise = np.maximum(rel_se, s_resid)
    boot_y = fitted[None, :] * np.exp(rng.normal(0.0, 1.0, (n_boot, x.size)) * noise[None, :])
    boot = _varpro(z, boot_y)
    preds = boot[:, 0] + boot[:, 1] * zt ** (-boot[:, 2])
    point = E + A * zt ** (-alpha)
    lo, hi = percentile_interval(preds, level)
    e_lo, e_hi = percentile_interval(boot[:, 0], level)
    if x.size < 5:
        warn(
            "loss_law_few_points",
            f"the 3-parameter loss law was fitted to only {x.size} scales; its band "
            "rests on a single residual degree of freedom",
        )
    if alpha <= ALPHAS[0] * 1.01 or alpha >= ALPHAS[-1] * 0.99:
        warn(
            "loss_law_alpha_at_bound",
            f"the fitted exponent α = {alpha:.3g} sits at the bound of its search "
            "range: the law is poorly constrained by these scales",
        )
    return LossLaw(
        form="E + A*x^-alpha",
        E=finite(E),
        A=finite(A * x0**alpha),
        alpha=finite(alpha),
        residual_rms=finite(float(np.sqrt(np.mean(resid**2)))),
        prediction=Interval(
            finite(point),
            finite(min(lo, point)) if lo is not None else None,
            finite(max(hi, point)) if hi is not None else None,
            level,
        ),
        E_interval=Interval(finite(E), finite(e_lo), finite(e_hi), level),
        warnings=warnings,
        **base,
    )


def _project(z: np.ndarray, ys: np.ndarray, alphas: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """For each row of ys and each α: the least-squares (E, A) with E, A ≥ 0, and the fitted curves."""
    f = z[None, :] ** (-alphas[:, None])  # (alphas, n)
    n = z.size
    sf, sff = f.sum(1), (f * f).sum(1)
    sy = ys.sum(1)  # (B,)
    syf = ys @ f.T  # (B, alphas)
    det = n * sff - sf**2
    with np.errstate(divide="ignore", invalid="ignore"):
        A = (n * syf - sf[None, :] * sy[:, None]) / det[None, :]
        E = (sy[:, None] - A * sf[None, :]) / n
        A_origin = syf / sff[None, :]  # E pinned at 0
    neg_e = E < 0
    E = np.where(neg_e, 0.0, E)
    A = np.where(neg_e, A_origin, A)
    neg_a = A < 0
    A = np.where(neg_a, 0.0, A)
    E = np.where(neg_a, (sy / n)[:, None], E)
    return E, A, E[:, :, None] + A[:, :, None] * f[None, :, :]


def _varpro(z: np.ndarray, ys: np.ndarray) -> np.ndarray:
    """Variable projection per row of ys: the best (E, A, α) over the α grid by least squares (bootstrap)."""
    E, A, pred = _project(z, ys, ALPHAS)
    sse = np.nansum((ys[:, None, :] - pred) ** 2, axis=2)
    best = np.argmin(np.where(np.isfinite(sse), sse, np.inf), axis=1)
    rows = np.arange(ys.shape[0])
    return np.column_stack([E[rows, best], A[rows, best], ALPHAS[best]])


def _huber_log(pred: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Σ Huber_δ(log pred − log y) over the last axis (Chinchilla's objective, δ = 1e-3)."""
    with np.errstate(divide="ignore", invalid="ignore"):
        r = np.log(np.where(pred > 0, pred, np.nan)) - np.log(y)
    small = np.abs(r) <= HUBER_DELTA
    loss = np.where(small, 0.5 * r**2, HUBER_DELTA * (np.abs(r) - 0.5 * HUBER_DELTA))
    return np.where(np.isnan(loss), np.inf, loss).sum(-1)


def _huber_fit(z: np.ndarray, y: np.ndarray) -> tuple[float, float, float]:
    """The point fit: α minimising the Huber loss of log L with (E, A) projected out, on the grid and then
    by Brent's method between the grid neighbours of the best grid point."""
    E, A, pred = _project(z, y[None, :], ALPHAS)
    objective = _huber_log(pred[0], y[None, :])
    i = int(np.argmin(objective))
    lo, hi = ALPHAS[max(i - 1, 0)], ALPHAS[min(i + 1, ALPHAS.size - 1)]

    def profile(alpha: float) -> float:
        return float(_huber_log(_project(z, y[None, :], np.array([alpha]))[2][0], y[None, :])[0])

    result = optimize.minimize_scalar(profile, bounds=(lo, hi), method="bounded", options={"xatol": 1e-6})
    alpha = float(result.x) if result.success and result.fun <= objective[i] else float(ALPHAS[i])
    E1, A1, _ = _project(z, y[None, :], np.array([alpha]))
    return float(E1[0, 0]), float(A1[0, 0]), alpha


def _power_law(
    z: np.ndarray,
    y: np.ndarray,
    zt: float,
    rel_se: np.ndarray,
    x0: float,
    level: float,
    n_boot: int,
    rng: np.random.Generator,
    base: dict[str, Any],
    warnings: list[PlanWarning],
) -> LossLaw:
    """Two or three scales: L = A·x^−α (E = 0), with an interval up to the widest proxy's loss."""
    lz, ly = np.log(z), np.log(y)
    slope, intercept = np.polyfit(lz, ly, 1)
    slope = min(float(slope), 0.0)
    intercept = float(np.mean(ly - slope * lz))
    resid = ly - (intercept + slope * lz)
    s_resid = math.sqrt(float(np.sum(resid**2)) / (z.size - 2)) if z.size > 2 else 0.0
    noise = np.maximum(rel_se, s_resid)
    boot = ly[None, :] + rng.normal(0.0, 1.0, (n_boot, z.size)) * noise[None, :]
    fits = np.array([np.polyfit(lz, row, 1) for row in boot])
    preds = np.exp(fits[:, 1] + np.minimum(fits[:, 0], 0.0) * math.log(zt))
    point = math.exp(intercept + slope * math.log(zt))
    lo, _ = percentile_interval(preds, level)
    ceiling = float(y[-1] * math.exp(2 * noise[-1]))
    warnings.append(
        PlanWarning(
            "loss_law_underdetermined",
            f"only {z.size} scales: E + A·N^-α cannot be fitted, so the prediction is a pure power law "
            "(no irreducible loss, the optimistic end) and the interval reaches up to the widest proxy's "
            "loss (no gain at all); add proxy sizes (≥ 4) to narrow it",
        )
    )
    return LossLaw(
        form="A*x^-alpha",
        E=None,
        A=finite(math.exp(intercept) * x0 ** (-slope)),
        alpha=finite(-slope),
        residual_rms=finite(float(np.sqrt(np.mean(resid**2)))),
        prediction=Interval(
            finite(point),
            finite(min(lo if lo is not None else point, point)),
            finite(max(ceiling, point)),
            level,
        ),
        E_interval=None,
        warnings=warnings,
        **base,
    )
