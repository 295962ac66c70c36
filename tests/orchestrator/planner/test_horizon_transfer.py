"""The target's HPs move along the token horizon and the batch size, by laws fitted to the proxies' scans.

Synthetic studies with a known answer (tests/support/synthetic.py): μP proxies at widths 32/64/128 with a
width-invariant optimum, a token scan at 1× and 2× the base budget at width 32, and a target of width 1024
trained on 8× the base budget. The truth at the target is u₀ + γ_D·3 (three doublings of the horizon).
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from support.synthetic import Surface, grid_trials, make_spec

from orchestrator.planner import build_plan
from orchestrator.planning import choose_target

BASE = 200 * 8 * 64


def no_table(*_: object) -> list[dict[str, object]]:
    return []


def horizon_plan(gamma_horizon: float, seed: int, **spec_args: object):
    surface = Surface(gamma=0.0, gamma_horizon=gamma_horizon, u0=-8.0)
    args = {"token_budgets": [2 * BASE], "target_tokens": 8 * BASE, **spec_args}
    spec = make_spec([32, 64, 128], 1024, **args)  # type: ignore[arg-type]
    trials = grid_trials(spec, {"mup": surface}, np.random.default_rng(seed))
    return build_plan(spec, trials, no_table, seed=seed), surface


@pytest.mark.parametrize("gamma_horizon", [-0.4, 0.0])
def test_the_target_lr_interval_covers_the_truth_along_the_horizon(gamma_horizon: float) -> None:
    covered, moves, widths = 0, [], []
    studies = 40
    for seed in range(studies):
        plan, surface = horizon_plan(gamma_horizon, seed)
        lr = plan.parametrizations["mup"].hparams["lr"]
        truth = surface.optimum_u(1024, 2, 8 * BASE)
        assert lr.low is not None and lr.high is not None
        covered += math.log2(lr.low) <= truth <= math.log2(lr.high)
        move = next(m for m in plan.parametrizations["mup"].moves if m["axis"] == "horizon")
        moves.append(math.log2(move["factor"]))
        widths.append((math.log2(lr.high) - math.log2(lr.low)) / 2)
    assert covered / studies >= 0.8, f"covered {covered}/{studies}"
    # the move follows the truth: its mean is the true move within its own standard error
    mean, sem = float(np.mean(moves)), float(np.std(moves) / math.sqrt(studies))
    assert abs(mean - 3 * gamma_horizon) < 3 * sem + 0.05, (mean, sem)
    if gamma_horizon == 0.0:
        # an invariant truth is not moved beyond noise: the typical move is inside the interval's half-width
        assert float(np.median(np.abs(moves))) < float(np.median(widths))


def test_the_plan_lists_each_axis_and_states_the_target_budget_and_schedule() -> None:
    plan, _ = horizon_plan(-0.4, 0)
    mup = plan.parametrizations["mup"]
    axes = {(m["hparam"], m["axis"]) for m in mup.moves}
    assert axes == {("lr", "width"), ("lr", "horizon")}
    assert mup.horizon_transfer is not None and mup.horizon_transfer.width == 32
    assert plan.target["tokens"] == 8 * BASE and plan.target["steps"] == 1600
    assert plan.proxy["token_budgets"] == [BASE, 2 * BASE]
    stored = plan.to_dict()
    assert stored["parametrizations"]["mup"]["horizon_transfer"]["laws"]["lr"]["scale_name"] == "horizon"
    codes = {w.code for w in plan.warnings}
    assert "horizon_transfer_applied" in codes and "horizon_not_transferred" not in codes


def test_a_longer_target_without_a_token_scan_says_the_lr_is_copied_across_the_horizon() -> None:
    plan, _ = horizon_plan(-0.4, 0, token_budgets=None)
    assert "horizon_not_transferred" in {w.code for w in plan.warnings}
    assert all(m["axis"] != "horizon" for m in plan.parametrizations["mup"].moves)


def test_the_batch_size_law_moves_the_lr_to_the_target_batch() -> None:
    surface = Surface(gamma=0.0, gamma_batch=0.5, u0=-8.0)
    spec = make_spec([32, 64, 128], 1024, batch_sizes=[4, 16], target_batch=32)
    covered = 0
    for seed in range(10):
        trials = grid_trials(spec, {"mup": surface}, np.random.default_rng(seed))
        lr = build_plan(spec, trials, no_table, seed=seed).parametrizations["mup"].hparams["lr"]
        assert lr.low is not None and lr.high is not None
        covered += math.log2(lr.low) <= surface.optimum_u(1024, 2, batch=32) <= math.log2(lr.high)
    assert covered >= 8
    plan = build_plan(spec, trials, no_table)
    assert plan.target["batch_size"] == 32 and plan.target["steps"] == 50  # the base tokens at batch 32
    assert {m["axis"] for m in plan.parametrizations["mup"].moves} == {"width", "batch size"}


def test_swept_weight_decay_keeps_the_adamw_timescale() -> None:
    surface = Surface(gamma=0.0, gamma_horizon=-0.4, u0=-8.0)
    spec = make_spec(
        [32, 64, 128],
        1024,
        token_budgets=[2 * BASE],
        target_tokens=8 * BASE,
        extra_space={"weight_decay": {"scale": "log", "low": 0.01, "high": 0.1, "grid_points": 3}},
    )
    trials = grid_trials(spec, {"mup": surface}, np.random.default_rng(0))
    trials = [t.__class__(**{**t.__dict__, "hparams": {**t.hparams, "weight_decay": 0.1}}) for t in trials]
    mup = build_plan(spec, trials, no_table).parametrizations["mup"]
    tau = mup.timescale
    assert tau is not None
    assert tau.target["tau"] == pytest.approx(tau.proxy["tau"], rel=1e-9)
    lr = mup.hparams["lr"].value
    wd = mup.hparams["weight_decay"].value
    assert wd == pytest.approx(8 * 64 / (lr * tau.proxy["tau"] * 8 * BASE))  # batch 8 × 64 tokens
    assert tau.proxy["batch_tokens"] == tau.proxy["batch_size"] * 64
    assert any(m["axis"] == "timescale" for m in mup.moves)


def test_two_token_budgets_are_a_caveat_of_the_horizon_law_not_of_the_width_law() -> None:
    plan, _ = horizon_plan(-0.4, 0)
    mup = plan.parametrizations["mup"]
    codes = {w.code for w in mup.warnings}
    assert "two_horizons" in codes and "two_scales" not in codes  # three widths: the width law is checked
    assert any("2 token budgets" in c for c in mup.interval_caveats)
    longer, _ = horizon_plan(-0.4, 0, token_budgets=None)
    assert any("no horizon law" in c for c in longer.parametrizations["mup"].interval_caveats)


def test_two_budgets_say_the_loss_is_not_at_the_target_budget_and_the_launch_carries_none() -> None:
    """The horizon example's design (2 budgets at the narrowest width, a target on 8× the base): L(N, D) is
    not identifiable, so predicted_loss is L(N) at the proxies' budget, the plan says so, the target run is
    launched without a prediction to be compared with, and the lr's horizon move is untested."""
    plan, _ = horizon_plan(-0.4, 0)
    mup = plan.parametrizations["mup"]
    assert mup.predicted_loss_budget == {"law": "L(N)", "tokens": BASE, "at_target_budget": False}
    assert "loss_not_at_target_budget" in {w.code for w in mup.warnings}
    choice = choose_target(plan.to_dict())
    assert choice.predicted_loss is None and choice.predicted_low is None
    assert "not the target's" in choice.reason
    assert mup.verdict.by_hparam["lr"] == "untested" and "horizon" in mup.verdict.untested_axes["lr"]


def test_three_budgets_at_every_width_fit_the_loss_at_the_target_budget_and_test_the_horizon_move() -> None:
    """Three budgets at every proxy width: L(N, D) is fitted over the 9 cells and read at the target's size
    and tokens, and the horizon law's held-out check runs (the largest budget predicted from the rest)."""
    plan, _ = horizon_plan(-0.4, 0, token_budgets=[2 * BASE, 4 * BASE], scan_widths="all")
    mup = plan.parametrizations["mup"]
    assert mup.predicted_loss_budget["law"] == "L(N, D)" and mup.predicted_loss_budget["at_target_budget"]
    assert mup.loss_surface is not None and mup.loss_surface.identifiable
    assert mup.predicted_loss.value == pytest.approx(mup.loss_surface.prediction.value)
    assert "L(N, D)" in plan.prediction_covers
    assert "horizon" in mup.verdict.tested_axes["lr"]
    assert mup.horizon_transfer is not None and mup.horizon_transfer.widths == [32, 64, 128]
