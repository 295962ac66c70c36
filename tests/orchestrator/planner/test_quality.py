"""The transfer-quality metrics (quality.py): the fit error is measured about the law the plan applied, its
leave-one-out refits run the plan's own procedure, R∞ is a non-negative asymptote with an interval, and κ
comes with an interval and is withheld or qualified where the points cannot identify it."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

from orchestrator.planner import HPAxis, TrialResult, fit_optimum, fit_scale_law
from orchestrator.planner.optimum import OptimumFit
from orchestrator.planner.quality import (
    asymptotic_penalty,
    asymptotic_penalty_interval,
    fit_error,
    loo_fit_error,
    loo_penalties,
    loo_predictions,
    robustness_exponent,
    robustness_fit,
    transfer_quality,
)
from orchestrator.planner.types import Interval

LR = HPAxis("lr", log=True, low=2**-16, high=2**-2)
WIDTHS = (32, 64, 128, 256)
CURVATURE = 0.05


def optimum(width: float, u: float, sd: float, rng: np.random.Generator) -> OptimumFit:
    """An optimum at exactly u with bootstrap draws of spread `sd` and the loss parabola 3 + k·(v − u)²."""
    return OptimumFit(
        "lr",
        float(width),
        Interval(2.0**u, 2.0 ** (u - sd), 2.0 ** (u + sd), 0.9),
        u,
        u - sd,
        u + sd,
        "quadratic",
        9,
        9,
        0,
        3.0,
        (CURVATURE, -2 * CURVATURE * u, 3.0 + CURVATURE * u * u),
        None,
        draws=u + rng.normal(0.0, sd, 400),
    )


def on_law(law_u, sd: float = 0.01, seed: int = 0, widths=WIDTHS) -> list[OptimumFit]:
    rng = np.random.default_rng(seed)
    return [optimum(w, law_u(math.log2(w / widths[0])), sd, rng) for w in widths]


def line_rms(law) -> float:
    """The old definition: the residual RMS about the straight line u₀ + γ·log2 w."""
    x, u = np.log2(law.scales), np.asarray(law.optima_u)
    gamma, u0 = np.polyfit(x, u, 1)
    return math.sqrt(float(np.sum((u - u0 - gamma * x) ** 2)) / (len(u) - 2))


# (a) metric 1 about the applied law


def test_optima_exactly_on_a_power_law_without_a_promise_have_no_fit_error() -> None:
    fits = on_law(lambda x: -8.0 - 0.12 * x)
    law = fit_scale_law(LR, fits, 2048, seed=0)
    assert law.promise_scale is None and law.applied and law.model == "power_law"
    assert fit_error(law) == pytest.approx(0.0, abs=1e-6)
    # the leave-one-out refits (the same procedure on 3 widths) predict the held-out optima too
    assert loo_fit_error(fits, loo_predictions(LR, law, fits)) < 0.01


def test_optima_on_a_saturating_law_are_measured_about_the_applied_mixture_not_a_line() -> None:
    fits = on_law(lambda x: -8.0 + 0.8 * 2.0**-x, widths=(16, 32, 64, 128, 256))
    law = fit_scale_law(LR, fits, 2048, seed=0)
    assert law.model == "saturating_p1" and law.applied
    resid = [u - law.predict_u(s) for s, u in zip(law.scales, law.optima_u, strict=True)]
    assert fit_error(law) == pytest.approx(math.sqrt(sum(r * r for r in resid) / (len(resid) - 2)))
    # a line through them is off by 0.13 octave; the applied mixture (mostly the exact form) much less
    assert line_rms(law) > 0.1 and fit_error(law) < line_rms(law) / 3


def test_fit_error_is_the_rms_about_predict_u_with_two_parameters_removed() -> None:
    rng = np.random.default_rng(3)
    fits = on_law(lambda x: -8.0 - 0.3 * x + rng.normal(0.0, 0.15), sd=0.2, seed=3)
    for invariant in (False, True):
        law = fit_scale_law(LR, fits, 2048, seed=0, invariant=invariant)
        resid = [u - law.predict_u(s) for s, u in zip(law.scales, law.optima_u, strict=True)]
        assert fit_error(law) == pytest.approx(math.sqrt(sum(r * r for r in resid) / (len(resid) - 2)))


def test_an_unresolved_move_is_measured_about_the_value_the_plan_kept() -> None:
    # a drift the noisy optima cannot resolve, no promise: the plan keeps the base's value, not the line
    rng = np.random.default_rng(1)
    fits = on_law(lambda x: -8.0 - 0.05 * x + rng.normal(0.0, 0.1), sd=0.5, seed=1)
    law = fit_scale_law(LR, fits, 2048, seed=0)
    assert not law.applied and law.model == "unresolved"
    kept = law.predict_u(law.base_scale)
    resid = np.asarray(law.optima_u) - kept
    assert fit_error(law) == pytest.approx(math.sqrt(float(np.sum(resid**2)) / (len(resid) - 2)))


def test_fit_error_needs_three_scales() -> None:
    fits = on_law(lambda x: -8.0 - 0.12 * x, widths=(32, 64))
    law = fit_scale_law(LR, fits, 2048, seed=0)
    assert fit_error(law) is None
    assert loo_predictions(LR, law, fits) == {} and loo_fit_error(fits, {}) is None
    assert loo_penalties(LR, law, fits) == {}


# (b) leave-one-out by the plan's own procedure


def test_leave_one_out_refits_with_fit_scale_law_and_its_promise_not_least_squares() -> None:
    rng = np.random.default_rng(5)
    fits = on_law(lambda x: -8.0 - 0.3 * x + rng.normal(0.0, 0.1), sd=0.15, seed=5)
    law = fit_scale_law(LR, fits, 2048, seed=0, invariant=True)
    assert law.promise_scale is not None
    predictions = loo_predictions(LR, law, fits)
    x, u = np.log2(WIDTHS), np.array([f.u for f in fits])
    ols_misses = []
    for i, held in enumerate(fits):
        refit = fit_scale_law(
            LR, fits[:i] + fits[i + 1 :], held.scale, n_boot=200, seed=0, invariant=True, base_scale=None
        )
        assert predictions[held.scale] == pytest.approx(refit.target_u.value)
        keep = np.arange(len(fits)) != i
        gamma, u0 = np.polyfit(x[keep], u[keep], 1)
        ols_misses.append(abs(predictions[held.scale] - (u0 + gamma * x[i])))
    # the promise's prior shrinks the extrapolated drift: plain least squares would predict elsewhere
    assert max(ols_misses) > 0.1
    errors = [f.u - predictions[f.scale] for f in fits]
    assert loo_fit_error(fits, predictions) == pytest.approx(math.sqrt(np.mean(np.square(errors))))
    # R(w) prices those same predictions on each width's parabola
    for w, r in loo_penalties(LR, law, fits, predictions).items():
        miss = predictions[w] - dict(zip(WIDTHS, u, strict=True))[w]
        assert r == pytest.approx(CURVATURE * miss**2 / 3.0)


# (c) R∞ ≥ 0 with an interval


def test_asymptotic_penalty_is_non_negative_where_least_squares_would_go_below_zero() -> None:
    points = {16.0: -0.01 + 0.5 / 16, 32.0: -0.01 + 0.5 / 32, 64.0: -0.01 + 0.5 / 64}
    w = np.array(sorted(points))
    assert np.polyfit(1 / w, [points[x] for x in w], 1)[1] == pytest.approx(-0.01)  # least squares: < 0
    r_inf = asymptotic_penalty(points)
    assert r_inf is not None and r_inf >= 0.0
    interval = asymptotic_penalty_interval(points)
    assert interval is not None and 0.0 <= interval[0] <= r_inf <= interval[1]


def test_asymptotic_penalty_does_not_grow_with_width() -> None:
    # penalties rising with width would give b < 0 by least squares; b ≥ 0 makes R∞ their mean
    points = {16.0: 0.05 - 0.5 / 16, 32.0: 0.05 - 0.5 / 32, 64.0: 0.05 - 0.5 / 64}
    assert asymptotic_penalty(points) == pytest.approx(np.mean(list(points.values())))


def test_asymptotic_penalty_and_its_interval_are_never_negative() -> None:
    rng = np.random.default_rng(0)
    for _ in range(20):
        widths = rng.choice([16.0, 32.0, 48.0, 64.0, 128.0, 256.0], size=rng.integers(3, 6), replace=False)
        points = {float(w): float(rng.normal(0.0, 0.02) + rng.normal(0.0, 1.0) / w) for w in widths}
        r_inf, interval = asymptotic_penalty(points), asymptotic_penalty_interval(points)
        assert r_inf is not None and r_inf >= 0.0
        assert interval is not None and 0.0 <= interval[0] <= r_inf <= interval[1]


def test_asymptotic_penalty_recovers_a_known_asymptote_and_needs_three_points_for_an_interval() -> None:
    two = {16.0: 0.01 + 0.5 / 16, 64.0: 0.01 + 0.5 / 64}
    assert asymptotic_penalty(two) == pytest.approx(0.01)
    assert asymptotic_penalty_interval(two) is None
    three = {**two, 32.0: 0.01 + 0.5 / 32}
    assert asymptotic_penalty_interval(three) == pytest.approx((0.01, 0.01))
    assert asymptotic_penalty({16.0: 0.1}) is None


# (d) κ with an interval, withheld or qualified


def curves_of(shape, widths=(16.0, 32.0, 64.0), noise: float = 0.0, seed: int = 0):
    rng = np.random.default_rng(seed)
    u = np.linspace(-3, 3, 13)
    return {w: (u + 1.0, 2.0 * (1 + shape(u) + rng.normal(0.0, noise, u.size))) for w in widths}


def test_kappa_of_a_pure_parabola_is_two_within_its_interval_and_says_so() -> None:
    for noise in (0.0, 1e-4):
        curves = curves_of(lambda d: 0.01 * d**2, noise=noise)
        fit = robustness_fit(curves, dict.fromkeys(curves, 1.0))
        assert fit.kappa == pytest.approx(2.0, abs=0.3)
        assert fit.interval is not None and fit.interval[0] - 1e-9 <= 2.0 <= fit.interval[1] + 1e-9
        assert fit.interval[1] - fit.interval[0] <= 2.0
        assert any("any smooth minimum" in n for n in fit.notes)


def test_kappa_away_from_two_is_reported_without_the_smooth_minimum_note() -> None:
    curves = curves_of(lambda d: 0.01 * np.abs(d) ** 1.5)
    fit = robustness_fit(curves, dict.fromkeys(curves, 1.0))
    assert fit.kappa == pytest.approx(1.5) and fit.coefficient == pytest.approx(0.01)
    assert fit.interval == pytest.approx((1.5, 1.5)) and fit.notes == ()
    assert robustness_exponent(curves, dict.fromkeys(curves, 1.0))[0] == pytest.approx(1.5)


def test_kappa_is_withheld_when_its_interval_is_wider_than_two() -> None:
    du = np.array([0.3, 0.4, 0.5, 0.6])
    rel = np.exp(np.random.default_rng(0).normal(-5.0, 2.0, du.size))
    fit = robustness_fit({16.0: (np.r_[0.0, du], np.r_[1.0, 1.0 + rel])}, {16.0: 0.0})
    assert fit.kappa is None and fit.coefficient is None and fit.points == 4
    assert fit.interval is not None and fit.interval[1] - fit.interval[0] > 2.0
    assert any("not identified" in n for n in fit.notes)


def test_kappa_is_withheld_with_fewer_than_three_points() -> None:
    fit = robustness_fit({16.0: (np.array([0.0, 0.5, 1.0]), np.array([1.0, 1.01, 1.04]))}, {16.0: 0.0})
    assert fit.kappa is None and fit.interval is None and fit.points == 2
    assert any("≥ 3 points" in n for n in fit.notes)


# the whole record


def trials_at(width: int, u_star: float, rng: np.random.Generator) -> list[TrialResult]:
    us = np.linspace(u_star - 3, u_star + 3, 13)
    return [
        TrialResult(
            "mup", width, 2, seed, {"lr": 2.0**u}, 3.0 + 0.05 * (u - u_star) ** 2 + rng.normal(0, 1e-4)
        )
        for u in us
        for seed in (0, 1)
    ]


def test_transfer_quality_reports_every_metric_with_its_interval_as_json() -> None:
    rng = np.random.default_rng(0)
    per_width = {w: trials_at(w, -8.0 - 0.12 * math.log2(w / 32), rng) for w in WIDTHS}
    fits = [
        fit_optimum(LR, [t.hparams["lr"] for t in ts], [t.final_loss for t in ts], scale=w, seed=w)
        for w, ts in per_width.items()
    ]
    law = fit_scale_law(LR, fits, 2048, seed=0)
    q = transfer_quality(LR, [LR], law, fits, per_width)
    assert q.fit_error_octaves is not None and q.fit_error_octaves < 0.05
    assert q.fit_error_loo_octaves is not None and q.fit_error_loo_octaves < 0.1
    assert q.asymptotic_penalty is not None and q.asymptotic_penalty >= 0.0
    lo, hi = q.asymptotic_penalty_interval
    assert 0.0 <= lo <= q.asymptotic_penalty <= hi
    assert q.robustness_exponent == pytest.approx(2.0, abs=0.2)  # a parabola: κ ≈ 2, and the note says why
    assert q.robustness_exponent_interval[0] <= 2.0 <= q.robustness_exponent_interval[1]
    assert any("any smooth minimum" in n for n in q.notes)
    assert q.expected_penalty_at_target is not None and q.expected_penalty_at_target >= 0.0
    record = json.loads(json.dumps(q.to_dict(), allow_nan=False))
    assert (
        len(record["asymptotic_penalty_interval"]) == 2 and len(record["robustness_exponent_interval"]) == 2
    )

    # no loss curves: no κ, so no expected penalty, and the notes say why
    bare = transfer_quality(LR, [LR], law, fits, {})
    assert bare.robustness_exponent is None and bare.robustness_exponent_interval is None
    assert bare.expected_penalty_at_target is None and any("κ needs" in n for n in bare.notes)
