"""How an optimum moves with scale (width, depth, or a budget axis): the law the target's value is read off
(docs/planner.md, "Transfer laws").

Each scale's optimum is u*(s) in the HP's fit coordinate (log2 on log axes), x = log2 s. Two kinds of law:

* **power_law**: u* = u₀ + γ·x, Tensor Programs V's form (log η* = log c + γ log w): a drift that never stops.
* **saturating** (p ∈ `SATURATION_POWERS`): u* = u∞ + b·2^(−p·(x − x₀)), a drift that shrinks by 2^−p each
  doubling and levels off at u∞. Optima measured on real ladders drift fast between narrow proxies and
  hardly at all beyond (SP's LR in our benchmark: 0.6–0.8 octave per doubling from width 16 to 64, ≈ 0 from
  64 to 256), which a line extrapolates by 1–1.5 octaves too far.

The forms are weighed by how well each predicts a scale it did not see (leave-one-scale-out: refit without
scale i, score the prediction of u*ᵢ by its normal density with the optimum's own variance plus the refit's),
not by in-sample fit: pseudo-Bayesian model averaging (Yao et al. 2018, "Using stacking to average Bayesian
predictive distributions"). That needs ≥ 3 scales; with 2 only the power law is fitted (its form unchecked).
The point is the weighted mean of the forms' values; every bootstrap replicate refits each form on one draw of
every optimum and takes one form by the weights, so the interval is the mixture's.

A parametrization's promise (μP, u-μP and CompleteP: γ = 0 along width; CompleteP along depth) enters as a
prior on the drift per doubling at the widest scale, N(0, τ²) with τ = `PROMISE_SCALE` octaves (on a linear
axis, that fraction of the searched range): a slope the data do not resolve is shrunk toward the promise, one
they resolve moves the value. The prior shapes the point only: the interval is the data's band (fits without
the prior), since the proxies cannot exclude a drift inside it.

Without a promise a move along the scale is applied only when its interval excludes 0; otherwise the point
stays at the law's value at the base scale (the widest proxy, the fit depth, the base budget), the interval
still carries the band, and the law says so (`move_unresolved`).

Scatter of the optima beyond their own uncertainty (reduced χ² > 1 about the weighted law) means the form
itself is doubtful: the draws are then widened by √χ²_red (Birge ratio).
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
PROMISE_SCALE = 0.1  # prior sd of a promised drift, octaves per doubling (docs/planner.md, "Transfer laws")
LINEAR_PROMISE_FRACTION = 0.05  # on a linear axis: that fraction of the searched range per doubling
SATURATION_POWERS = (0.5, 1.0)
POWER_LAW = "power_law"


@dataclass(frozen=True)
class Form:
    """One law's shape: u* = θ₀ + θ₁·g(x), linear in θ (so weighted least squares and its prior are exact)."""

    name: str
    power: float | None  # None: the line (g = x); else g = 2^(−p·(x − x₀))

    def basis(
        self, x: np.ndarray, x0: float, groups: np.ndarray | None = None, n_groups: int = 1
    ) -> np.ndarray:
        """The design: one intercept column per group (one group unless the law is pooled), then g(x)."""
        g = x if self.power is None else np.exp2(-self.power * (x - x0))
        index = np.zeros(x.size, dtype=int) if groups is None else groups
        return np.column_stack([np.eye(n_groups)[index], g])

    def slope(self, x: float, x0: float, n_groups: int = 1) -> np.ndarray:
        """d u*/d x at x as a row against θ: the drift per doubling there."""
        drift = 1.0 if self.power is None else -self.power * math.log(2.0) * 2.0 ** (-self.power * (x - x0))
        return np.append(np.zeros(n_groups), drift)


FORMS = (Form(POWER_LAW, None), *(Form(f"saturating_p{p:g}", p) for p in SATURATION_POWERS))


@dataclass
class ScaleLaw:
    """The fitted transfer law of one HP over one scale variable, and the move from the base to the target."""

    hparam: str
    scale_name: str  # "width" | "depth" | "n_params" | a budget axis
    scales: list[float]
    optima_u: list[float]
    sigmas: list[float]
    gamma: Interval  # the power law's slope over the data (no prior): 0 means "copy the value"
    intercept: float | None  # the power law's u* at scale 1
    gamma_compatible_with_zero: bool | None
    target_scale: float
    target: Interval  # HP units at the target scale
    target_u: Interval
    residual_rms: float | None  # about the applied law, in u (octaves on log axes)
    reduced_chi2: float | None
    warnings: list[PlanWarning] = field(default_factory=list)
    draws_u: np.ndarray = field(default_factory=lambda: np.empty(0), repr=False)
    # the form with the largest weight ("power_law", "saturating_p0.5", ...), or "invariant" (the data are
    # compatible with a promise, which shrank the point toward it) or "unresolved" (a move the data do not
    # resolve, not made)
    model: str = POWER_LAW
    draws_gamma: np.ndarray = field(default_factory=lambda: np.empty(0), repr=False)  # the line's γ draws
    base_scale: float | None = None  # where a move along this law starts
    move: Interval = field(default_factory=lambda: Interval(None, None, None, 0.9))  # u, base → target
    draws_move: np.ndarray = field(default_factory=lambda: np.empty(0), repr=False)
    form_weights: dict[str, float] = field(default_factory=dict)
    loo_rms: dict[str, float | None] = field(default_factory=dict)  # each form's leave-one-out error, u
    promise_scale: float | None = None  # τ of the promise's prior (None: nothing promised)
    # per form: (θ₀, θ₁) of the point fit (with the prior) and its x₀; `predict_u` reads them
    coefficients: dict[str, tuple[float, float]] = field(default_factory=dict, repr=False)
    x0: float = 0.0
    applied: bool = True  # False: the move was not applied (unresolved), the point stays at the base
    form_error: float = 0.0  # u per doubling of extrapolation added to the interval (`_form_error`)

    def predict_u(self, scale: float) -> float | None:
        """The applied law's u* at any scale: the forms' weighted mean (the base's value when unresolved)."""
        if not self.applied and self.base_scale:
            return self._mixture_u(self.base_scale)
        return self._mixture_u(scale)

    def _mixture_u(self, scale: float) -> float | None:
        if not self.coefficients:
            return None
        x = math.log2(scale)
        total = 0.0
        for form in FORMS:
            if form.name in self.coefficients:
                row = form.basis(np.array([x]), self.x0)[0]  # (1, g(x)) against (intercept, drift)
                total += self.form_weights.get(form.name, 0.0) * float(
                    row @ np.array(self.coefficients[form.name])
                )
        return total

    def curve(self, points: int = 25) -> list[tuple[float, float]]:
        """(scale, u) of the law the plan applied, from the narrowest scale to the target: the forms' mixture
        through the proxies, flat from the base on where the move was not made. What a plot should draw."""
        scales = [s for s in [*self.scales, self.target_scale] if s > 0]
        if not self.coefficients or not scales:
            return []
        lo, hi = min(scales), max(scales)
        out = []
        for k in range(points):
            s = lo * (hi / lo) ** (k / (points - 1))
            past_base = not self.applied and self.base_scale is not None and s > self.base_scale
            u = self._mixture_u(self.base_scale if past_base else s)  # type: ignore[arg-type]
            if u is not None:
                out.append((s, u))
        return out

    @property
    def applied_gamma(self) -> Interval:
        """The applied move per doubling from the base to the target (the move's interval likewise)."""
        shift = self.shift
        if not shift or self.move.value is None:
            return self.gamma
        lo = None if self.move.low is None else self.move.low / shift
        hi = None if self.move.high is None else self.move.high / shift
        if lo is not None and hi is not None and lo > hi:
            lo, hi = hi, lo
        return Interval(self.move.value / shift, lo, hi, self.move.level)

    @property
    def shift(self) -> float:
        """Octaves of scale from the base to the target."""
        if not self.base_scale or self.base_scale <= 0 or self.target_scale <= 0:
            return 0.0
        return math.log2(self.target_scale / self.base_scale)

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
                "form_weights": self.form_weights,
                "loo_rms": self.loo_rms,
                "promise_scale": self.promise_scale,
                "applied": self.applied,
                "form_error": self.form_error,
                "applied_gamma": self.applied_gamma,
                "base_scale": self.base_scale,
                "move": self.move,
                "curve": self.curve(),
                "target_scale": self.target_scale,
                "target": self.target,
                "target_u": self.target_u,
                "residual_rms": self.residual_rms,
                "reduced_chi2": self.reduced_chi2,
                "warnings": [w.to_dict() for w in self.warnings],
            }
        )


def promise_scale(axis: HPAxis) -> float:
    """τ in u per doubling: `PROMISE_SCALE` octaves on a log axis, a fraction of the range on a linear one."""
    if axis.log or axis.low is None or axis.high is None:
        return PROMISE_SCALE
    return max(LINEAR_PROMISE_FRACTION * (axis.high - axis.low), MIN_SIGMA)


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
    base_scale: float | None = None,
    groups: list[float] | None = None,
) -> ScaleLaw:
    """Fit the law over the scales that have an optimum and move from `base_scale` (default: the largest
    scale fitted) to `target_scale` (see the module docstring).

    `invariant`: the parametrization promises no drift along this scale (a prior, not a constraint).
    `groups` (one label per optimum) pools several series into one law: each group has its own intercept
    and they share the drift (a budget law fitted across every width that scanned the budget: the move
    from one budget to another is the same at every width, and each width adds evidence on it). The law's
    values (`target_u`, `predict_u`) are then those of the largest group label's series."""
    rng = rng_from(seed)
    warnings: list[PlanWarning] = []

    def warn(code: str, message: str) -> None:
        warnings.append(PlanWarning(code, message, hparam=axis.name))

    keep = [i for i, o in enumerate(optima) if o.u is not None and math.isfinite(o.u) and o.scale > 0]
    usable = [optima[i] for i in keep]
    labels = [0.0] * len(usable) if groups is None else [float(groups[i]) for i in keep]
    scales = np.array([o.scale for o in usable], dtype=float)
    u = np.array([o.u for o in usable], dtype=float)
    sig = np.array([_sigma(o) for o in usable], dtype=float)
    none = Interval(None, None, None, level)
    tau = promise_scale(axis) if invariant else None
    if usable and len(usable) < len(optima):
        warn("missing_optima", f"{len(optima) - len(usable)} {scale_name}(s) had no optimum for {axis.name}")
    distinct = sorted(set(labels))
    ref = len(distinct) - 1  # the largest group's intercept: its series is the law's values
    group = np.array([distinct.index(label) for label in labels], dtype=int)
    n_groups = len(distinct)
    per_group = [int(np.sum(group == g)) for g in range(n_groups)]
    if len(usable) < n_groups + 1 or max(per_group, default=0) < 2:
        warn(
            "transfer_unfitted",
            f"{axis.name}: an optimum at {len(usable)} {scale_name}(s) cannot give a "
            f"transfer law; at least 2 are needed",
        )
        target_u = none if not usable else Interval(float(u[-1]), *_bounds(usable[-1].draws, level), level)
        return ScaleLaw(
            axis.name, scale_name, scales.tolist(), u.tolist(), sig.tolist(), none, None, None,
            target_scale, to_hp(axis, target_u), target_u, None, None, warnings,
            base_scale=base_scale, move=none, promise_scale=tau,
        )  # fmt: skip

    x = np.log2(scales)
    xt = math.log2(target_scale)
    base = float(base_scale) if base_scale else float(scales.max())
    xb = math.log2(base)
    x0 = float(x.min())
    w = 1.0 / sig**2
    forms = [f for f in FORMS if f.power is None or max(per_group) >= 3]

    def design(form: Form, at: np.ndarray, index: np.ndarray) -> np.ndarray:
        return form.basis(at, x0, index, n_groups)

    def row(form: Form, at: float) -> np.ndarray:
        return design(form, np.array([at]), np.array([ref]))[0]

    prior = {f.name: (f.slope(float(x.max()), x0, n_groups), tau) for f in forms} if tau is not None else {}
    coefs = {f.name: _fit(design(f, x, group), u, w, prior.get(f.name)) for f in forms}
    # the data choose the form; the prior only its size
    loo = {f.name: _loo(design(f, x, group), u, sig) for f in forms}
    line = _fit(design(FORMS[0], x, group), u, w, None)  # the data's own line: γ and its band
    dof = len(usable) - n_groups - 1
    # scatter beyond the optima's errors that even the best-fitting form leaves is no evidence for any form
    chi_best = min(
        float(np.sum(w * (u - design(f, x, group) @ _fit(design(f, x, group), u, w, None)) ** 2))
        for f in forms
    )
    birge = max(1.0, chi_best / dof) if dof > 0 else 1.0
    weights = _weights(loo, birge)
    if dof == 0:
        warn(
            "two_scales",
            f"{axis.name}: only 2 {scale_name}s, so the power law passes through both optima "
            "exactly and its form cannot be checked; add a third proxy size",
        )

    fitted = sum(weights[f.name] * (design(f, x, group) @ coefs[f.name]) for f in forms)
    applied_resid = u - fitted
    chi2 = float(np.sum(w * applied_resid**2) / dof) if dof > 0 else None
    # held-out optima missing by more than the refits' own uncertainty: the form is wrong where it is used,
    # so widen by the larger of the in-sample and the leave-one-out Birge ratios
    loo_z2 = sum(weights[k] * v[2] for k, v in loo.items() if v[2] is not None)
    inflate = math.sqrt(max(1.0, chi2 or 1.0, loo_z2))
    if inflate > 1.5:
        warn(
            "poor_power_law",
            f"{axis.name}: the optima scatter {inflate:.1f}× more than their uncertainty around the fitted "
            f"law (reduced χ² {chi2 or 0:.2g}, held-out {loo_z2:.2g}); the intervals were widened to match",
        )

    # extrapolating a form past the proxies costs more than its parameters' band when the form is wrong
    # there: the error of forecasting each next scale from the ones below it, beyond that forecast's own
    # variance, per doubling of extrapolation, is added to the draws in proportion to the distance
    form_sd = _form_error(forms, weights, x, u, sig, group, n_groups, x0)
    draws = np.stack([o.draws[rng.integers(0, o.draws.size, n_boot)] for o in usable], axis=1)
    pick = rng.choice(len(forms), size=n_boot, p=[weights[f.name] for f in forms])
    at_t = np.empty(n_boot)
    at_b = np.empty(n_boot)
    for k, f in enumerate(forms):
        data = _fit(design(f, x, group), u, w, None)  # the data's band: no prior
        boot = _fit(design(f, x, group), draws, w, None)
        mine = pick == k
        for out, at in ((at_t, xt), (at_b, xb)):
            centre = float(row(f, at) @ data)
            out[mine] = centre + (boot[mine] @ row(f, at) - centre) * inflate
    line_boot = _fit(design(FORMS[0], x, group), draws, w, None)
    gammas = line[-1] + (line_boot[:, -1] - line[-1]) * inflate

    def predict(at: float) -> float:
        return sum(weights[f.name] * float(row(f, at) @ coefs[f.name]) for f in forms)

    point_b, point_t = predict(xb), predict(xt)
    moves = at_t - at_b
    # whether the data resolve a drift is a question about the proxies, not about the form's extrapolation
    m_lo, m_hi = percentile_interval(moves, level)
    resolved = m_lo is not None and m_hi is not None and (m_lo > 0 or m_hi < 0)
    if form_sd > 0 and xt != xb:
        extra = rng.normal(0.0, form_sd * abs(xt - xb), n_boot)
        at_t, moves = at_t + extra, moves + extra
        m_lo, m_hi = percentile_interval(moves, level)
    applied = tau is not None or resolved or xt == xb
    point_move = point_t - point_b if applied else 0.0
    point = point_b + point_move
    t_lo, t_hi = percentile_interval(at_t, level)
    g_lo, g_hi = percentile_interval(gammas, level)
    gamma = Interval(float(line[-1]), _lo(g_lo, line[-1]), _hi(g_hi, line[-1]), level)
    target_u = Interval(float(point), _lo(t_lo, point), _hi(t_hi, point), level)
    move = Interval(float(point_move), _lo(m_lo, point_move), _hi(m_hi, point_move), level)
    model = max(weights, key=weights.__getitem__)
    if not applied:
        model = "unresolved"
        warn(
            "move_unresolved",
            f"{axis.name}: the move from {scale_name} {base:g} to {target_scale:g} is "
            f"{point_t - point_b:+.3g} {_unit(axis)} {_bounds_text(move)}, an interval that holds "
            "0: the value is not moved (the interval keeps the band the data cannot exclude)",
        )
    elif tau is not None:
        model = _promise_note(axis, scale_name, target_scale, gamma, move, tau, warn) or model
    return ScaleLaw(
        hparam=axis.name,
        scale_name=scale_name,
        scales=scales.tolist(),
        optima_u=u.tolist(),
        sigmas=sig.tolist(),
        gamma=gamma,
        intercept=float(line[ref]),
        gamma_compatible_with_zero=gamma.contains(0.0),
        target_scale=target_scale,
        target=to_hp(axis, target_u),
        target_u=target_u,
        residual_rms=finite(math.sqrt(float(np.sum(applied_resid**2)) / dof)) if dof > 0 else None,
        reduced_chi2=finite(chi2) if chi2 is not None else None,
        warnings=warnings,
        model=model,
        draws_u=at_t,
        draws_gamma=gammas,
        base_scale=base,
        move=move,
        draws_move=moves,
        form_weights={k: float(v) for k, v in weights.items()},
        loo_rms={k: finite(v[0]) for k, v in loo.items()},
        promise_scale=tau,
        coefficients={k: (float(v[ref]), float(v[-1])) for k, v in coefs.items()},
        x0=x0,
        applied=applied,
        form_error=form_sd,
    )


def _promise_note(
    axis: HPAxis, scale_name: str, target_scale: float, gamma: Interval, move: Interval, tau: float, warn: Any
) -> str | None:
    """Say what the promise did; "invariant" when the data are compatible with it."""
    if gamma.contains(0.0):
        warn(
            "invariance_assumed",
            f"{axis.name}: γ = {gamma.value:.3g} {_bounds_text(gamma)} is compatible with 0, as this "
            f"parametrization promises over {scale_name}: the prior N(0, {tau:g}²) per doubling shrinks the "
            f"move to {scale_name} {target_scale:g} to {move.value:+.3g} {_unit(axis)}; the interval is the "
            "data's band, since the proxies cannot exclude a drift inside it",
        )
        return "invariant"
    warn(
        "invariance_refuted",
        f"{axis.name}: γ = {gamma.value:.3g} {_bounds_text(gamma)} excludes 0, although this parametrization "
        f"promises an invariant optimum over {scale_name}: the value moves {move.value:+.3g} {_unit(axis)} "
        "(the drift, shrunk by the promise's prior); check the parametrization (coordinate check) and the "
        "proxies' budget",
    )
    return None


def _unit(axis: HPAxis) -> str:
    return "octave(s)" if axis.log else "(HP units)"


def _fit(
    design: np.ndarray, y: np.ndarray, w: np.ndarray, prior: tuple[np.ndarray, float] | None
) -> np.ndarray:
    """Weighted least squares of y (one row, or one per replicate) on `design`, with an optional Gaussian
    prior c·θ ~ N(0, τ²): θ = (XᵀWX + ccᵀ/τ²)⁺ XᵀWy. Returns θ, or (rows, 2)."""
    gram = design.T @ (design * w[:, None])
    if prior is not None:
        c, tau = prior
        gram = gram + np.outer(c, c) / tau**2
    solve = np.linalg.pinv(gram) @ (design * w[:, None]).T
    return (solve @ y.T).T if y.ndim == 2 else solve @ y


def _loo(design: np.ndarray, u: np.ndarray, sig: np.ndarray) -> tuple[float | None, float, float | None]:
    """(RMS leave-one-out error, summed log density of the held-out optima, mean squared z of the held-out
    errors) of a form's design; the density and z use the optimum's variance plus the refit's prediction
    variance. (None, 0, None) when a refit would leave no residual degree of freedom to predict from."""
    if u.size - design.shape[1] < 1:
        return None, 0.0, None
    errors, logp, z2 = [], 0.0, []
    for i in range(u.size):
        keep = np.arange(u.size) != i
        w = 1.0 / sig[keep] ** 2
        cov = np.linalg.pinv(design[keep].T @ (design[keep] * w[:, None]))
        theta = _fit(design[keep], u[keep], w, None)
        err = float(u[i] - design[i] @ theta)
        var = float(sig[i] ** 2 + design[i] @ cov @ design[i])
        errors.append(err)
        z2.append(err**2 / var)
        logp += -0.5 * (err**2 / var + math.log(2 * math.pi * var))
    return math.sqrt(float(np.mean(np.square(errors)))), logp, float(np.mean(z2))


def _form_error(
    forms: list[Form],
    weights: dict[str, float],
    x: np.ndarray,
    u: np.ndarray,
    sig: np.ndarray,
    group: np.ndarray,
    n_groups: int,
    x0: float,
) -> float:
    """The forms' extrapolation error per doubling, in u: forward chaining (rolling-origin evaluation, as
    forecasts are checked): fit each form on the scales up to one cut, forecast every optimum at the next
    scale up whose series has a point below the cut, and take the excess of the squared errors over their
    predicted variance (the optimum's plus the refit's), per squared doubling of extrapolation, by the
    method of moments (≥ 0). The forms' values are averaged by their weights; a form with too few scales
    below every cut has no check and does not count. 0 with fewer than 3 scales: nothing to check."""
    levels = np.unique(x)
    per_form: dict[str, float] = {}
    for form in forms:
        excess, dist = 0.0, 0.0
        for cut in range(1, levels.size):
            train = x < levels[cut] - 1e-12
            test = np.isclose(x, levels[cut])
            design = form.basis(x, x0, group, n_groups)
            used = np.flatnonzero(design[train].any(axis=0))
            if train.sum() < used.size + (0 if form.power is None else 1) or train.sum() < 2:
                continue  # a saturating form needs a third point to say anything a line does not
            cols = np.zeros(design.shape[1], dtype=bool)
            cols[used] = True
            w = 1.0 / sig[train] ** 2
            sub = design[train][:, cols]
            cov = np.linalg.pinv(sub.T @ (sub * w[:, None]))
            theta = cov @ (sub * w[:, None]).T @ u[train]
            for i in np.flatnonzero(test):
                row = design[i]
                if np.any(row[~cols] != 0):
                    continue  # its series has no point below the cut: its intercept is unknown
                known = x[train & (group == group[i])]
                d = float(x[i] - known.max()) if known.size else 0.0
                if d <= 0:
                    continue
                r = row[cols]
                err = float(u[i] - r @ theta)
                excess += err**2 - float(sig[i] ** 2 + r @ cov @ r)
                dist += d**2
        if dist > 0:
            per_form[form.name] = max(0.0, excess / dist)
    total = sum(weights[k] for k in per_form)
    if not per_form or total <= 0:
        return 0.0
    return math.sqrt(sum(weights[k] * v for k, v in per_form.items()) / total)


def _weights(loo: dict[str, tuple[float | None, float]], birge: float) -> dict[str, float]:
    """Pseudo-BMA weights ∝ exp(log density of the held-out optima), every form equally likely before the
    data, the log densities scaled
    down by the best form's Birge ratio (scatter beyond the optima's errors is not evidence for a form); the
    power law alone with fewer than 3 scales."""
    scored = {k: v[1] for k, v in loo.items() if v[0] is not None}
    if not scored:
        return {k: (1.0 if k == POWER_LAW else 0.0) for k in loo}
    top = max(scored.values())
    raw = {k: math.exp((scored[k] - top) / birge) if k in scored else 0.0 for k in loo}
    total = sum(raw.values())
    return {k: v / total for k, v in raw.items()}


def _bounds_text(interval: Interval) -> str:
    if interval.low is None or interval.high is None:
        return "(interval unknown)"
    return f"({100 * interval.level:g} % interval [{interval.low:.3g}, {interval.high:.3g}])"


def _sigma(fit: OptimumFit) -> float:
    draws = fit.draws[np.isfinite(fit.draws)] if fit.draws.size else fit.draws
    return max(float(np.std(draws)) if draws.size > 1 else 0.0, MIN_SIGMA)


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
