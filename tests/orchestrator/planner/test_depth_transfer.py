"""Issue 7: the target's HP values are the optimum extrapolated in width and then in depth.

The synthetic studies have a known answer: log2 lr* = −5 + 0·log2(w/32) − 0.5·log2(d/2), proxies at widths
32/64/128 × depths 2/4, target width 512 at depth 8, so the width law is fitted at depth 4 and the depth law
must move its target one doubling of depth: log2 lr* = −6 there.
"""

from __future__ import annotations

import json
import math
from dataclasses import replace
from typing import Any

import numpy as np
import pytest
from support.synthetic import Surface, grid_trials, make_spec

from orchestrator.planner import TrialResult, build_plan

SURFACE = Surface(gamma=0.0, gamma_depth=-0.5, u0=-5.0)
TRUE_U = SURFACE.optimum_u(512, 8)  # −6


def spec_for(depths: list[int]) -> Any:
    return make_spec([32, 64, 128], 512, depths=depths, target_depth=8, low=2**-9, high=2**-1, points=9)


def recording_resolver(calls: list[tuple[Any, ...]]):
    def resolve(p: str, width: int, depth: int, hparams: dict[str, float]) -> list[dict[str, Any]]:
        calls.append((p, width, depth, dict(hparams)))
        return [{"name": "h.weight", "role": "hidden", "lr": hparams["lr"]}]

    return resolve


def plan_for(depths: list[int], seed: int, calls: list[tuple[Any, ...]] | None = None, nan=None):
    spec = spec_for(depths)
    trials = grid_trials(spec, {"mup": SURFACE}, np.random.default_rng(seed))
    if nan is not None:
        trials = [replace(t, final_loss=math.nan) if nan(t) else t for t in trials]
    return build_plan(spec, trials, recording_resolver(calls if calls is not None else []))


def test_target_lr_interval_covers_the_optimum_at_the_target_width_and_depth() -> None:
    """90 % intervals: over 10 noise seeds each should miss about once, never most of the time. Without the
    depth move the value would sit at −5.5, half an octave off, and every seed would miss."""
    lr_hits = gamma_hits = 0
    for seed in range(10):
        pp = plan_for([2, 4], seed).parametrizations["mup"]
        lr = pp.hparams["lr"]
        assert abs(math.log2(lr.value) - TRUE_U) < 0.2
        lr_hits += lr.contains(2**TRUE_U)
        gamma_hits += pp.depth_transfer["lr"].gamma.contains(-0.5)
    assert lr_hits >= 8 and gamma_hits >= 8


def test_the_depth_move_is_noted_and_the_multipliers_use_the_moved_value() -> None:
    calls: list[tuple[Any, ...]] = []
    plan = plan_for([2, 4], 0, calls)
    pp = plan.parametrizations["mup"]
    width_u, gamma = pp.width_transfer["lr"].target_u, pp.depth_transfer["lr"].gamma
    lr = pp.hparams["lr"]
    assert plan.proxy["fit_depth"] == 4 and plan.target["depth"] == 8
    assert math.isclose(math.log2(lr.value), width_u.value + gamma.value * 1.0)  # log2(8) − log2(4) = 1
    assert math.log2(lr.low) < math.log2(lr.value) < math.log2(lr.high)
    codes = [w.code for w in plan.warnings]
    assert "depth_not_transferred" not in codes
    (note,) = [w for w in plan.warnings if w.code == "depth_transfer_applied"]
    assert note.hparam == "lr" and note.parametrization == "mup"
    assert f"γ_depth = {gamma.value:.3g}" in note.message and f"×{2**gamma.value:.3g}" in note.message
    assert "fit depth 4 to the target depth 8" in note.message
    assert calls == [("mup", 512, 8, {"lr": lr.value})]
    json.dumps(plan.to_dict(), allow_nan=False)


def test_a_single_proxy_depth_keeps_the_width_value_and_warns() -> None:
    plan = plan_for([4], 0)
    pp = plan.parametrizations["mup"]
    assert pp.depth_transfer == {} and pp.hparams["lr"] == pp.width_transfer["lr"].target
    codes = [w.code for w in plan.warnings]
    assert "depth_not_transferred" in codes and "depth_transfer_applied" not in codes


def test_nan_losses_are_survived_and_a_depth_without_optima_moves_nothing() -> None:
    rng = np.random.default_rng(3)
    sprinkled = plan_for([2, 4], 1, nan=lambda t: rng.random() < 0.1)
    assert "depth_transfer_applied" in [w.code for w in sprinkled.warnings]
    json.dumps(sprinkled.to_dict(), allow_nan=False)

    def shallow_at_widest(t: TrialResult) -> bool:
        return t.width == 128 and t.depth == 2

    plan = plan_for([2, 4], 1, nan=shallow_at_widest)
    pp = plan.parametrizations["mup"]
    assert pp.depth_transfer["lr"].gamma.value is None
    assert pp.hparams["lr"] == pp.width_transfer["lr"].target
    (warning,) = [w for w in plan.warnings if w.code == "depth_not_transferred"]
    assert warning.hparam == "lr" and "fewer than 2 depths" in warning.message
    json.dumps(plan.to_dict(), allow_nan=False)


def test_a_width_law_without_draws_moves_its_bounds_by_the_depth_interval() -> None:
    """One usable width gives no bootstrap of the width law: the two intervals then add up bound by bound."""
    plan = plan_for([2, 4], 2, nan=lambda t: t.width < 128 and t.depth == 4)
    pp = plan.parametrizations["mup"]
    width_u, gamma = pp.width_transfer["lr"].target_u, pp.depth_transfer["lr"].gamma
    lr = pp.hparams["lr"]
    assert pp.width_transfer["lr"].draws_u.size == 0 and width_u.low is not None
    assert math.isclose(math.log2(lr.low), width_u.low + gamma.low)
    assert math.isclose(math.log2(lr.high), width_u.high + gamma.high)
    assert "depth_transfer_applied" in [w.code for w in plan.warnings]


def test_completep_keeps_its_value_over_depth_when_the_depth_optima_agree() -> None:
    """CompleteP promises a depth-invariant optimum: with γ_depth = 0 in the data the plan moves the
    width-transferred value to depth 8 by the depth law's move, shrunk toward the promise by its prior,
    carries the fitted γ_depth's band in the interval, and says so."""
    surface = Surface(gamma=0.0, gamma_depth=0.0, u0=-5.0)
    spec = make_spec(
        [32, 64, 128],
        512,
        parametrizations=("completep",),
        depths=[2, 4],
        target_depth=8,
        low=2**-9,
        high=2**-1,
        points=9,
    )
    plan = build_plan(
        spec, grid_trials(spec, {"completep": surface}, np.random.default_rng(4)), recording_resolver([])
    )
    pp = plan.parametrizations["completep"]
    law = pp.depth_transfer["lr"]
    assert law.model == "invariant" and pp.width_transfer["lr"].model == "invariant"
    moved = pp.width_transfer["lr"].target_u.value + law.move.value
    assert math.log2(pp.hparams["lr"].value) == pytest.approx(moved)
    assert law.promise_scale == 0.1 and abs(law.move.value) < abs(law.gamma.value) + 1e-9  # shrunk
    assert law.move.low == pytest.approx(law.gamma.low * law.shift) and law.move.high == pytest.approx(
        law.gamma.high * law.shift
    )
    notes = [w.message for w in plan.warnings if w.code == "depth_transfer_applied"]
    assert notes and "shrunk toward the parametrization's depth promise" in notes[0]
    assert pp.hparams["lr"].contains(2**-5)
    # 3 widths test the width law; 2 depths cannot test the depth law the target was moved along
    assert pp.transfer_verdict == "untested" and "over depth" in pp.verdict.reason
