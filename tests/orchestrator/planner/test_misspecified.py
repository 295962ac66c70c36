"""The planner measured on truths it does not assume (support/misspecified.py; docs/planner.md, "Under models
the planner does not assume"): a saturating drift, a jump at the widest widths, Student-t noise, loss curves
steeper toward divergence, a loss law whose exponent changes with N.

Every claim in docs/planner.md's other tables was measured on studies drawn from the planner's own model.
These tests pin down what survives outside it, and where the planner is honestly wrong they assert the size
of the miss, so that a fix (or a regression) changes a number here. Each case is 40 seeded studies of μP and
SP (proxies 32/64/128 → 1024, or 32..256 → 2048 where the loss law's band is under test; 17 learning rates
half an octave apart, 2 seeds); `bench/misspecified.py` prints the same table over more studies.
"""

from __future__ import annotations

import math
from functools import cache

import numpy as np
import pytest
from support import synthetic
from support.misspecified import (
    CONTROL,
    FOUR_WIDTHS,
    THREE_WIDTHS,
    Design,
    Summary,
    Truth,
    cases,
    grid_trials,
    measure,
)

STUDIES = 40


@cache
def measured(design: Design, key: str) -> dict[str, Summary]:
    """The case of `design` whose name starts with `key` ("control", "1.", "2a.", …), over STUDIES studies."""
    (truths,) = [t for name, t in cases(design) if name.startswith(key)]
    return measure(design, truths, STUDIES)


def test_a_truth_that_replaces_nothing_is_the_planners_own_model() -> None:
    """The control draws the very trials synthetic.py draws (same stream), so each case differs from it only
    by the assumption it breaks."""
    spec = THREE_WIDTHS.spec(("mup", "sp"))
    surfaces = {p: t.surface for p, t in CONTROL.items()}
    ours = grid_trials(spec, CONTROL, np.random.default_rng(3))
    theirs = synthetic.grid_trials(spec, surfaces, np.random.default_rng(3))
    assert [(t.width, t.seed, t.hparams, t.diverged) for t in ours] == [
        (t.width, t.seed, t.hparams, t.diverged) for t in theirs
    ]
    assert np.allclose([t.final_loss for t in ours], [t.final_loss for t in theirs], equal_nan=True)
    truth = Truth(CONTROL["mup"].surface, asymmetry=1.0)
    assert truth.excess(1e-3) == pytest.approx(truth.surface.curvature * 1e-6, rel=1e-2)  # same curvature
    assert truth.excess(2.0) > 2 * truth.excess(-2.0) > 0  # steeper toward divergence
    assert math.isclose(truth.regret(truth.optimum_u(1024), 1024), 0.0, abs_tol=1e-12)


@pytest.mark.parametrize("design", [THREE_WIDTHS, FOUR_WIDTHS], ids=["3 widths", "4 widths"])
def test_on_its_own_model_the_planner_covers_and_holds(design: Design) -> None:
    """The control every other case is read against: the same design drawn from the planner's own model."""
    for p, s in measured(design, "control").items():
        assert s.cover >= 0.8 and s.median_width < 0.35, (p, s)
        assert s.rms_error < 0.12 and s.mean_regret < 0.001, (p, s)
        assert s.verdicts.get("holds", 0) >= 38 and s.holds_with_regret == 0, (p, s)
        assert s.loss_cover >= 0.85, (p, s)
        # with 3 widths the loss law is a pure power law and its band reaches the widest proxy's loss
        if design is FOUR_WIDTHS:
            assert s.loss_width < 0.15, (p, s)


def test_a_saturating_drift_is_overshot_and_often_passes_the_verdict() -> None:
    """The line extrapolates a drift that has stopped. μP (an offset fading as 1/width): the target lr lands
    ~0.55 octave low, outside its interval in over 90 % of studies, all with a "holds" verdict. SP (0.75
    octave per doubling up to width 64, flat beyond, as in the repo's benchmark): ~1.25 octaves low, ~4 %
    regret, and the extrapolation check catches it in only about half the studies; every "holds" costs more
    than 1 %. Known misses, asserted by size."""
    mup, sp = measured(THREE_WIDTHS, "1.").values()
    assert -0.75 < mup.median_error < -0.35 and mup.cover <= 0.3, mup
    assert 0.004 < mup.mean_regret < 0.015 and mup.verdicts.get("holds", 0) >= 36, mup
    assert mup.holds_with_regret >= 5, mup
    assert -1.5 < sp.median_error < -0.9 and sp.mean_regret > 0.025, sp
    # the check sees the knee from the widest proxy (on the flat part) in about half the studies
    assert 10 <= sp.verdicts.get("fails", 0) <= 30, sp
    assert sp.holds_with_regret == sp.verdicts.get("holds", 0), sp
    assert sp.median_width > 1.5 and 0.5 <= sp.cover <= 0.85, sp  # the widened band, still missing often


def test_two_proxies_past_the_knee_fail_the_verdict_but_not_the_lr() -> None:
    """With 4 widths and SP's knee at 128, two proxies sit on the flat part: the check fails in most studies,
    yet the plan's lr still follows the line, ~1.9 octaves low at a ~10 % regret, and no interval (lr or
    loss) holds the truth."""
    sp = measured(FOUR_WIDTHS, "1.")["sp"]
    assert sp.verdicts.get("fails", 0) >= 30 and sp.holds_with_regret == sp.verdicts.get("holds", 0), sp
    assert sp.median_error < -1.5 and sp.mean_regret > 0.06, sp
    assert sp.cover <= 0.05 and sp.loss_cover <= 0.1, sp


@pytest.mark.parametrize("design", [THREE_WIDTHS, FOUR_WIDTHS], ids=["3 widths", "4 widths"])
def test_a_one_octave_jump_at_the_widest_proxy_fails_the_verdict(design: Design) -> None:
    """The step costs ~2 % on the widest proxy's loss curve, over the check's 1 % limit, so the plan says
    "fails"; the lr it still states follows the line through the step (with 3 widths 0.6-0.9 octave low)."""
    for p, s in measured(design, "2a.").items():
        assert s.verdicts.get("fails", 0) >= 38, (p, s)
        if design is THREE_WIDTHS:
            assert s.median_error < -0.4 and s.mean_regret > 0.015, (p, s)


def test_a_half_octave_jump_at_the_widest_proxy_is_not_flagged() -> None:
    """Half an octave at the widest proxy costs its loss curve less than the verdict's 1 % limit, so the
    transfer "holds" while the line through the jump overshoots the target by ~0.55 octave; a third of the
    studies then lose more than 1 %. The line's widened band still covers the truth in most studies."""
    for p, s in measured(THREE_WIDTHS, "2b.").items():
        assert s.verdicts.get("holds", 0) >= 36, (p, s)
        assert -0.75 < s.median_error < -0.35 and s.holds_with_regret >= 6, (p, s)
        assert s.cover >= 0.7 and s.median_width > 1.2, (p, s)


@pytest.mark.parametrize("design", [THREE_WIDTHS, FOUR_WIDTHS], ids=["3 widths", "4 widths"])
def test_a_jump_beyond_the_proxies_is_invisible(design: Design) -> None:
    """No method can see a jump past its widest proxy: the plan is as confident as on its own model, says
    "holds", and misses by the whole octave (~2.7 % regret). With 4 widths the loss interval, which carries
    no such miss, then holds the realized run in under half the studies."""
    for p, s in measured(design, "2c.").items():
        assert s.cover <= 0.05 and 0.85 < s.median_error < 1.15, (p, s)
        assert s.verdicts.get("holds", 0) >= 38 and s.holds_with_regret >= 38, (p, s)
        assert s.median_width < 0.35, (p, s)
        if design is FOUR_WIDTHS:
            assert s.loss_cover <= 0.65 and s.loss_error < -0.03, (p, s)


@pytest.mark.parametrize("key", ["3a.", "3b."], ids=["t, 3 dof", "t, 2 dof"])
def test_heavy_tailed_noise_keeps_the_coverage(key: str) -> None:
    """Student-t run noise at the Gaussian's scale: the intervals widen (pooled σ and bootstraps see the
    outliers) and keep covering; the point error grows but the regret stays negligible."""
    control = measured(THREE_WIDTHS, "control")
    for p, s in measured(THREE_WIDTHS, key).items():
        assert s.cover >= 0.8 and s.median_width < 2.5 * control[p].median_width, (p, s)
        assert s.rms_error < 0.25 and s.mean_regret < 0.002, (p, s)
        assert s.verdicts.get("holds", 0) >= 36, (p, s)


def test_heavy_tailed_noise_keeps_the_loss_interval() -> None:
    for p, s in measured(FOUR_WIDTHS, "3a.").items():
        assert s.loss_cover >= 0.8 and s.loss_width < 0.25, (p, s)


@pytest.mark.parametrize("design", [THREE_WIDTHS, FOUR_WIDTHS], ids=["3 widths", "4 widths"])
def test_an_asymmetric_loss_curve_pulls_the_lr_to_the_gentle_side(design: Design) -> None:
    """Loss steeper toward divergence: the parabola's vertex sits ~¼ octave below the true optimum at every
    width, so the transferred lr carries that bias, which its interval (~0.55 octave wide with 3 widths, ~0.4
    with 4) misses in about half the studies (most, with 4). The bias is toward the gentle side, so it costs
    ~0.2 %: the lr interval's claim fails, the regret and loss-interval claims survive."""
    for p, s in measured(design, "4.").items():
        assert -0.4 < s.median_error < -0.15, (p, s)
        assert s.mean_regret < 0.003 and s.holds_with_regret <= 1, (p, s)
        assert s.loss_cover >= 0.85, (p, s)
        assert s.cover <= (0.75 if design is THREE_WIDTHS else 0.55), (p, s)


def test_a_loss_law_whose_exponent_changes_breaks_the_loss_interval() -> None:
    """E + A·N^−α fitted on 32..256: a bend at the widest proxy is absorbed into E and still covered; a bend
    just beyond it (exponent 0.3 → 0.15), or an exponent that steepens (0.3 → 0.45), makes the predicted loss
    optimistic by ~0.065 (~3 %) and the realized run falls outside it in most studies. The lr is untouched."""
    for p, s in measured(FOUR_WIDTHS, "5b.").items():
        assert s.loss_cover >= 0.8, (p, s)
    for key in ("5a.", "5c."):
        for p, s in measured(FOUR_WIDTHS, key).items():
            assert s.loss_cover <= 0.5 and s.loss_error < -0.04, (key, p, s)
            assert s.cover >= 0.8 and s.mean_regret < 0.001, (key, p, s)
