"""The joint optimum of two or more hyperparameters at one cell (one model size and budget), with intervals.

Why: the per-HP method (`profile.py` + `optimum.py`) fits each HP along the slice through the best grid point
of the others. When the HPs interact (the best learning rate depends on the initialisation scale, so the loss
bowl is tilted in u), that slice misses the valley: the conditional optimum along the slice is off by the
correlation times the best grid point's distance from the true optimum in the other HPs, and its interval
does not know this. Fitting one quadratic surface to all the nearby configurations finds the bottom of the
tilted bowl instead.

Method. Coordinates are u_i = axis.to_u(value) (log2 on log axes), as in the 1-D fit. Completed trials with a
finite loss enter the fit; the seeds of one configuration are averaged and the mean weighted by their count
(the mean of n seeds has 1/n of one seed's variance). With k HPs a full quadratic
L(u) = c + g·(u − u₀) + ½ (u − u₀)ᵀ H (u − u₀), centred on the best configuration u₀, has p = 1 + k + k(k+1)/2
coefficients (6 for k = 2, 10 for k = 3). The window is the configurations nearest u₀ in the u-distance
normalised by each axis's sampled span: half of them, as the 1-D rule, and at least p + 3 so the residuals
have some freedom; configurations tied at the cut-off are all kept (a grid's window stays symmetric), and it
grows until every HP has three distinct values in it and the design has full rank. A quadratic is only a local
model of the loss, which is why the window is not the whole grid. Where noise leaves the local window's
surface without a minimum (an HP whose curvature is weak over half the grid), the surface is refitted to all
configurations, which see more of that curvature, with a `widened_window` warning; only if that has no
minimum either is the fit refused.

Refusals: fewer than p + 2 distinct configurations, an HP with fewer than three distinct values (no curvature
along it), a Hessian that is not positive definite (a saddle or a ridge: no single best point), and an optimum
beyond the searched range by more than half that axis's span (the data say only "further out"). A refusal is a
`SurfaceFit` with `method == "refused"` and a sentence in `reason` saying what to sample; callers fall back on
the per-HP fit.

The optimum is u* = u₀ − H⁻¹g. Diverged trials are left out of the fit but bound u*, as in 1-D: a diverged
configuration on u₀'s line along one HP (the same values of the others, within half a grid step) bounds u*
along that HP: the optimum cannot lie beyond a value that diverged at the best setting of the others. Where
u* lies beyond such a bound it is moved to the minimum of the fitted surface inside the bounds (a
box-constrained quadratic), not clipped axis by axis, so a tilted bowl keeps the other HPs on its valley; a
`diverged_bound` warning says so. Diverged configurations off that line bound nothing (a larger init scale
diverges at a lower LR than the best one does).

The interval is a residual bootstrap with the design fixed, as in 1-D: each replicate resamples the window's
leverage-corrected residuals (in the count-weighted scale, so one run's noise plus lack of fit), refits the
surface and takes its minimum. A replicate whose Hessian is not positive definite draws its optimum uniformly
over the window's bounding box ("could be anywhere here") instead of being dropped. The spread of the draws is
widened by t/z for the few residual degrees of freedom (n_configs − p), then the draws are held inside the
divergence bounds and the searched range ± half its span. Per HP the interval is the draws' central `level`
percentile range (stretched to include the point); the fitted minimum loss gets its interval the same way.
The 1-D fit's cubic skew check has no counterpart here: a skewed bowl biases the surface's vertex the way it
biases a parabola's, and the window (half the configurations) is the only guard.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from scipy import stats

from orchestrator.planner.axis import HPAxis
from orchestrator.planner.numeric import finite, json_safe, percentile_interval, rng_from
from orchestrator.planner.optimum import GROUP_DECIMALS, UNCERTAIN_FRACTION
from orchestrator.planner.types import Interval, PlanWarning, TrialResult

# More bootstrap replicates than this without a minimum: the runs do not determine a joint minimum, and the
# per-HP fits along the slice (which handle a flat direction one HP at a time) are used instead. The demo's
# 5 × 3 grid (lr × init scale, one seed) has 14-31 % such replicates at its three widths.
UNDETERMINED_FRACTION = 0.10

N_BOOT = 1000
MIN_DISTINCT = 3  # distinct values an HP needs for a curvature along it
EXTRA_CONFIGS = 3  # the window holds at least p + this many configurations (residual freedom)
MIN_EXTRA_TOTAL = 2  # fewer than p + this many configurations in all: refused
OUTSIDE_FRACTION = 0.5  # an optimum beyond the searched range by more than this fraction of its span: refused
EIGEN_TOLERANCE = 1e-9  # the Hessian's smallest eigenvalue must exceed this fraction of its largest


def n_coefficients(k: int) -> int:
    """p = 1 + k + k(k+1)/2: the coefficients of a full quadratic in k variables."""
    return 1 + k + k * (k + 1) // 2


@dataclass
class SurfaceFit:
    """The joint optimum of `hparams` at one cell; u is log2(HP) on log axes (see the module docstring)."""

    hparams: list[str]  # axis names, in the order given
    method: str  # "quadratic_surface" | "refused"
    reason: str | None  # why refused (a sentence a user can act on); None when fitted
    optimum: dict[str, Interval]  # per HP, HP units; empty when refused
    u: dict[str, float]  # the joint optimum in fit coordinates; empty when refused
    draws: np.ndarray = field(repr=False)  # bootstrap optima, (n_draws, k) in u; empty when refused
    best_loss: float | None  # the fitted minimum loss
    best_loss_interval: Interval | None
    n_points: int  # finite trials in the fit window
    n_configs: int  # distinct configurations in the fit window
    # {"center": [...], "c": float, "g": [...], "H": [[...]]}:
    # L(u) = c + g·(u − center) + ½ (u − center)ᵀ H (u − center)
    coefficients: dict[str, Any] | None
    residual_std: float | None  # √(weighted SSE / (n_configs − p)): one run's noise plus lack of fit
    warnings: list[PlanWarning] = field(default_factory=list)
    window: dict[str, tuple[float, float]] = field(default_factory=dict)  # per HP, min..max of u fitted
    n_diverged: int = 0  # diverged trials seen (left out of the fit, bounding the optimum)

    def loss_at(self, point_u: dict[str, float]) -> float | None:
        """The fitted surface at a point in u (every HP needed); None when refused."""
        if self.coefficients is None:
            return None
        d = np.array([float(point_u[h]) for h in self.hparams]) - np.asarray(self.coefficients["center"])
        g, hess = np.asarray(self.coefficients["g"]), np.asarray(self.coefficients["H"])
        return float(self.coefficients["c"] + g @ d + 0.5 * d @ hess @ d)

    def inside_window(self, point_u: dict[str, float]) -> bool:
        """Whether a point in u lies within the fitted window's bounding box (False when refused)."""
        if not self.window:
            return False
        return all(lo - 1e-9 <= float(point_u[h]) <= hi + 1e-9 for h, (lo, hi) in self.window.items())

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe, without the draws."""
        return json_safe(
            {
                "hparams": self.hparams,
                "method": self.method,
                "reason": self.reason,
                "optimum": {
                    h: {"value": i.value, "low": i.low, "high": i.high, "level": i.level}
                    for h, i in self.optimum.items()
                },
                "u": self.u,
                "best_loss": self.best_loss,
                "best_loss_interval": None
                if self.best_loss_interval is None
                else {
                    "value": self.best_loss_interval.value,
                    "low": self.best_loss_interval.low,
                    "high": self.best_loss_interval.high,
                    "level": self.best_loss_interval.level,
                },
                "n_points": self.n_points,
                "n_configs": self.n_configs,
                "n_diverged": self.n_diverged,
                "coefficients": self.coefficients,
                "residual_std": self.residual_std,
                "window": {h: list(b) for h, b in self.window.items()},
                "warnings": [w.to_dict() for w in self.warnings],
            }
        )


def fit_surface(
    axes: list[HPAxis], trials: list[TrialResult], *, level: float = 0.9, seed: int = 0
) -> SurfaceFit:
    """Fit the joint optimum of `axes` from the trials of one cell (one model size and budget).

    Trials missing one of the HPs, pruned trials and invalid HP values are ignored with a warning; trials from
    more than one cell are fitted together with a `mixed_cells` warning (the caller should split them).
    """
    names = [a.name for a in axes]
    k = len(axes)
    p = n_coefficients(k)
    warnings: list[PlanWarning] = []

    def warn(code: str, message: str, hparam: str | None = None) -> None:
        warnings.append(PlanWarning(code, message, hparam=hparam))

    def refuse(reason: str, n_div: int = 0) -> SurfaceFit:
        return _refused(names, reason, warnings, n_div)

    if k < 2 or len(set(names)) != k:
        return refuse("a joint surface needs two or more distinct HPs; fit a single HP with fit_optimum")

    usable = [t for t in trials if t.is_usable]
    if len(usable) < len(trials):
        warn(
            "not_usable", f"{len(trials) - len(usable)} trial(s) neither completed nor diverged were ignored"
        )
    cells = {(t.parametrization, t.width, t.depth, t.tokens, t.batch_size) for t in usable}
    if len(cells) > 1:
        warn(
            "mixed_cells",
            f"the trials come from {len(cells)} cells (parametrization, width, depth, budget); a surface "
            "describes one: fit each cell separately",
        )
    complete = [t for t in usable if all(n in t.hparams for n in names)]
    if len(complete) < len(usable):
        warn(
            "missing_hparams",
            f"{len(usable) - len(complete)} trial(s) lacked one of {names} and were ignored",
        )
    u_all = np.array(
        [[float(a.to_u(np.array([t.hparams[a.name]], dtype=float))[0]) for a in axes] for t in complete],
        dtype=float,
    ).reshape(-1, k)
    bad = ~np.all(np.isfinite(u_all), axis=1)
    if bad.any():
        warn(
            "invalid_values",
            f"{int(bad.sum())} trial(s) had an invalid HP value (NaN, or ≤ 0 on a log axis) and were ignored",
        )
    diverged = np.array([t.is_diverged for t in complete], dtype=bool) & ~bad
    ok = ~bad & ~diverged
    losses = np.array(
        [np.nan if t.final_loss is None else float(t.final_loss) for t in complete], dtype=float
    )
    u_ok, y_ok, u_div = u_all[ok], losses[ok], u_all[diverged]
    n_div = int(u_div.shape[0])
    if u_ok.shape[0] == 0:
        what = "every trial diverged" if n_div else "there are no finite trials"
        return refuse(f"{what}: no surface can be fitted; lower the range or check the runs", n_div)

    # the configurations: replicate seeds averaged, weighted by their count
    keys = np.round(u_ok, GROUP_DECIMALS)
    configs, inverse, counts = np.unique(keys, axis=0, return_inverse=True, return_counts=True)
    inverse = inverse.reshape(-1)
    means = np.bincount(inverse, weights=y_ok) / counts
    m = configs.shape[0]
    for i, name in enumerate(names):
        distinct = np.unique(configs[:, i]).size
        if distinct < MIN_DISTINCT:
            return refuse(
                f"{name} has only {distinct} distinct value(s) with a finite loss; a surface needs "
                f"≥ {MIN_DISTINCT} along every HP to see its curvature: sample more values of {name}",
                n_div,
            )
    if m < p + MIN_EXTRA_TOTAL:
        return refuse(
            f"only {m} distinct configurations have a finite loss; a quadratic surface over {k} HPs needs "
            f"≥ {p + MIN_EXTRA_TOTAL} ({p} coefficients and some residual freedom): "
            "sample more configurations",
            n_div,
        )

    ibest = int(np.argmin(means))
    centre = configs[ibest].copy()
    sampled = np.vstack([u_ok, u_div])
    searched = np.array([a.searched_u(sampled[:, i]) for i, a in enumerate(axes)])  # (k, 2)
    span = searched[:, 1] - searched[:, 0]
    span = np.where(span > 0, span, 1.0)

    in_window = _window(configs, centre, span, p)
    if in_window is None:
        return refuse(
            "the configurations do not determine a quadratic surface (they lie on too few lines or "
            "planes of the HPs); sample a grid, or a more varied random search, around the best "
            "configuration",
            n_div,
        )
    fitted = _fit_window(configs, means, counts, centre, in_window, k)
    if not _has_minimum(fitted[-1]) and not in_window.all():
        # noise can flatten the local window's curvature along a weakly curved HP; all configurations see
        # more of it (a wider window biases the vertex of a skewed bowl, which is why it is only a fallback)
        wider = _fit_window(configs, means, counts, centre, np.ones(m, bool), k)
        if _has_minimum(wider[-1]):
            warn(
                "widened_window",
                f"the surface over the {int(in_window.sum())} configurations nearest the best had no "
                f"minimum; it was fitted to all {m} instead, which a skewed loss surface biases: sample more "
                "seeds or a denser grid near the best",
            )
            in_window, fitted = np.ones(m, bool), wider
    design, target, pinv, coef, hess = fitted
    c, g = float(coef[0]), coef[1 : 1 + k]
    nw = counts[in_window].astype(float)
    n_cfg = int(in_window.sum())
    box_lo, box_hi = configs[in_window].min(axis=0), configs[in_window].max(axis=0)
    eig = np.linalg.eigvalsh(hess)
    if not _has_minimum(hess):
        return refuse(
            f"the surface has no minimum (saddle or ridge) near the best configuration: the fitted Hessian's "
            f"eigenvalues are {', '.join(f'{e:.3g}' for e in eig)}; the loss keeps falling along some "
            "combination of the HPs, so widen the range that way, or sample a denser grid around the best "
            "configuration",
            n_div,
        )
    resid = target - design @ coef
    dof = n_cfg - p
    residual_std = finite(math.sqrt(float(resid @ resid) / dof)) if dof > 0 else None

    u_free = centre - np.linalg.solve(hess, g)
    div_lo, div_hi = _divergence_bounds(configs, u_div, centre)
    u_star = _box_minimum(hess, u_free[None, :], div_lo, div_hi)[0]
    for i, name in enumerate(names):
        if abs(u_star[i] - u_free[i]) > 1e-9 and (u_free[i] > div_hi[i] or u_free[i] < div_lo[i]):
            warn(
                "diverged_bound",
                f"the fitted joint optimum of {name} ({_hp_text(axes[i], u_free[i])}) lay beyond a "
                f"configuration that diverged at the best values of the other HPs; it was moved to the "
                f"surface's minimum inside the stable range ({_hp_text(axes[i], u_star[i])})",
                name,
            )
    for i, name in enumerate(names):
        lo, hi = searched[i]
        half = OUTSIDE_FRACTION * (hi - lo)
        if u_star[i] < lo - half or u_star[i] > hi + half:
            side = "lowest" if u_star[i] < lo else "highest"
            return refuse(
                f"the joint optimum of {name} ({_hp_text(axes[i], u_star[i])}) is beyond the {side} value "
                f"searched ({_hp_text(axes[i], lo if side == 'lowest' else hi)}) by more than half the "
                f"range: the best configuration is at the edge of the range; widen the range of {name} "
                f"toward {_hp_text(axes[i], u_star[i])} and resample",
                n_div,
            )
    best_loss = c + float(g @ (u_star - centre)) + 0.5 * float((u_star - centre) @ hess @ (u_star - centre))

    rng = rng_from(seed)
    boot_u, boot_coefs, has_min = _bootstrap(design, target, pinv, k, N_BOOT, rng, box_lo, box_hi, centre)
    n_missing = int((~has_min).sum())
    tail = 1 - (1 - level) / 2
    widen = float(stats.t.ppf(tail, max(dof, 1)) / stats.norm.ppf(tail))
    lo_draw = np.maximum(div_lo, searched[:, 0] - OUTSIDE_FRACTION * (searched[:, 1] - searched[:, 0]))
    hi_draw = np.minimum(div_hi, searched[:, 1] + OUTSIDE_FRACTION * (searched[:, 1] - searched[:, 0]))
    # each replicate's minimum loss inside the bounds (its own surface, at its optimum held in the bounds)
    loss_draws = _surface(boot_coefs, centre, _box_minimum(hess, boot_u, lo_draw, hi_draw), k)
    loss_draws = best_loss + (loss_draws - best_loss) * widen
    draws = boot_u.copy()
    draws[has_min] = u_free + (boot_u[has_min] - u_free) * widen
    draws = _box_minimum(hess, draws, lo_draw, hi_draw)
    if n_missing > UNDETERMINED_FRACTION * N_BOOT:
        return refuse(
            f"the surface's minimum is not determined by these runs: {n_missing} of {N_BOOT} bootstrap "
            "surfaces had none (a direction along which the loss is flat within the noise, as on a 3-point "
            "axis); sample more seeds, or more values of each HP near the best",
            n_div,
        )
    if n_missing > UNCERTAIN_FRACTION * N_BOOT:
        warn(
            "uncertain",
            f"{n_missing} of {N_BOOT} bootstrap surfaces had no minimum; the optimum is poorly determined "
            "and its interval spans much of the window: sample more seeds or a denser grid near the best",
        )

    optimum: dict[str, Interval] = {}
    for i, (axis, name) in enumerate(zip(axes, names, strict=True)):
        low, high = percentile_interval(draws[:, i], level)
        low = None if low is None else min(low, float(u_star[i]))
        high = None if high is None else max(high, float(u_star[i]))
        optimum[name] = Interval(axis.from_u(float(u_star[i])), axis.from_u(low), axis.from_u(high), level)
        _edge(axis, float(u_star[i]), float(centre[i]), sampled[:, i], float(span[i]), warn)
        if not box_lo[i] - 1e-9 <= u_star[i] <= box_hi[i] + 1e-9:
            warn(
                "off_centre",
                f"the joint optimum of {name} ({_hp_text(axis, u_star[i])}) lies outside the configurations "
                f"fitted ({_hp_text(axis, box_lo[i])} to {_hp_text(axis, box_hi[i])}); resample centred "
                "on it",
                name,
            )
    loss_low, loss_high = percentile_interval(loss_draws, level)
    best = finite(best_loss)
    return SurfaceFit(
        hparams=names,
        method="quadratic_surface",
        reason=None,
        optimum=optimum,
        u={n: float(u_star[i]) for i, n in enumerate(names)},
        draws=draws,
        best_loss=best,
        best_loss_interval=Interval(
            best,
            None if loss_low is None or best is None else min(loss_low, best),
            None if loss_high is None or best is None else max(loss_high, best),
            level,
        ),
        n_points=int(nw.sum()),
        n_configs=n_cfg,
        coefficients={"center": centre.tolist(), "c": c, "g": g.tolist(), "H": hess.tolist()},
        residual_std=residual_std,
        warnings=warnings,
        window={n: (float(box_lo[i]), float(box_hi[i])) for i, n in enumerate(names)},
        n_diverged=n_div,
    )


def _refused(names: list[str], reason: str, warnings: list[PlanWarning], n_div: int) -> SurfaceFit:
    return SurfaceFit(
        hparams=names,
        method="refused",
        reason=reason,
        optimum={},
        u={},
        draws=np.empty((0, len(names))),
        best_loss=None,
        best_loss_interval=None,
        n_points=0,
        n_configs=0,
        coefficients=None,
        residual_std=None,
        warnings=warnings,
        n_diverged=n_div,
    )


def _hp_text(axis: HPAxis, u: float) -> str:
    """An HP value for a sentence: 2^u on log axes (as the docs write learning rates), else the value."""
    return f"2^{u:.2f}" if axis.log else f"{u:.4g}"


def _has_minimum(hess: np.ndarray) -> bool:
    """Positive definite: the smallest eigenvalue above EIGEN_TOLERANCE of the largest."""
    eig = np.linalg.eigvalsh(hess)
    return bool(eig[0] > EIGEN_TOLERANCE * max(abs(eig[-1]), 1e-300))


def _fit_window(
    configs: np.ndarray, means: np.ndarray, counts: np.ndarray, centre: np.ndarray, keep: np.ndarray, k: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Count-weighted least squares of the quadratic on the kept configurations' means: the weighted design,
    target, the design's pseudo-inverse, the coefficients and the Hessian."""
    w = np.sqrt(counts[keep].astype(float))
    design = _design(configs[keep] - centre) * w[:, None]
    target = means[keep] * w
    pinv = np.linalg.pinv(design)
    coef = pinv @ target
    return design, target, pinv, coef, _unpack(coef[None, :], k)[2][0]


def _design(d: np.ndarray) -> np.ndarray:
    """Columns 1, d_i, ½d_i², d_i·d_j (i < j): the coefficients are then c, g_i, H_ii, H_ij."""
    k = d.shape[1]
    cols = [np.ones(d.shape[0]), *(d[:, i] for i in range(k)), *(0.5 * d[:, i] ** 2 for i in range(k))]
    cols += [d[:, i] * d[:, j] for i in range(k) for j in range(i + 1, k)]
    return np.column_stack(cols)


def _unpack(coefs: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(n, p) coefficient rows → c (n,), g (n, k), H (n, k, k), in `_design`'s column order."""
    n = coefs.shape[0]
    c, g = coefs[:, 0], coefs[:, 1 : 1 + k]
    hess = np.zeros((n, k, k))
    idx = np.arange(k)
    hess[:, idx, idx] = coefs[:, 1 + k : 1 + 2 * k]
    col = 1 + 2 * k
    for i in range(k):
        for j in range(i + 1, k):
            hess[:, i, j] = hess[:, j, i] = coefs[:, col]
            col += 1
    return c, g, hess


def _surface(coefs: np.ndarray, centre: np.ndarray, points: np.ndarray, k: int) -> np.ndarray:
    """Each row's surface (coefficients in `_design` order) at the matching point."""
    c, g, hess = _unpack(coefs, k)
    d = points - centre
    return c + np.einsum("ni,ni->n", g, d) + 0.5 * np.einsum("ni,nij,nj->n", d, hess, d)


def _window(configs: np.ndarray, centre: np.ndarray, span: np.ndarray, p: int) -> np.ndarray | None:
    """The configurations nearest the best (normalised distance): half of them and ≥ p + EXTRA_CONFIGS, ties
    kept, grown until every HP has MIN_DISTINCT values and the design has full rank; None if never."""
    m = configs.shape[0]
    dist = np.sqrt((((configs - centre) / span) ** 2).sum(axis=1))
    order = np.argsort(dist, kind="stable")
    want = min(m, max(p + EXTRA_CONFIGS, math.ceil(m / 2)))
    while want <= m:
        cut = dist[order[want - 1]] + 1e-9
        keep = dist <= cut
        chosen = configs[keep]
        if all(np.unique(chosen[:, i]).size >= MIN_DISTINCT for i in range(configs.shape[1])):
            if np.linalg.matrix_rank(_design(chosen - centre)) == p:
                return keep
        want = int(keep.sum()) + 1
    return None


def _divergence_bounds(
    configs: np.ndarray, u_div: np.ndarray, centre: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Per HP, the nearest diverged values below and above the best configuration, counting only diverged
    configurations on its line along that HP: within half a grid step (the median spacing of the sampled
    values) of it in every other HP, so on a grid the same values. A diverged configuration off that line, in
    another HP, says nothing about this one at the optimum (a larger init scale diverges at a lower LR)."""
    k = centre.size
    lo, hi = np.full(k, -math.inf), np.full(k, math.inf)
    if u_div.shape[0] == 0:
        return lo, hi
    steps = np.empty(k)
    for j in range(k):
        values = np.unique(np.round(np.concatenate([configs[:, j], u_div[:, j]]), GROUP_DECIMALS))
        steps[j] = float(np.median(np.diff(values))) if values.size > 1 else 0.0
    near = np.abs(u_div - centre) <= steps / 2 + 1e-9
    for i in range(k):
        others = np.delete(near, i, axis=1).all(axis=1)
        along = u_div[others, i]
        above, below = along[along > centre[i] + 1e-9], along[along < centre[i] - 1e-9]
        if above.size:
            hi[i] = float(above.min())
        if below.size:
            lo[i] = float(below.max())
    return lo, hi


def _box_minimum(hess: np.ndarray, targets: np.ndarray, lo: np.ndarray, hi: np.ndarray) -> np.ndarray:
    """argmin over the box [lo, hi] of (v − t)ᵀH(v − t) for each row t (H positive definite): the minimum of
    a surface with Hessian H and free minimum t inside the bounds. Exact coordinate descent, which converges
    for a convex quadratic; rows already inside the box are returned as they are."""
    v = np.clip(targets, lo, hi)
    outside = np.any(v != targets, axis=1)
    if not outside.any():
        return v
    t, w = targets[outside], v[outside]
    diag = np.diag(hess)
    for _ in range(500):
        previous = w.copy()
        for i in range(hess.shape[0]):
            grad = (w - t) @ hess[i]
            w[:, i] = np.clip(w[:, i] - grad / diag[i], lo[i], hi[i])
        if np.max(np.abs(w - previous)) < 1e-12:
            break
    v[outside] = w
    return v


def _bootstrap(
    design: np.ndarray,
    target: np.ndarray,
    pinv: np.ndarray,
    k: int,
    n_boot: int,
    rng: np.random.Generator,
    box_lo: np.ndarray,
    box_hi: np.ndarray,
    centre: np.ndarray,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Residual bootstrap (design fixed) of the surface's minimum.

    Residuals are leverage-corrected (r / √(1 − h)) and centred, as in the 1-D fit. Returns the replicates'
    optima (n_boot, k) in u, their coefficients (n_boot, p) and which had a minimum; those without draw their
    optimum uniformly over the window's bounding box.
    """
    n = target.size
    fitted = design @ (pinv @ target)
    leverage = np.clip(np.einsum("ij,ji->i", design, pinv), 0.0, 0.99)
    resid = (target - fitted) / np.sqrt(1.0 - leverage)
    resid = resid - resid.mean()
    idx = rng.integers(0, n, size=(n_boot, n))
    coefs = (fitted[None, :] + resid[idx]) @ pinv.T
    _, g, hess = _unpack(coefs, k)
    eig = np.linalg.eigvalsh(hess)
    has_min = eig[:, 0] > EIGEN_TOLERANCE * np.maximum(np.abs(eig[:, -1]), 1e-300)
    u = np.empty((n_boot, k))
    if has_min.any():
        u[has_min] = centre - np.linalg.solve(hess[has_min], g[has_min][:, :, None])[:, :, 0]
    u[~has_min] = rng.uniform(box_lo, box_hi, size=(int((~has_min).sum()), k))
    return u, coefs, has_min


def _edge(axis: HPAxis, u_star: float, u_best: float, sampled: np.ndarray, span: float, warn: Any) -> None:
    """Flag an optimum at the edge of what was sampled along one HP, and suggest a range of the same span
    centred on it. Unlike the 1-D rule, a best configuration at the edge is not enough: on a tilted bowl the
    best grid point of an HP can sit at its edge while the surface's minimum lies well inside, so the warning
    needs u* beyond the sampled values, or in their outermost step with the best configuration at the edge."""
    values = np.unique(np.round(sampled, GROUP_DECIMALS))
    at_low = u_star < values[0] or (u_best <= values[0] and u_star < values[1])
    at_high = u_star > values[-1] or (u_best >= values[-1] and u_star > values[-2])
    if not (at_low or at_high):
        return
    half = span / 2
    side = "lowest" if at_low else "highest"
    warn(
        "edge_of_range",
        f"the joint optimum of {axis.name} ({_hp_text(axis, u_star)}) is at or beyond the {side} value "
        f"searched; widen the range and resample, e.g. {_hp_text(axis, u_star - half)} to "
        f"{_hp_text(axis, u_star + half)}",
        axis.name,
    )
