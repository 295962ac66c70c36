"""Loss against size and data: L(N, D) = E + A·N^−α + B·D^−β (Chinchilla approach 3, Hoffmann et al. 2022)
and its prediction at the target's own size N and token budget D.

Each cell is one proxy size N (non-embedding parameters) trained on one token budget D, with its best loss.
The point fit is variable projection, as in loss_law.py: for fixed exponents (α, β) the law is linear in
(E, A, B), which are solved with E, A, B ≥ 0 by least squares; (α, β) minimise a Huber loss (δ = 1e-3) of
log L, first on the product of two geometric grids (0.05..2, 40 each) and then by Nelder–Mead from the best
grid point (scipy's NNLS inside). The grid's non-negative least squares is vectorised: with three
coefficients the constrained optimum is the best of the seven unconstrained solutions on a subset of
{E, A, B} whose coefficients are all ≥ 0, each a closed-form 1×1 or 2×2 solve (the intercept is projected
out by centring, which keeps the nearly collinear small-exponent columns well conditioned). The band is a
parametric bootstrap like loss_law's: each replicate perturbs log L by the larger of the cell's seed noise
(sem/L) and the fit's residual scale, and is refitted by least squares on a coarser 20×20 grid, then four
times on a 5×5 grid of halving spacing around its best point (≈ 1 % in each exponent at the end: cheaper
than the 40×40 grid, and finer); the percentile interval is widened to contain the point. One fit of ~17
cells with 500 replicates takes ≈ 0.09 s on a loaded 2-core machine.

Identifiability: five parameters are fitted, and the law is only determined when each axis is. Along N,
E + A·N^−α has three parameters, so with two sizes any α fits both exactly (the offset soaks up what the
exponent does not) and the N-exponent is unknown; a third distinct N is the least that pins α, and likewise
a third distinct D pins β. Beyond that, seven cells leave two residual degrees of freedom over the five
parameters, the least from which the residual scale that drives the bootstrap can be estimated at all (with
six, one residual carries it all; with five the fit is exact and the band would be a fake zero width).
So the fit requires ≥ 3 distinct N, ≥ 3 distinct D and ≥ 7 cells (e.g. a cross: four sizes at one budget
and three more budgets at the smallest size); with fewer it reports nothing (`identifiable` False, a
warning saying what is missing) rather than an exactly-determined fit with a fake, narrow interval.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from scipy import optimize

from orchestrator.planner.loss_law import _huber_log  # Σ Huber_δ(log pred − log y), δ = 1e-3
from orchestrator.planner.numeric import finite, json_safe, percentile_interval, rng_from
from orchestrator.planner.types import Interval, PlanWarning

FORM = "E + A*N^-alpha + B*D^-beta"
EXP_LO, EXP_HI = 0.05, 2.0
EXPONENTS = np.geomspace(EXP_LO, EXP_HI, 40)  # the point fit's grid, per exponent
BOOT_EXPONENTS = np.geomspace(EXP_LO, EXP_HI, 20)  # the bootstrap's coarser start, refined per replicate
BOOT_REFINE = 4  # 5×5 refinements, each half the last spacing: ≈ 1 % in each exponent at the end
MIN_SIZES, MIN_BUDGETS, MIN_CELLS = 3, 3, 7
N_PARAMS = 5
MAX_N_RATIO, MAX_D_RATIO = 16.0, 4.0  # beyond these the target is an extrapolation worth a warning


@dataclass
class LossSurface:
    form: str  # "E + A*N^-alpha + B*D^-beta"
    E: float | None
    A: float | None
    alpha: float | None
    B: float | None
    beta: float | None
    ns: list[float]
    ds: list[float]
    losses: list[float]
    residual_rms: float | None  # in log L
    target_n: float
    target_d: float
    prediction: Interval  # L at (target_n, target_d) with the bootstrap interval at `level`
    identifiable: bool  # False: too few cells/sizes/budgets; prediction is then empty and a warning says why
    warnings: list[PlanWarning] = field(default_factory=list)

    def predict(self, n: float, d: float) -> float | None:
        if None in (self.E, self.A, self.alpha, self.B, self.beta):
            return None
        return self.E + self.A * n ** (-self.alpha) + self.B * d ** (-self.beta)

    def to_dict(self) -> dict[str, Any]:
        return json_safe(
            {
                k: getattr(self, k)
                for k in (
                    "form",
                    "E",
                    "A",
                    "alpha",
                    "B",
                    "beta",
                    "ns",
                    "ds",
                    "losses",
                    "residual_rms",
                    "target_n",
                    "target_d",
                    "prediction",
                    "identifiable",
                )
            }
            | {"warnings": [w.to_dict() for w in self.warnings]}
        )


def fit_loss_surface(
    ns: list[float] | np.ndarray,
    ds: list[float] | np.ndarray,
    losses: list[float] | np.ndarray,
    target_n: float,
    target_d: float,
    *,
    sems: list[float] | np.ndarray | None = None,
    level: float = 0.9,
    n_boot: int = 500,
    seed: int | np.random.Generator | None = 0,
) -> LossSurface:
    """Fit L(N, D) = E + A N^−α + B D^−β to the best loss per cell and predict it at (target_n, target_d).

    `ns`, `ds`, `losses` (and `sems`, the standard error of each loss over seeds; None or NaN: unknown) are
    one entry per cell. Cells without a finite positive N, D and loss are dropped with a warning.
    """
    rng = rng_from(seed)
    n = np.asarray(ns, dtype=float)
    d = np.asarray(ds, dtype=float)
    y = np.asarray(losses, dtype=float)
    if not n.shape == d.shape == y.shape:
        raise ValueError(
            f"ns, ds and losses must have one entry per cell; got {n.shape}, {d.shape}, {y.shape}"
        )
    se = np.full(y.shape, np.nan) if sems is None else np.asarray(sems, dtype=float)
    warnings: list[PlanWarning] = []

    def warn(code: str, message: str) -> None:
        warnings.append(PlanWarning(code, message))

    ok = np.isfinite(n) & np.isfinite(d) & np.isfinite(y) & (n > 0) & (d > 0) & (y > 0)
    if not ok.all():
        warn(
            "loss_surface_dropped_cells",
            f"{int((~ok).sum())} cell(s) without a finite positive size, budget and best loss were "
            "left out of the L(N, D) fit",
        )
    n, d, y, se = n[ok], d[ok], y[ok], se[ok]
    order = np.lexsort((d, n))
    n, d, y, se = n[order], d[order], y[order], se[order]
    rel_se = np.where(np.isfinite(se) & (se >= 0), se / y, 0.0)
    base = dict(
        form=FORM,
        ns=n.tolist(),
        ds=d.tolist(),
        losses=y.tolist(),
        target_n=float(target_n),
        target_d=float(target_d),
    )

    missing = []
    n_sizes, n_budgets = np.unique(n).size, np.unique(d).size
    if n_sizes < MIN_SIZES:
        missing.append(f"≥ {MIN_SIZES} model sizes; the proxies ran {n_sizes}")
    if n_budgets < MIN_BUDGETS:
        missing.append(f"≥ {MIN_BUDGETS} token budgets; the proxies ran {n_budgets}")
    if y.size < MIN_CELLS:
        missing.append(f"≥ {MIN_CELLS} (size, budget) cells with a finite loss; there are {y.size}")
    if missing:
        warn(
            "loss_surface_unidentified",
            "L(N, D) needs " + " and ".join(missing) + ": its five parameters are not determined, "
            "so no loss is predicted for the target's size and budget",
        )
        return LossSurface(
            E=None,
            A=None,
            alpha=None,
            B=None,
            beta=None,
            residual_rms=None,
            prediction=Interval(None, None, None, level),
            identifiable=False,
            warnings=warnings,
            **base,
        )

    n0, d0 = float(n[0]), float(d.min())
    lz, lw = np.log(n / n0), np.log(d / d0)
    E, A, alpha, B, beta = _huber_fit(lz, lw, y)
    fitted = E + A * np.exp(-alpha * lz) + B * np.exp(-beta * lw)
    resid = np.log(y) - np.log(fitted)
    s_resid = math.sqrt(float(np.sum(resid**2)) / (y.size - N_PARAMS))
    params = dict(
        E=finite(E),
        A=finite(A * n0**alpha),
        alpha=finite(alpha),
        B=finite(B * d0**beta),
        beta=finite(beta),
        residual_rms=finite(float(np.sqrt(np.mean(resid**2)))),
    )
    for name, value in (("α", alpha), ("β", beta)):
        if value <= EXP_LO * 1.01 or value >= EXP_HI * 0.99:
            warn(
                "loss_surface_exponent_at_bound",
                f"the fitted exponent {name} = {value:.3g} sits at the bound of its search range "
                f"[{EXP_LO}, {EXP_HI}]: L(N, D) is poorly constrained by these cells",
            )

    if not (math.isfinite(target_n) and math.isfinite(target_d) and target_n > 0 and target_d > 0):
        warn(
            "loss_surface_no_target",
            f"the target's size {target_n} or budget {target_d} is not a positive number: nothing to predict",
        )
        return LossSurface(
            prediction=Interval(None, None, None, level),
            identifiable=True,
            warnings=warnings,
            **params,
            **base,
        )
    n_ratio, d_ratio = target_n / float(n.max()), target_d / float(d.max())
    if d_ratio > MAX_D_RATIO or n_ratio > MAX_N_RATIO:
        far = []
        if n_ratio > MAX_N_RATIO:
            far.append(f"its size is {n_ratio:.3g}× the largest proxy's (limit {MAX_N_RATIO:g}×)")
        if d_ratio > MAX_D_RATIO:
            far.append(
                f"its token budget is {d_ratio:.3g}× the largest proxy budget (limit {MAX_D_RATIO:g}×)"
            )
        warn(
            "loss_surface_extrapolated",
            "the target's loss is an extrapolation of L(N, D): " + " and ".join(far),
        )

    lzt, lwt = math.log(target_n / n0), math.log(target_d / d0)
    point = E + A * math.exp(-alpha * lzt) + B * math.exp(-beta * lwt)
    noise = np.maximum(rel_se, s_resid)
    boot_y = fitted[None, :] * np.exp(rng.normal(0.0, 1.0, (n_boot, y.size)) * noise[None, :])
    bE, bA, balpha, bB, bbeta = _varpro(lz, lw, boot_y)
    preds = bE + bA * np.exp(-balpha * lzt) + bB * np.exp(-bbeta * lwt)
    lo, hi = percentile_interval(preds, level)
    return LossSurface(
        prediction=Interval(
            finite(point),
            finite(min(lo, point)) if lo is not None else None,
            finite(max(hi, point)) if hi is not None else None,
            level,
        ),
        identifiable=True,
        warnings=warnings,
        **params,
        **base,
    )


def _project(
    lz: np.ndarray,
    lw: np.ndarray,
    ys: np.ndarray,
    alphas: np.ndarray,
    betas: np.ndarray,
    coefficients: bool = True,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """For each row of ys (B, n) and each exponent pair (alphas, betas: (S, G) with S 1 or B): the sum of
    squares of the least-squares (E, A, B) ≥ 0 and (unless `coefficients` is False: the search needs only
    the sums) E, A and B, each (B, G).

    NNLS with three coefficients, exactly: the optimum is the feasible (all ≥ 0) unconstrained solution with
    the least sum of squares among the seven supports. Subsets holding E are solved on centred columns.
    """
    fz = np.exp(-alphas[..., None] * lz)  # (S, G, n)
    fw = np.exp(-betas[..., None] * lw)

    def dot(f: np.ndarray) -> np.ndarray:  # Σ_i f[s, g, i] y[b, i] → (B, G)
        # A batched matmul, not one gemm: multithreaded BLAS is slower on a loaded small machine.
        return np.matmul(f, ys[:, :, None])[..., 0]

    ybar = ys.mean(1)[:, None]  # (B, 1)
    syy = ((ys - ybar) ** 2).sum(1)[:, None]  # centred
    yy = (ys**2).sum(1)[:, None]
    mz, mw = fz.mean(-1), fw.mean(-1)  # (S, G)
    cz, cw = fz - mz[..., None], fw - mw[..., None]
    czz, cww, czw = (cz * cz).sum(-1), (cw * cw).sum(-1), (cz * cw).sum(-1)
    pz, pw = dot(cz), dot(cw)  # centred cross products (B, G)
    gzz, gww, gzw = (fz * fz).sum(-1), (fw * fw).sum(-1), (fz * fw).sum(-1)
    qz, qw = dot(fz), dot(fw)
    shape = np.broadcast_shapes(pz.shape, czz.shape)
    zero = np.zeros(shape)
    # {E}: always feasible (losses are positive), the starting best.
    best_sse = np.broadcast_to(syy, shape).copy()
    best = [np.broadcast_to(ybar, shape).copy(), zero.copy(), zero.copy()]

    def offer(sse: np.ndarray, e: np.ndarray, a: np.ndarray, b: np.ndarray) -> None:
        take = (e >= 0) & (a >= 0) & (b >= 0) & (sse < best_sse)
        np.copyto(best_sse, sse, where=take)
        if coefficients:
            for slot, value in zip(best, (e, a, b), strict=True):
                np.copyto(slot, np.broadcast_to(value, shape), where=take)

    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        # {E, A, B}
        det = czz * cww - czw**2
        a = (cww * pz - czw * pw) / det
        b = (czz * pw - czw * pz) / det
        offer(syy - a * pz - b * pw, ybar - a * mz - b * mw, a, b)
        # {E, A} and {E, B}
        a = pz / czz
        offer(syy - a * pz, ybar - a * mz, a, zero)
        b = pw / cww
        offer(syy - b * pw, ybar - b * mw, zero, b)
        # {A, B}, {A}, {B}: no intercept
        det = gzz * gww - gzw**2
        a = (gww * qz - gzw * qw) / det
        b = (gzz * qw - gzw * qz) / det
        offer(yy - a * qz - b * qw, zero, a, b)
        a = qz / gzz
        offer(yy - a * qz, zero, a, zero)
        b = qw / gww
        offer(yy - b * qw, zero, zero, b)
    return best_sse, best[0], best[1], best[2]


def _grid(exponents: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The product grid of (α, β), each (1, G)."""
    alphas, betas = np.meshgrid(exponents, exponents, indexing="ij")
    return alphas.reshape(1, -1), betas.reshape(1, -1)


def _log_step(exponents: np.ndarray) -> float:
    return float(np.log(exponents[1] / exponents[0]))


def _varpro(
    lz: np.ndarray, lw: np.ndarray, ys: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Variable projection per row of ys (the bootstrap): the least-squares (E, A, α, B, β) on a coarse
    (α, β) grid, then refined BOOT_REFINE times on a 5×5 grid spanning the last spacing either side of each
    row's best point (a 20×20 start is 4× cheaper than the point fit's 40×40 and, refined, finer)."""
    rows = np.arange(ys.shape[0])
    alphas, betas = _grid(BOOT_EXPONENTS)
    sse, *_ = _project(lz, lw, ys, alphas, betas, coefficients=False)
    best = np.argmin(np.where(np.isfinite(sse), sse, np.inf), axis=1)
    la, lb = np.log(alphas[0, best]), np.log(betas[0, best])
    step = _log_step(BOOT_EXPONENTS)
    offsets = np.linspace(-1.0, 1.0, 5)
    da, db = (g.ravel() for g in np.meshgrid(offsets, offsets, indexing="ij"))
    lo, hi = math.log(EXP_LO), math.log(EXP_HI)
    for _ in range(BOOT_REFINE):
        la_g = np.clip(la[:, None] + step * da[None, :], lo, hi)  # (B, 25)
        lb_g = np.clip(lb[:, None] + step * db[None, :], lo, hi)
        sse, *_ = _project(lz, lw, ys, np.exp(la_g), np.exp(lb_g), coefficients=False)
        best = np.argmin(np.where(np.isfinite(sse), sse, np.inf), axis=1)
        la, lb = la_g[rows, best], lb_g[rows, best]
        step /= 2.0
    alpha, beta = np.exp(la), np.exp(lb)
    _, E, A, B = _project(lz, lw, ys, alpha[:, None], beta[:, None])  # one pair per row: (B, 1)
    return E[:, 0], A[:, 0], alpha, B[:, 0], beta


def _huber_fit(lz: np.ndarray, lw: np.ndarray, y: np.ndarray) -> tuple[float, float, float, float, float]:
    """The point fit: (α, β) minimising the Huber loss of log L with (E, A, B) ≥ 0 projected out, on the grid
    and then by Nelder–Mead in log-exponents from the best grid point."""
    alphas, betas = _grid(EXPONENTS)
    _, E, A, B = _project(lz, lw, y[None, :], alphas, betas)
    fz = np.exp(-alphas[0][:, None] * lz)
    fw = np.exp(-betas[0][:, None] * lw)
    pred = E[0][:, None] + A[0][:, None] * fz + B[0][:, None] * fw  # (G, n)
    objective = _huber_log(pred, y[None, :])
    i = int(np.argmin(objective))
    bounds = [(math.log(EXP_LO), math.log(EXP_HI))] * 2

    def solve(log_exps: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        a, b = np.exp(np.clip(log_exps, bounds[0][0], bounds[0][1]))
        X = np.column_stack([np.ones_like(lz), np.exp(-a * lz), np.exp(-b * lw)])
        coef, _ = optimize.nnls(X, y)
        return coef, X @ coef

    def profile(log_exps: np.ndarray) -> float:
        return float(_huber_log(solve(log_exps)[1], y))

    start = np.log([alphas[0, i], betas[0, i]])
    result = optimize.minimize(
        profile,
        start,
        method="Nelder-Mead",
        bounds=bounds,
        options={"xatol": 1e-6, "fatol": 1e-14, "initial_simplex": _simplex(start)},
    )
    log_exps = result.x if result.fun <= objective[i] else start
    coef, _ = solve(log_exps)
    alpha, beta = np.exp(np.clip(log_exps, bounds[0][0], bounds[0][1]))
    return float(coef[0]), float(coef[1]), float(alpha), float(coef[2]), float(beta)


def _simplex(start: np.ndarray) -> np.ndarray:
    """A starting simplex one grid step wide, pointed into the search box."""
    lo, hi = math.log(EXP_LO), math.log(EXP_HI)
    simplex = [start.copy()]
    for k in range(2):
        vertex = start.copy()
        step = _log_step(EXPONENTS)
        vertex[k] += step if vertex[k] + step <= hi else -step
        vertex[k] = min(max(vertex[k], lo), hi)
        simplex.append(vertex)
    return np.array(simplex)
