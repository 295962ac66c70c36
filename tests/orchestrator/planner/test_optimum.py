"""The per-width optimum: known optima recovered inside their intervals, flags that fire when they should."""

from __future__ import annotations

import math

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from orchestrator.planner import HPAxis, fit_optimum

LR = HPAxis("lr", log=True, low=2**-12, high=2**-4)


def parabola(
    u: np.ndarray, u_star: float, rng: np.random.Generator, noise: float = 0.01, skew: float = 0.0
) -> np.ndarray:
    d = u - u_star
    return 3.0 + 0.05 * d**2 + skew * d**3 + rng.normal(0.0, noise, u.shape)


def grid(points: int = 9, seeds: int = 2, low: float = -12, high: float = -4) -> np.ndarray:
    return np.repeat(np.linspace(low, high, points), seeds)


def test_known_optimum_is_inside_the_90_percent_interval_about_90_percent_of_the_time() -> None:
    hits, widths = 0, []
    for s in range(50):
        rng = np.random.default_rng(s)
        u_star = -8 + rng.uniform(-0.7, 0.7)
        u = grid()
        fit = fit_optimum(LR, 2.0**u, parabola(u, u_star, rng), seed=s)
        assert fit.method == "quadratic"
        hits += fit.u_low <= u_star <= fit.u_high
        widths.append(fit.u_high - fit.u_low)
        assert abs(fit.optimum.value - 2.0**fit.u) < 1e-12
    assert 0.8 <= hits / 50 <= 1.0
    assert np.mean(widths) < 0.5  # informative, not wide by construction


def test_single_seed_grid_still_gets_an_interval_with_reasonable_coverage() -> None:
    hits = 0
    for s in range(50):
        rng = np.random.default_rng(100 + s)
        u_star = -8 + rng.uniform(-0.5, 0.5)
        u = grid(points=7, seeds=1)
        fit = fit_optimum(LR, 2.0**u, parabola(u, u_star, rng, noise=0.005), seed=s)
        hits += fit.u_low <= u_star <= fit.u_high
    assert hits / 50 >= 0.8


def test_skewed_loss_curve_keeps_the_estimate_near_the_optimum() -> None:
    """Steeper toward divergence: the parabola's vertex shifts, the cubic-aware interval still reaches it."""
    hits = 0
    for s in range(30):
        rng = np.random.default_rng(200 + s)
        u = grid(seeds=3)
        fit = fit_optimum(LR, 2.0**u, parabola(u, -8.0, rng, noise=0.003, skew=0.01), seed=s)
        assert abs(fit.u + 8.0) < 0.6
        hits += fit.u_low <= -8.0 <= fit.u_high
    assert hits / 30 >= 0.6


def test_a_skewed_curve_over_a_wide_window_is_narrowed_and_flagged() -> None:
    rng = np.random.default_rng(6)
    u = grid(seeds=3)  # the wide window spans ±2 octaves, over which the skew moves the vertex by ~⅓
    fit = fit_optimum(LR, 2.0**u, parabola(u, -8.0, rng, noise=0.002, skew=0.01), seed=0)
    codes = [w.code for w in fit.warnings]
    assert "narrowed_window" in codes and "off_centre" not in codes
    assert fit.n_points == 9  # 3 values × 3 seeds within 1.5 octaves of the best
    assert abs(fit.u + 8.0) < 0.15  # the wide parabola's vertex sat ~⅓ octave off
    assert fit.u_low - 0.05 <= -8.0 <= fit.u_high + 0.05  # coverage over seeds: the test above


def test_octave_grid_with_a_steep_divergence_side_is_fitted_near_the_best() -> None:
    """A measured curve (the demo's μP proxy at width 32, one seed, five LRs an octave apart, steeper
    toward divergence): the wide parabola's vertex is pulled ~0.8 octave below the best point, so the fit
    narrows to the three points around it, and an exact three-point fit still gets an interval."""
    u = np.linspace(-9.5, -5.5, 5)
    loss = np.array([2.868, 2.637, 2.489, 2.456, 2.777])
    fit = fit_optimum(LR, 2.0**u, loss, seed=0)
    wide = np.polyfit(u, loss, 2)
    assert -wide[1] / (2 * wide[0]) < -7.2  # the wide vertex
    assert "narrowed_window" in [w.code for w in fit.warnings]
    assert -7.0 < fit.u < -6.5 and fit.u_low < fit.u < fit.u_high and fit.u_high - fit.u_low < 2.0


def test_optimum_beyond_the_range_is_flagged_with_a_range_around_it() -> None:
    rng = np.random.default_rng(0)
    u = grid()
    fit = fit_optimum(LR, 2.0**u, parabola(u, -2.5, rng), seed=0)
    codes = [w.code for w in fit.warnings]
    assert "edge_of_range" in codes
    low, high = fit.suggested_range
    assert 2**-4 < high and low < 2**-2.5 < high
    assert math.isclose(math.log2(high) - math.log2(low), 8.0, rel_tol=1e-6)  # same span, moved


def test_interior_optimum_raises_no_edge_or_count_flags() -> None:
    rng = np.random.default_rng(1)
    u = grid()
    fit = fit_optimum(LR, 2.0**u, parabola(u, -8.2, rng), seed=0)
    assert fit.warnings == []
    assert fit.suggested_range is None


def test_too_few_points_is_flagged_and_not_otherwise() -> None:
    rng = np.random.default_rng(2)
    few = np.array([-9.0, -8.0, -7.0])
    fit = fit_optimum(LR, 2.0**few, parabola(few, -8.1, rng, noise=0.001), seed=0)
    assert "too_few_points" in [w.code for w in fit.warnings]
    enough = grid(points=5, seeds=1, low=-10, high=-6)
    fit = fit_optimum(LR, 2.0**enough, parabola(enough, -8.1, rng, noise=0.001), seed=0)
    assert "too_few_points" not in [w.code for w in fit.warnings]


def test_monotone_loss_falls_back_to_the_best_point_and_says_so() -> None:
    u = grid(seeds=1)
    fit = fit_optimum(LR, 2.0**u, 4.0 - 0.1 * u, seed=0)  # lower is always better: no minimum inside
    codes = [w.code for w in fit.warnings]
    assert fit.u == -4.0
    assert "edge_of_range" in codes
    concave = 3.0 - 0.05 * (u + 8.0) ** 2
    fit = fit_optimum(LR, 2.0**u, concave, seed=0)
    assert fit.method == "best_point" and "no_curvature" in [w.code for w in fit.warnings]


def test_diverged_trials_are_left_out_but_bound_the_optimum() -> None:
    rng = np.random.default_rng(3)
    u = grid(seeds=1)
    loss = parabola(u, -5.0, rng, noise=0.001)
    diverged = u >= -5.0  # everything from the true optimum upward blew up
    loss[diverged] = np.inf
    fit = fit_optimum(LR, 2.0**u, loss, diverged, seed=0)
    assert fit.n_diverged == int(diverged.sum())
    assert fit.u_high <= -5.0 and fit.u <= -5.0
    assert "edge_of_range" not in [w.code for w in fit.warnings]  # the range did reach instability


def test_points_on_one_side_of_the_optimum_are_flagged_off_centre() -> None:
    rng = np.random.default_rng(4)
    u = np.repeat(np.array([-12.0, -11.0, -10.0, -9.0, -8.0, -7.6]), 2)
    fit = fit_optimum(LR, 2.0**u, parabola(u, -7.8, rng, noise=0.001), seed=0)
    assert "off_centre" in [w.code for w in fit.warnings]


def test_all_diverged_gives_no_optimum_and_a_warning() -> None:
    u = grid(seeds=1)
    fit = fit_optimum(LR, 2.0**u, [math.nan] * u.size, seed=0)
    assert fit.method == "none" and fit.u is None
    assert [w.code for w in fit.warnings] == ["all_diverged"]
    assert fit.to_dict()["value"] is None


def test_linear_axis_fits_the_value_itself() -> None:
    rng = np.random.default_rng(5)
    warmup = HPAxis("warmup", log=False, low=0.0, high=0.4)
    x = np.repeat(np.linspace(0.0, 0.4, 9), 2)
    fit = fit_optimum(warmup, x, 3.0 + 4.0 * (x - 0.15) ** 2 + rng.normal(0, 0.001, x.size), seed=0)
    assert fit.optimum.low <= 0.15 <= fit.optimum.high


loss_values = st.one_of(st.none(), st.floats(allow_nan=True, allow_infinity=True, width=32))
hp_values = st.floats(allow_nan=True, allow_infinity=True, width=32)


@settings(max_examples=150, deadline=None)
@given(st.lists(st.tuples(hp_values, loss_values, st.booleans()), max_size=25))
def test_any_input_gives_a_fit_never_an_exception(points: list[tuple[float, float | None, bool]]) -> None:
    values = [p[0] for p in points]
    losses = [p[1] for p in points]
    diverged = [p[2] for p in points]
    fit = fit_optimum(LR, values, losses, diverged, n_boot=50, seed=0)
    encoded = fit.to_dict()
    assert encoded["method"] in {"quadratic", "best_point", "none"}
    for key in ("value", "low", "high", "u", "best_loss"):
        assert encoded[key] is None or math.isfinite(encoded[key])


def test_the_scatter_around_the_parabola_estimates_one_runs_noise() -> None:
    """With one seed per point the scatter around the fitted curve is the only noise estimate the plan has
    (plan.py falls back on it for the loss law); it should be near the true noise, not 0."""
    estimates = []
    for s in range(30):
        rng = np.random.default_rng(200 + s)
        u = grid(points=15, seeds=1, low=-11, high=-5)
        fit = fit_optimum(LR, 2.0**u, parabola(u, -8.0, rng, noise=0.01), seed=s)
        assert fit.residual_std is not None and fit.to_dict()["residual_std"] == fit.residual_std
        estimates.append(fit.residual_std)
    assert 0.007 < float(np.median(estimates)) < 0.013
