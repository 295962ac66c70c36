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
    """The control every other case is read against: the same design drawn from the planner's own model.
    With 3 widths SP pays for not assuming the line: levelling-off forms the three optima cannot exclude get
    some weight, which moves the point in a few studies (RMS error ~0.17 octave, a study or two above 1 %)."""
    for p, s in measured(design, "control").items():
        assert s.cover >= 0.8 and s.median_width < 0.35, (p, s)
        loose = design is THREE_WIDTHS and p == "sp"
        assert s.rms_error < (0.3 if loose else 0.12), (p, s)
        assert s.mean_regret < (0.003 if loose else 0.001), (p, s)
        assert s.verdicts.get("holds", 0) >= 38 and s.holds_with_regret <= (3 if loose else 0), (p, s)
        assert s.loss_cover >= 0.85, (p, s)
        # with 3 widths the loss law is a pure power law and its band reaches the widest proxy's loss
        if design is FOUR_WIDTHS:
            assert s.loss_width < 0.15, (p, s)


def test_a_saturating_drift_is_followed_where_the_held_out_widths_see_it() -> None:
    """A drift that levels off, 3 widths. μP (an offset fading as 1/width): the levelling-off forms win the
    leave-one-out comparison, the target lr lands within ~0.1 octave and the interval covers in ~80 % of
    studies (the line alone: 0.55 octave low, covered in under a third). SP (0.75 octave per doubling up to
    width 64, flat beyond, as in the repo's benchmark): still ~0.5 octave low (the line keeps some weight),
    ~0.7 % regret instead of ~4 %, and the verdict fails half the studies; a "holds" above 1 % is rare."""
    mup, sp = measured(THREE_WIDTHS, "1.").values()
    assert -0.25 < mup.median_error < 0.1 and mup.cover >= 0.7 and mup.mean_regret < 0.002, mup
    assert mup.verdicts.get("holds", 0) >= 36 and mup.holds_with_regret <= 1, mup
    assert -0.8 < sp.median_error < -0.25 and 0.003 < sp.mean_regret < 0.012, sp
    assert 10 <= sp.verdicts.get("fails", 0) <= 30 and sp.holds_with_regret <= 3, sp
    assert sp.cover >= 0.7, sp


def test_two_proxies_past_the_knee_fail_the_verdict_and_cost_under_one_percent() -> None:
    """With 4 widths and SP's knee at 128, two proxies sit on the flat part: the check fails in most studies,
    and the levelling-off forms carry the lr to ~0.5 octave low at a ~0.7 % regret (the line alone: 1.9
    octaves, ~10 %). The forms' forecasts of the widest proxies from the narrower ones miss by far more than
    their variance, so the extrapolation's form error widens the interval (~2.5 octaves) until it holds the
    truth; without it the interval, narrow around a wrong form, missed in ~95 % of studies. μP's fading
    offset is followed to within 0.1 octave."""
    sp = measured(FOUR_WIDTHS, "1.")["sp"]
    assert sp.verdicts.get("fails", 0) >= 30 and sp.holds_with_regret <= 2, sp
    assert -0.8 < sp.median_error < -0.2 and sp.mean_regret < 0.012, sp
    assert sp.cover >= 0.8 and sp.median_width < 3.5, sp
    mup = measured(FOUR_WIDTHS, "1.")["mup"]
    assert abs(mup.median_error) < 0.1 and mup.cover >= 0.75 and mup.mean_regret < 0.001, mup


@pytest.mark.parametrize("design", [THREE_WIDTHS, FOUR_WIDTHS], ids=["3 widths", "4 widths"])
def test_a_one_octave_jump_at_the_widest_proxy_fails_the_verdict(design: Design) -> None:
    """The step costs ~2 % on the widest proxy's loss curve, over the check's 1 % limit, so the plan says
    "fails"; the lr it still states is pulled by the step (with 3 widths 0.4-0.6 octave low)."""
    for p, s in measured(design, "2a.").items():
        assert s.verdicts.get("fails", 0) >= 38, (p, s)
        if design is THREE_WIDTHS:
            assert s.median_error < -0.2 and s.mean_regret > 0.004, (p, s)


def test_a_half_octave_jump_at_the_widest_proxy_is_not_flagged() -> None:
    """Half an octave at the widest proxy costs its loss curve less than the verdict's 1 % limit, so the
    transfer "holds" while the point lands 0.3-0.5 octave low; the mixture's band covers the truth (it spans
    the line and the levelling-off forms), and a "holds" above 1 % now happens in ~10 % of SP's studies
    (before: a third to three quarters)."""
    for p, s in measured(THREE_WIDTHS, "2b.").items():
        assert s.verdicts.get("holds", 0) >= 36, (p, s)
        assert -0.65 < s.median_error < -0.15 and s.holds_with_regret <= 8, (p, s)
        assert s.cover >= 0.85 and s.median_width > 1.2, (p, s)


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
    outliers) and keep covering. μP's regret stays negligible; SP's does not with 3 widths: an outlying
    optimum reads as a bend and hands weight to a levelling-off form (RMS error 0.3-0.7 octave, 0.3-1.2 %
    regret, up to a quarter of studies "holds" above 1 %), a cost of choosing the form from three optima."""
    control = measured(THREE_WIDTHS, "control")
    for p, s in measured(THREE_WIDTHS, key).items():
        assert s.cover >= 0.8 and s.median_width < 3.5 * control[p].median_width, (p, s)
        if p == "mup":
            assert s.rms_error < 0.25 and s.mean_regret < 0.002, (p, s)
        else:
            assert s.rms_error < 0.8 and s.mean_regret < 0.02 and s.holds_with_regret <= 12, (p, s)
        assert s.verdicts.get("holds", 0) >= 36, (p, s)


def test_heteroscedastic_noise_is_survived_by_mup_and_costs_sp_its_form() -> None:
    """Run noise three times larger 2 octaves from the optimum: the parabola's window sees it and widens;
    μP's interval still covers ~90 % at a negligible regret. SP with 3 widths: the noisier optima again
    hand weight to a levelling-off form now and then (coverage ~0.8, regret up to ~1 %); with 4 widths the
    form is told apart and SP covers ~0.9 too."""
    for design in (THREE_WIDTHS, FOUR_WIDTHS):
        for p, s in measured(design, "3c.").items():
            wide = p == "sp" and design is THREE_WIDTHS
            assert s.cover >= (0.65 if wide else 0.8), (design, p, s)
            assert s.mean_regret < (0.02 if wide else 0.002), (design, p, s)
            assert s.verdicts.get("holds", 0) >= 36, (design, p, s)


def test_heavy_tailed_noise_keeps_the_loss_interval() -> None:
    for p, s in measured(FOUR_WIDTHS, "3a.").items():
        assert s.loss_cover >= 0.8 and s.loss_width < 0.25, (p, s)


@pytest.mark.parametrize("design", [THREE_WIDTHS, FOUR_WIDTHS], ids=["3 widths", "4 widths"])
def test_an_asymmetric_loss_curve_pulls_the_lr_to_the_gentle_side(design: Design) -> None:
    """Loss steeper toward divergence: the parabola's vertex sits ~¼ octave below the true optimum at every
    width, so the transferred lr carries that bias, which its interval misses in most studies (μP) or about
    half (SP, whose mixture is wider). The bias is toward the gentle side, so μP's cost is ~0.2 %; SP's is up
    to ~0.6 % with 3 widths, where the levelling-off forms add their own scatter."""
    for p, s in measured(design, "4.").items():
        assert -0.4 < s.median_error < -0.1, (p, s)
        cheap = p == "mup" or design is FOUR_WIDTHS
        assert s.mean_regret < (0.003 if cheap else 0.012), (p, s)
        assert s.holds_with_regret <= (1 if cheap else 10), (p, s)
        assert s.loss_cover >= 0.8, (p, s)
        assert s.cover <= 0.8, (p, s)


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
