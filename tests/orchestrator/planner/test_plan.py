"""The plan end to end on synthetic studies: μP-like vs SP-like transfer, multi-HP slices, bad data, JSON."""

from __future__ import annotations

import json
import math
from typing import Any

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from support.synthetic import Surface, grid_trials, make_spec

from orchestrator.planner import TrialResult, build_plan, non_embedding_params, training_flops

TARGET = 1024
MUP, SP = Surface(gamma=0.0, u0=-8.0, E=1.5), Surface(gamma=-1.0, u0=-6.0, E=1.6)


def recording_resolver(calls: list[tuple[Any, ...]]):
    def resolve(
        parametrization: str, width: int, depth: int, hparams: dict[str, float]
    ) -> list[dict[str, Any]]:
        calls.append((parametrization, width, depth, dict(hparams)))
        return [{"name": "h.weight", "role": "hidden", "lr": hparams["lr"] * 32 / width}]

    return resolve


@pytest.fixture(scope="module")
def study() -> tuple[Any, list[TrialResult]]:
    spec = make_spec(
        [32, 64, 128, 256], TARGET, parametrizations=("mup", "sp"), low=2**-14, high=2**-2, points=13
    )
    return spec, grid_trials(spec, {"mup": MUP, "sp": SP}, np.random.default_rng(0))


def test_mup_transfers_with_gamma_zero_and_sp_drifts_like_one_over_width(study) -> None:
    spec, trials = study
    calls: list[tuple[Any, ...]] = []
    plan = build_plan(spec, trials, recording_resolver(calls))
    mup, sp = plan.parametrizations["mup"], plan.parametrizations["sp"]
    assert mup.gamma_compatible_with_zero == {"lr": True}
    assert sp.gamma_compatible_with_zero == {"lr": False}
    assert abs(sp.width_transfer["lr"].gamma.value + 1.0) < 0.05
    assert abs(math.log2(mup.hparams["lr"].value) - MUP.u0) < 0.1
    assert abs(math.log2(sp.hparams["lr"].value) - SP.optimum_u(TARGET)) < 0.2
    assert mup.predicted_loss.value == pytest.approx(MUP.best_loss(TARGET), rel=0.01)
    assert sp.predicted_loss.value == pytest.approx(SP.best_loss(TARGET), rel=0.01)
    assert plan.recommended == "mup" and mup.transfer_holds and sp.transfer_holds
    assert plan.predicted_loss_gap["sp"]["target_loss_penalty"] > 0.05
    assert {c[0] for c in calls} == {"mup", "sp"} and calls[0][1:3] == (TARGET, 2)
    assert mup.multipliers == [{"name": "h.weight", "role": "hidden", "lr": mup.hparams["lr"].value / 32}]


def test_plan_intervals_cover_the_truth_in_most_studies() -> None:
    """Over 20 synthetic studies the 90 % intervals of the target lr and loss hold the true values ≥ 80 %."""
    spec = make_spec(
        [32, 64, 128, 256], TARGET, parametrizations=("mup", "sp"), low=2**-14, high=2**-2, points=13
    )
    hits = {"lr": 0, "loss": 0}
    for s in range(20):
        plan = build_plan(
            spec,
            grid_trials(spec, {"mup": MUP, "sp": SP}, np.random.default_rng(100 + s)),
            recording_resolver([]),
            seed=s,
        )
        for p, surface in (("mup", MUP), ("sp", SP)):
            pp = plan.parametrizations[p]
            hits["lr"] += pp.hparams["lr"].contains(2.0 ** surface.optimum_u(TARGET))
            hits["loss"] += pp.predicted_loss.contains(surface.best_loss(TARGET))
    assert hits["lr"] >= 32 and hits["loss"] >= 32, hits


def test_plan_is_strict_json_with_every_section(study) -> None:
    spec, trials = study
    encoded = build_plan(spec, trials, recording_resolver([])).to_dict()
    text = json.dumps(encoded, allow_nan=False)
    assert json.loads(text) == encoded
    mup = encoded["parametrizations"]["mup"]
    assert set(mup["quality"]) == {"fit_quality", "extrapolation", "transfer_quality"}
    assert mup["quality"]["extrapolation"]["lr"]["relative_penalty"] < 0.01
    assert len(mup["optima"]["lr"]) == 4
    assert encoded["profile_method"] and encoded["prediction_covers"].startswith("predicted_loss is L(N)")


def test_compute_counts_six_n_d_for_target_and_every_proxy(study) -> None:
    spec, trials = study
    plan = build_plan(spec, trials, recording_resolver([]))
    tokens = 200 * 8 * 64
    assert plan.target["flops"] == training_flops(non_embedding_params(TARGET, 2), tokens)
    proxy = sum(training_flops(non_embedding_params(t.width, 2), tokens) for t in trials)
    assert plan.proxy["flops"] == pytest.approx(proxy)
    assert plan.compute_fraction == pytest.approx(proxy / plan.target["flops"])


def test_two_swept_hps_get_the_joint_optimum_of_their_loss_surface() -> None:
    space = {"init_std": {"scale": "log", "low": 2**-9, "high": 2**-3, "grid_points": 7}}
    spec = make_spec([32, 64, 128], 512, low=2**-12, high=2**-4, points=7, seeds=1, extra_space=space)
    rng = np.random.default_rng(5)
    trials = []
    for w in spec.proxy.widths:
        for lr in spec.search.space["lr"].grid():
            for std in spec.search.space["init_std"].grid():
                du, ds = math.log2(lr) + 8.0, math.log2(std) + 6.0
                loss = 2.0 + 0.05 * du**2 + 0.03 * ds**2 + 0.01 * du * ds + rng.normal(0, 0.002)
                trials.append(TrialResult("mup", w, 2, 0, {"lr": lr, "init_std": std}, loss))
    plan = build_plan(spec, trials, recording_resolver([]))
    mup = plan.parametrizations["mup"]
    for fit in mup.optima["lr"] + mup.optima["init_std"]:
        # the joint optimum of the surface; the slice's parabola (one row of the grid: 7 values, the 5
        # nearest the best) stays for what reads the curve's shape
        assert fit.method == "quadratic_surface" and fit.n_distinct == 7 and fit.n_points == 5
        assert fit.coefficients is not None
    for fit in mup.optima["lr"]:
        assert abs(fit.u - (-8.0)) < 0.1
    for fit in mup.optima["init_std"]:
        assert abs(fit.u - (-6.0)) < 0.1
    assert mup.hparams["lr"].low <= 2**-8 <= mup.hparams["lr"].high
    assert mup.hparams["init_std"].low <= 2**-6 <= mup.hparams["init_std"].high
    assert "loss_law_underdetermined" in [w.code for w in mup.warnings]


def test_optimum_outside_the_searched_range_blocks_the_recommendation() -> None:
    spec = make_spec([32, 64, 128], 512, low=2**-12, high=2**-9, points=5)
    trials = grid_trials(spec, {"mup": MUP}, np.random.default_rng(1))
    plan = build_plan(spec, trials, recording_resolver([]))
    mup = plan.parametrizations["mup"]
    assert not mup.transfer_holds and plan.recommended is None
    edges = [w for w in plan.warnings if w.code == "edge_of_range"]
    assert {w.scale for w in edges} == {32, 64, 128} and all(w.parametrization == "mup" for w in edges)
    assert any("edge of the searched range" in note for note in mup.transfer_notes)
    suggested = mup.optima["lr"][0].suggested_range
    assert suggested[0] < 2**-9 < suggested[1]


def test_target_trained_longer_says_what_the_prediction_covers() -> None:
    spec = make_spec([32, 64], 256)
    spec.target.steps = 800
    trials = grid_trials(spec, {"mup": MUP}, np.random.default_rng(2))
    plan = build_plan(spec, trials, recording_resolver([]))
    assert "expect the realized loss to be lower" in plan.prediction_covers
    assert plan.target["tokens"] == 800 * 8 * 64
    codes = [w.code for w in plan.warnings]
    assert "two_scales" in codes and "loss_law_underdetermined" in codes


def test_default_resolver_reads_the_workers_parametrization_table(study) -> None:
    """μP at the target: the hidden matrices' Adam LR is η·base/width, the vectors keep η (science.md §3)."""
    spec, trials = study
    plan = build_plan(spec, [t for t in trials if t.parametrization == "mup"])
    mup = plan.parametrizations["mup"]
    rows = {row["name"]: row for row in mup.multipliers}
    lr = mup.hparams["lr"].value
    hidden = [r for r in rows.values() if r["role"] == "hidden"]
    vectors = [r for r in rows.values() if r["role"] == "vector"]
    assert hidden and vectors
    assert all(r["lr"] == pytest.approx(lr * 32 / TARGET) for r in hidden)
    assert all(r["lr"] == pytest.approx(lr) for r in vectors)


def test_resolver_failure_becomes_a_warning() -> None:
    spec = make_spec([32, 64, 128], 512)

    def broken(*_: Any) -> list[dict[str, Any]]:
        raise RuntimeError("no table for this model")

    plan = build_plan(spec, grid_trials(spec, {"mup": MUP}, np.random.default_rng(3)), broken)
    assert plan.parametrizations["mup"].multipliers is None
    assert "multipliers_unresolved" in [w.code for w in plan.warnings]


odd_losses = st.one_of(
    st.none(), st.sampled_from([math.nan, math.inf, -math.inf, 0.0, -1.0]), st.floats(0.5, 5.0)
)
trial_strategy = st.builds(
    TrialResult,
    parametrization=st.sampled_from(["mup", "sp", "u-mup"]),
    width=st.sampled_from([32, 64, 128, 0, -8]),
    depth=st.just(2),
    seed=st.integers(0, 2),
    hparams=st.one_of(
        st.just({}),
        st.fixed_dictionaries({"lr": st.sampled_from([1e-3, 3e-3, 1e-2, 0.0, -1e-3, math.nan, 3e-2])}),
    ),
    final_loss=odd_losses,
    diverged=st.booleans(),
    status=st.sampled_from(["completed", "diverged", "failed", "pruned", "pending"]),
)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(trial_strategy, max_size=40))
def test_any_trials_give_a_json_plan_never_an_exception(trials: list[TrialResult]) -> None:
    spec = make_spec([32, 64, 128], 512, parametrizations=("mup", "sp"))
    plan = build_plan(spec, trials, recording_resolver([]))
    json.dumps(plan.to_dict(), allow_nan=False)
    assert plan.recommended in {None, "mup", "sp"}


def test_depth_transfer_reuses_the_width_fit_over_depth() -> None:
    """Issue 7's variant: u*(depth) = u₀ + γ_depth·log2(depth), fitted at the widest width with ≥ 2 depths."""
    spec = make_spec([32, 64], 256, depths=[2, 4, 8], target_depth=16, low=2**-14, high=2**-4, points=11)
    surface = Surface(gamma=0.0, gamma_depth=-0.5)
    plan = build_plan(
        spec, grid_trials(spec, {"mup": surface}, np.random.default_rng(6)), recording_resolver([])
    )
    depth_law = plan.parametrizations["mup"].depth_transfer["lr"]
    assert depth_law.scale_name == "depth" and depth_law.scales == [2, 4, 8]
    assert depth_law.gamma.contains(-0.5) and not depth_law.gamma_compatible_with_zero
    assert depth_law.target_u.contains(surface.optimum_u(64, 16))
    assert plan.proxy["fit_depth"] == 8 and "depth_transfer_applied" in [w.code for w in plan.warnings]


def test_store_rows_convert_preferring_the_validation_loss() -> None:
    from orchestrator.store.models import Trial

    row = Trial(
        parametrization="mup",
        width=64,
        depth=2,
        seed=1,
        hparams={"lr": 0.01, "note": "x"},
        status="completed",
        final_loss=2.5,
        final_val_loss=2.7,
        diverged=False,
        steps_done=150,
    )
    trial = TrialResult.from_record(row)
    assert trial == TrialResult("mup", 64, 2, 1, {"lr": 0.01}, 2.7, False, "completed", 150)
    row.final_val_loss, row.diverged, row.status = None, True, "diverged"
    trial = TrialResult.from_record(row)
    assert trial.final_loss == 2.5 and trial.is_diverged and trial.is_usable


def test_a_single_seed_study_says_so_and_its_loss_band_carries_the_run_noise() -> None:
    """One seed gives no seed-to-seed spread: the loss law then takes each width's scatter around its LR curve
    as the noise, so the band is no narrower than that noise, and the plan says how it was estimated."""
    surface = Surface(noise=0.02)
    spec = make_spec([32, 64], 512, seeds=1, points=13)
    plan = build_plan(spec, grid_trials(spec, {"mup": surface}, np.random.default_rng(5)), lambda *a: [])
    assert "single_seed" in [w.code for w in plan.warnings]
    prediction = plan.parametrizations["mup"].predicted_loss
    assert prediction.value - prediction.low > 0.02  # at least one run's noise below the point
    two = make_spec([32, 64], 512, seeds=2, points=13)
    plan2 = build_plan(two, grid_trials(two, {"mup": surface}, np.random.default_rng(5)), lambda *a: [])
    assert "single_seed" not in [w.code for w in plan2.warnings]
