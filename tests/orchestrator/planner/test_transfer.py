"""The transfer law u*(w) = u₀ + γ log2 w: γ recovered within its interval; μP and SP drift told apart; the
target's interval covers the truth whether a promised γ = 0 holds, is slightly wrong, or is refuted."""

from __future__ import annotations

import math

import numpy as np
import pytest
from support.synthetic import HALF_OCTAVE_GRID, Surface, grid_trials, lr_optima, make_spec

from orchestrator.planner import HPAxis, fit_optimum, fit_scale_law, transfer
from orchestrator.planner.optimum import OptimumFit
from orchestrator.planner.quality import extrapolation_robustness
from orchestrator.planner.types import Interval

LR = HPAxis("lr", log=True, low=2**-16, high=2**-2)
WIDTHS = (32, 64, 128, 256)


def optima(
    gamma: float, rng: np.random.Generator, widths: tuple[int, ...] = WIDTHS, bend: float = 0.0, seed: int = 0
) -> tuple[list, float]:
    """Per-width fits on lr grids centred (with jitter) on the drifting optimum; returns them and u₀."""
    u0 = -8 + rng.uniform(-0.5, 0.5)
    fits = []
    for w in widths:
        x = math.log2(w / widths[0])
        u_star = u0 + gamma * x + bend * x * x
        u = np.repeat(np.linspace(u_star - 4, u_star + 4, 9) + rng.uniform(-0.5, 0.5), 2)
        loss = 3.0 + 0.05 * (u - u_star) ** 2 + rng.normal(0, 0.01, u.size)
        fits.append(fit_optimum(LR, 2.0**u, loss, scale=w, seed=seed))
    return fits, u0


def test_gamma_and_the_extrapolated_optimum_are_covered_by_their_intervals() -> None:
    for gamma in (0.0, -1.0):
        gamma_hits = target_hits = 0
        for s in range(50):
            fits, u0 = optima(gamma, np.random.default_rng(s), seed=s)
            law = fit_scale_law(LR, fits, 2048, seed=s)
            gamma_hits += law.gamma.contains(gamma)
            truth = u0 + gamma * math.log2(2048 / 32)
            target_hits += law.target_u.contains(truth)
            assert law.gamma.high - law.gamma.low < 0.2
        assert 0.8 <= gamma_hits / 50 <= 1.0, gamma
        assert 0.8 <= target_hits / 50 <= 1.0, gamma


def test_mup_like_drift_is_compatible_with_zero_and_sp_like_is_not() -> None:
    mup = fit_scale_law(LR, optima(0.0, np.random.default_rng(7))[0], 2048, seed=0)
    sp = fit_scale_law(LR, optima(-1.0, np.random.default_rng(7))[0], 2048, seed=0)
    assert mup.gamma_compatible_with_zero is True
    assert sp.gamma_compatible_with_zero is False
    assert sp.gamma.contains(-1.0) and abs(sp.gamma.value + 1.0) < 0.1
    ratio = sp.target.value / 2.0 ** sp.optima_u[-1]
    assert 0.1 < ratio < 0.15  # 1/8 for an 8× wider target than the widest proxy


def test_two_widths_fit_exactly_and_warn_that_the_form_is_unchecked() -> None:
    fits = optima(0.0, np.random.default_rng(1), widths=(32, 64))[0]
    law = fit_scale_law(LR, fits, 512, seed=0)
    assert "two_scales" in [w.code for w in law.warnings]
    assert law.reduced_chi2 is None and law.gamma.low is not None


def test_one_width_gives_no_law_but_keeps_its_value() -> None:
    fits = optima(0.0, np.random.default_rng(1), widths=(32,))[0]
    law = fit_scale_law(LR, fits, 512, seed=0)
    assert law.gamma.value is None and "transfer_unfitted" in [w.code for w in law.warnings]
    assert law.target.value == fits[0].optimum.value


def test_a_curved_drift_is_priced_by_the_extrapolation_metric() -> None:
    straight = extrapolation_robustness(LR, optima(-1.0, np.random.default_rng(3))[0])
    curved = extrapolation_robustness(LR, optima(-1.0, np.random.default_rng(3), bend=-0.5)[0])
    assert straight.relative_penalty < 1e-3
    assert curved.relative_penalty > 5 * straight.relative_penalty
    assert curved.error_u > 0.5  # the law fitted on the narrower widths overshoots the bent optimum


def test_poor_power_law_widens_the_interval() -> None:
    bent = optima(0.0, np.random.default_rng(4), widths=(32, 64, 128, 256, 512), bend=0.4)[0]
    law = fit_scale_law(LR, bent, 2048, seed=0)
    assert "poor_power_law" in [w.code for w in law.warnings]
    assert law.reduced_chi2 > 2


def test_a_kept_promise_shrinks_the_point_toward_it_but_keeps_the_datas_band() -> None:
    """μP's γ = 0 held by the data: the prior N(0, 0.1²) per doubling shrinks the slope to the posterior mean
    γ̂·τ²/(τ² + se²) (se² of the weighted line's slope), but the interval is the data's band, since two
    proxies cannot exclude a drift inside it (docs/planner.md, "Transfer laws"). Without a promise, a move
    whose interval holds 0 is not made: the value stays at the widest proxy's."""
    kept_laws = 0
    for s in range(40):
        fits, _ = optima(0.0, np.random.default_rng(100 + s), widths=(32, 64), seed=s)
        kept = fit_scale_law(LR, fits, 512, seed=s, invariant=True)
        free = fit_scale_law(LR, fits, 512, seed=s)
        assert free.promise_scale is None and kept.promise_scale == 0.1
        if not free.applied:
            assert free.target_u.value == pytest.approx(fits[-1].u)  # the line through both is not moved
            assert "move_unresolved" in [w.code for w in free.warnings]
        if kept.model != "invariant":
            continue  # γ excluded 0 by chance (about 1 in 10 at a 90 % level)
        kept_laws += 1
        assert "invariance_assumed" in [w.code for w in kept.warnings]
        se2 = kept.sigmas[0] ** 2 + kept.sigmas[1] ** 2  # two points one octave apart
        posterior = kept.gamma.value * 0.1**2 / (0.1**2 + se2)
        assert kept.applied_gamma.value == pytest.approx(posterior, rel=1e-6)
        assert np.array_equal(kept.draws_gamma, free.draws_gamma)  # any move carries the data's band
        assert kept.target_u.low == pytest.approx(min(free.target_u.low, kept.target_u.value))
        assert kept.target_u.high == pytest.approx(max(free.target_u.high, kept.target_u.value))
        assert kept.predict_u(512) == pytest.approx(kept.target_u.value)
    assert kept_laws >= 30


# The review's setting (synthetic.HALF_OCTAVE_GRID): 15 learning rates half an octave apart, one seed, noise
# that gives γ an interval ~0.4 wide with 2 widths. The old rule (keep γ = 0 and its own band) covered the
# target optimum in none of the studies it kept at a true γ of −0.12.
COVERAGE_STUDIES = 40
DRIFTS = [(0.0, True), (-0.1, True), (-0.2, True), (-0.5, True), (-1.0, False)]  # (true γ, μP promise)


@pytest.mark.parametrize("widths", [(32, 64), (32, 64, 128)], ids=["2 widths", "3 widths"])
@pytest.mark.parametrize(
    ("gamma", "promise"), DRIFTS, ids=[f"γ={g} {'μP' if p else 'SP'}" for g, p in DRIFTS]
)
def test_the_target_lr_interval_covers_the_true_optimum_whatever_the_drift(
    gamma: float, promise: bool, widths: tuple[int, ...]
) -> None:
    """≥ 80 % of 40 seeded studies' 90 % intervals hold the true optimum at the target, under a promise that
    may be slightly wrong (γ = −0.1, −0.2) or refuted (−0.5), and with no promise (SP). The widths are bounded
    too: the median interval is no wider than γ's own band carried over the extrapolation distance (+20 %),
    so the test cannot pass by being merely wide. With 3 widths the law is a mixture of a line and saturating
    forms (transfer.py), which costs width: up to 1.6× the line's band (a refuted μP promise: the shrunk point
    widens its own interval; the forecast of the third width from the first two adds its excess error in the
    studies where it misses by chance), 1.45 octaves at most."""
    spec = make_spec(list(widths), 512, seeds=1, **HALF_OCTAVE_GRID)
    surface = Surface(gamma=gamma, u0=-9.0 if promise else -7.5, noise=0.015)
    truth = surface.optimum_u(512)
    distance = math.log2(512) - float(np.mean(np.log2(widths)))
    hits, ratios, spans = 0, [], []
    for s in range(COVERAGE_STUDIES):
        trials = grid_trials(spec, {"mup": surface}, np.random.default_rng(1000 + s))
        axis, fits = lr_optima(spec, trials, "mup", seed=s)
        law = fit_scale_law(axis, fits, 512, seed=s, invariant=promise)
        hits += law.target_u.contains(truth)
        spans.append(law.target_u.high - law.target_u.low)
        ratios.append(spans[-1] / ((law.gamma.high - law.gamma.low) * distance))
    assert hits >= 0.8 * COVERAGE_STUDIES, (hits, np.median(spans))
    assert np.median(ratios) < (1.3 if len(widths) == 2 else 1.6), np.median(ratios)
    assert np.median(spans) < (1.7 if len(widths) == 2 else 1.45), np.median(spans)  # octaves


def test_a_refuted_invariance_follows_the_line_and_says_so() -> None:
    fits, u0 = optima(-1.0, np.random.default_rng(3))
    law = fit_scale_law(LR, fits, 2048, seed=0, invariant=True)
    assert law.model == "power_law" and "invariance_refuted" in [w.code for w in law.warnings]
    assert law.target_u.contains(u0 - math.log2(2048 / 32))
    assert law.to_dict()["model"] == "power_law"


def _optima(us: list[float], widths: list[int], sd: float = 0.02) -> list[OptimumFit]:
    """Optima exactly at `us` with bootstrap draws of spread `sd` (no fit: what the law sees)."""
    rng = np.random.default_rng(0)
    return [
        OptimumFit(
            "lr",
            float(w),
            Interval(2.0**u, 2.0 ** (u - sd), 2.0 ** (u + sd), 0.9),
            u,
            u - sd,
            u + sd,
            "quadratic",
            9,
            9,
            0,
            3.0,
            None,
            None,
            draws=u + rng.normal(0.0, sd, 400),
        )  # fmt: skip
        for u, w in zip(us, widths, strict=True)
    ]


def test_the_forms_extrapolation_error_is_measured_by_forecasting_each_proxy_from_the_narrower_ones(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A drift that the forms follow (a line) forecasts every proxy within its variance: no form error, the
    interval is the bootstrap's. A drift that stops at the widest two proxies (−1 octave per doubling, then
    flat) is forecast ~1 octave wrong from the first two: the error per doubling of extrapolation is
    added to the target's draws, the interval reaches the flat continuation, the point does not move, and
    whether the move is resolved is still the data's drift. Two scales: nothing to forecast."""
    axis = HPAxis("lr", log=True, low=2**-16, high=2**-2)
    widths = [32, 64, 128, 256]
    line = fit_scale_law(axis, _optima([-6.0, -7.0, -8.0, -9.0], widths), 2048, seed=0)
    assert line.form_error == pytest.approx(0.0, abs=1e-9) and line.to_dict()["form_error"] < 1e-9
    knee = fit_scale_law(axis, _optima([-6.0, -7.0, -8.0, -8.0], widths), 2048, seed=0)
    assert knee.form_error > 0.25
    assert knee.target_u.contains(-8.0) and knee.applied  # the flat continuation; the data's drift resolved
    assert knee.move.contains(0.0)  # ... while the move's interval, with the form error, holds 0
    monkeypatch.setattr(transfer, "_form_error", lambda *args: 0.0)
    without = fit_scale_law(axis, _optima([-6.0, -7.0, -8.0, -8.0], widths), 2048, seed=0)
    assert knee.target_u.value == pytest.approx(without.target_u.value)
    assert not without.target_u.contains(-8.0)
    assert knee.target_u.high - knee.target_u.low > 2 * (without.target_u.high - without.target_u.low)
    two = fit_scale_law(axis, _optima([-6.0, -7.0], [32, 64]), 2048, seed=0)
    assert two.form_error == 0.0
