"""Loss vs size and data L(N, D) = E + A·N^−α + B·D^−β: the target's loss inside its band on the law's own
model, too few budgets refused, bad cells dropped, a sparse cross design enough, and the coverage measured
(not assumed) on truths outside the model."""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np
import pytest

from orchestrator.planner.loss_surface import fit_loss_surface

# Chinchilla's fitted law (Hoffmann et al. 2022, approach 3) as the truth.
E, A, ALPHA, B, BETA = 1.69, 406.4, 0.34, 410.7, 0.28
TARGET_N, TARGET_D = 1e9, 1e10
STUDIES = 30
NOISE = 0.01  # 1 % lognormal noise on each cell's best loss
N_BOOT = 200  # per study in the coverage studies (the default is 500), to keep 90 fits quick

Law = Callable[[np.ndarray, np.ndarray], np.ndarray]


def law(n: np.ndarray, d: np.ndarray) -> np.ndarray:
    return E + A * n ** (-ALPHA) + B * d ** (-BETA)


def grid() -> tuple[np.ndarray, np.ndarray]:
    """4 sizes (1e6..1e8) × 4 budgets (1e7..1e9): 16 cells."""
    n, d = np.meshgrid(np.geomspace(1e6, 1e8, 4), np.geomspace(1e7, 1e9, 4), indexing="ij")
    return n.ravel(), d.ravel()


def coverage(truth: Law) -> tuple[float, float]:
    """Over STUDIES seeded studies on the 4×4 grid with 1 % noise: the share of 90 % intervals at the target
    that hold the true loss, and the mean relative error of the point prediction."""
    n, d = grid()
    true = float(truth(np.float64(TARGET_N), np.float64(TARGET_D)))
    hits, errors = 0, []
    for s in range(STUDIES):
        rng = np.random.default_rng(s)
        loss = truth(n, d) * np.exp(rng.normal(0.0, NOISE, n.size))
        fit = fit_loss_surface(n, d, loss, TARGET_N, TARGET_D, sems=loss * NOISE, seed=s, n_boot=N_BOOT)
        assert fit.identifiable
        hits += fit.prediction.contains(true)
        errors.append(fit.prediction.value / true - 1.0)
    return hits / STUDIES, float(np.mean(errors))


def test_target_loss_is_inside_the_band_on_the_laws_own_model() -> None:
    covered, bias = coverage(law)
    assert covered >= 0.8  # measured 0.87 (26 of 30); 0.90 with the default 500 replicates
    assert abs(bias) < 0.02


def test_noise_free_cells_give_back_the_parameters() -> None:
    n, d = grid()
    fit = fit_loss_surface(n, d, law(n, d), TARGET_N, TARGET_D, seed=0)
    assert fit.identifiable and fit.form == "E + A*N^-alpha + B*D^-beta"
    assert fit.alpha == pytest.approx(ALPHA, rel=0.01) and fit.beta == pytest.approx(BETA, rel=0.01)
    assert fit.E == pytest.approx(E, rel=0.01)
    assert fit.A == pytest.approx(A, rel=0.05) and fit.B == pytest.approx(B, rel=0.05)
    assert fit.residual_rms < 1e-5
    true = float(law(np.float64(TARGET_N), np.float64(TARGET_D)))
    assert fit.predict(TARGET_N, TARGET_D) == pytest.approx(true, rel=1e-4)
    assert fit.prediction.value == pytest.approx(true, rel=1e-4) and fit.prediction.contains(
        fit.prediction.value
    )
    # 1e10 tokens is 10× the largest budget (beyond 4×); 1e9 parameters is 10× the largest size (within 16×)
    (extrapolated,) = [w for w in fit.warnings if w.code == "loss_surface_extrapolated"]
    assert "token budget is 10×" in extrapolated.message and "size" not in extrapolated.message
    out = fit.to_dict()
    assert out["identifiable"] is True and out["prediction"]["value"] == pytest.approx(true, rel=1e-4)
    assert out["warnings"][0]["code"] == "loss_surface_extrapolated"


def test_two_budgets_are_refused_with_what_is_missing() -> None:
    n, d = np.meshgrid(np.geomspace(1e6, 1e8, 5), [1e8, 1e9], indexing="ij")
    n, d = n.ravel(), d.ravel()
    fit = fit_loss_surface(n, d, law(n, d), TARGET_N, TARGET_D)
    assert not fit.identifiable
    assert fit.prediction.value is None and fit.prediction.low is None and fit.prediction.high is None
    assert fit.E is None and fit.predict(TARGET_N, TARGET_D) is None
    (w,) = [w for w in fit.warnings if w.code == "loss_surface_unidentified"]
    assert "L(N, D) needs ≥ 3 token budgets; the proxies ran 2" in w.message
    assert fit.to_dict()["prediction"]["value"] is None


def test_too_few_cells_or_sizes_are_refused() -> None:
    n = np.array([1e6, 1e7, 1e6, 1e7, 1e6, 1e7])
    d = np.array([1e7, 1e7, 1e8, 1e8, 1e9, 1e9])
    fit = fit_loss_surface(n, d, law(n, d), TARGET_N, TARGET_D)
    assert not fit.identifiable
    (w,) = [w for w in fit.warnings if w.code == "loss_surface_unidentified"]
    assert "≥ 3 model sizes; the proxies ran 2" in w.message and "≥ 7" in w.message


@pytest.mark.parametrize("bad", [math.nan, math.inf, -1.0, 0.0])
def test_bad_cells_are_dropped_and_warned(bad: float) -> None:
    n, d = grid()
    loss = law(n, d)
    loss[[3, 9]] = bad
    fit = fit_loss_surface(n, d, loss, 2e8, 2e9, seed=0)
    assert "loss_surface_dropped_cells" in [w.code for w in fit.warnings]
    assert fit.identifiable and len(fit.losses) == 14 and len(fit.ns) == len(fit.ds) == 14
    assert fit.prediction.value == pytest.approx(float(law(np.float64(2e8), np.float64(2e9))), rel=1e-3)
    assert "loss_surface_extrapolated" not in [w.code for w in fit.warnings]


def test_dropping_cells_can_make_the_law_unidentified() -> None:
    n = np.array([1e6, 1e7, 1e8, 1e6, 1e6, 1e6, 1e7])
    d = np.array([1e8, 1e8, 1e8, 1e7, 3e8, 1e9, 1e9])
    loss = law(n, d)
    loss[5] = math.nan
    fit = fit_loss_surface(n, d, loss, TARGET_N, TARGET_D)
    codes = [w.code for w in fit.warnings]
    assert "loss_surface_dropped_cells" in codes and "loss_surface_unidentified" in codes
    assert not fit.identifiable


def test_a_cross_design_of_seven_cells_is_enough() -> None:
    """4 sizes at one budget, and 3 more budgets at the smallest size: 4 N and 4 D values, 7 cells."""
    n = np.array([1e6, 1e7, 3e7, 1e8, 1e6, 1e6, 1e6])
    d = np.array([1e8, 1e8, 1e8, 1e8, 1e7, 3e8, 1e9])
    fit = fit_loss_surface(n, d, law(n, d), 5e7, 5e8, seed=0)
    assert fit.identifiable
    assert [w.code for w in fit.warnings] == []
    for at in [(5e7, 5e8), (1e8, 1e9), (2e6, 3e7)]:
        assert fit.predict(*at) == pytest.approx(float(law(np.float64(at[0]), np.float64(at[1]))), rel=0.02)
    assert fit.prediction.contains(float(law(np.float64(5e7), np.float64(5e8))))


def test_a_target_beyond_sixteen_times_the_largest_size_is_called_out() -> None:
    n, d = grid()
    fit = fit_loss_surface(n, d, law(n, d), 1e10, 2e9, seed=0, n_boot=50)
    (w,) = [w for w in fit.warnings if w.code == "loss_surface_extrapolated"]
    assert "size is 100×" in w.message and "token budget" not in w.message


def interaction(n: np.ndarray, d: np.ndarray) -> np.ndarray:
    """Outside the model: an N·D interaction the additive law cannot express, 0.16 of the 2.85 at the target
    (the law's own terms give 2.69) and 2.5 at the smallest cell."""
    return law(n, d) + 1000.0 * (n * d) ** -0.2


def steeper_past_1e8(n: np.ndarray, d: np.ndarray) -> np.ndarray:
    """Outside the model: the data term's exponent steepens from 0.28 to 0.4 past 1e8 tokens (continuous)."""
    d_term = np.where(d <= 1e8, B * d ** (-BETA), B * 1e8 ** (-BETA) * (d / 1e8) ** -0.4)
    return E + A * n ** (-ALPHA) + d_term


def test_coverage_outside_the_model_is_measured_not_assumed() -> None:
    """These truths break the fit's additive, constant-exponent form, so its 90 % band is not a 90 % band
    any more. The bands asserted are around what these 30 seeded studies measured (this noise, grid and
    target), pinned so that a change in the fit, or a fix, shows up here. On its own model the same studies
    give 0.87 coverage, a 12 % wide band and a 0.9 % residual rms."""
    # The interaction is absorbed into a far lower E (≈ 0.74 against 1.69): residuals double (rms ≈ 2 %) and
    # the band widens to ≈ 26 %, yet the point is 13 % low and the band holds the truth about half the time.
    covered, bias = coverage(interaction)
    assert 0.3 <= covered <= 0.65  # measured 0.47 (14 of 30); 0.53 with 500 replicates
    assert -0.17 <= bias <= -0.09  # measured -0.133
    # One β for two regimes: the fit reads β ≈ 0.22 and E ≈ 0.52, the residuals stay at the noise (0.9 %), so
    # the band (≈ 14 %) does not widen while the point is 11 % low: a bias the bootstrap cannot see.
    covered, bias = coverage(steeper_past_1e8)
    assert 0.05 <= covered <= 0.35  # measured 0.20 (6 of 30); 0.17 with 500 replicates
    assert -0.14 <= bias <= -0.07  # measured -0.108
