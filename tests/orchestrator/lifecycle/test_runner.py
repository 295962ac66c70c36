"""Sweeps run for real on a local Ray: metrics land, ASHA prunes, cancel stops, a killed worker is retried."""

from __future__ import annotations

import os
import re
import signal
import time
from pathlib import Path

import pytest
import yaml
from conftest import REPO_ROOT, wait_for, with_overrides
from sqlalchemy import func, select
from support.execution import tiny_spec

from orchestrator.executor.ray_executor import RayExecutor
from orchestrator.runner import SweepRunner
from orchestrator.spec import SweepSpec, parse_spec, preflight_widths
from orchestrator.store.models import CoordCheckResult, SweepEvent, Trial, TrialMetric
from orchestrator.store.repository import SweepStore

pytestmark = pytest.mark.ray


def _trials(store: SweepStore, sweep_id: int) -> list[Trial]:
    rows, _ = store.list_trials(sweep_id, limit=1000)
    return rows


def _metric_rows(store: SweepStore, trial_id: int) -> list[int]:
    return [m.step for m in store.trial_metrics(trial_id, limit=100_000)]


def test_tiny_sweep_stores_every_step_of_every_trial(
    exec_store: SweepStore, executor: RayExecutor, tmp_path: Path
) -> None:
    spec = tiny_spec(parametrizations=["sp", "mup"])
    sweep = exec_store.create_sweep(spec)

    SweepRunner(exec_store, executor, tmp_path).run_sweep(sweep.id)

    assert exec_store.get_sweep(sweep.id).status == "completed"
    trials = _trials(exec_store, sweep.id)
    assert len(trials) == spec.total_trials() == 2 * 2 * 3
    assert len({t.trial_key for t in trials}) == len(trials)
    for trial in trials:
        assert trial.status in ("completed", "diverged"), (trial.trial_key, trial.status, trial.error)
        assert trial.attempts == 1
        assert trial.worker_node and "pid" in trial.worker_node
        steps = _metric_rows(exec_store, trial.id)
        assert steps == list(range(1, trial.steps_done + 1))  # every step, once, in order
        if trial.status == "completed":
            assert trial.steps_done == 6 and trial.final_loss is not None and trial.final_val_loss is not None
    lrs = {(t.parametrization, t.width): set() for t in trials}
    for t in trials:
        lrs[(t.parametrization, t.width)].add(round(t.hparams["lr"], 12))
    assert all(len(v) == 3 for v in lrs.values())  # 3 distinct sampled points per search
    progress = exec_store.progress(sweep.id)
    assert progress.done == progress.total == 12


def test_a_sweep_larger_than_one_tune_run_runs_in_parts_each_trial_once(
    exec_store: SweepStore, ray_data_dir: Path, tmp_path: Path
) -> None:
    """12 trials in Tune runs of at most 5: the searcher carries over, so keys, points and rows are as in one
    run (the grid's cells each once per search, every step of every trial stored once)."""
    spec = tiny_spec(
        **{
            "parametrizations": ["sp", "mup"],
            "search.algorithm": "grid",
            "search.trials_per_width": None,
            "search.space": {"lr": {"scale": "log", "low": 1e-3, "high": 1e-2, "grid_points": 3}},
        }
    )
    sweep = exec_store.create_sweep(spec)
    executor = RayExecutor(tmp_path / "executor", num_cpus=2, trials_per_run=5)  # joins the module's Ray

    SweepRunner(exec_store, executor, tmp_path).run_sweep(sweep.id)

    assert exec_store.get_sweep(sweep.id).status == "completed"
    trials = _trials(exec_store, sweep.id)
    assert len(trials) == len({t.trial_key for t in trials}) == spec.total_trials() == 12
    cells: dict[tuple[str, int], list[float]] = {}
    for trial in trials:
        assert trial.status in ("completed", "diverged"), (trial.trial_key, trial.status, trial.error)
        assert _metric_rows(exec_store, trial.id) == list(range(1, trial.steps_done + 1))
        cells.setdefault((trial.parametrization, trial.width), []).append(round(trial.hparams["lr"], 12))
    grid = sorted(round(lr, 12) for lr in spec.search.space["lr"].grid())
    assert all(sorted(lrs) == grid for lrs in cells.values()), cells
    assert len(list((tmp_path / "executor" / "tune").iterdir())) == 3  # Tune runs of 5 + 5 + 2 trials


def test_asha_prunes_bad_trials_within_each_search(
    exec_store: SweepStore, executor: RayExecutor, tmp_path: Path
) -> None:
    spec = tiny_spec(
        **{
            "proxy.widths": [16, 32],
            "proxy.steps": 12,
            "search.algorithm": "grid",
            "search.trials_per_width": None,
            "search.space": {"lr": {"scale": "log", "low": 1e-5, "high": 3e-2, "grid_points": 5}},
            "search.early_stopping": {"kind": "asha", "grace_period": 2, "reduction_factor": 2},
            "resources.max_concurrent_trials": 1,
        }
    )
    sweep = exec_store.create_sweep(spec)

    SweepRunner(exec_store, executor, tmp_path).run_sweep(sweep.id)

    trials = _trials(exec_store, sweep.id)
    assert len(trials) == 10
    pruned = [t for t in trials if t.status == "pruned"]
    assert pruned, [(t.trial_key, t.status, t.steps_done) for t in trials]
    for trial in pruned:
        assert 2 <= trial.steps_done < 12
        assert _metric_rows(exec_store, trial.id) == list(range(1, trial.steps_done + 1))
    for width in (16, 32):  # ASHA compares within a search: each width keeps a trial that ran to the end
        assert any(t.width == width and t.status == "completed" and t.steps_done == 12 for t in trials)
    assert exec_store.get_sweep(sweep.id).status == "completed"


def test_cancel_stops_running_trials_within_seconds(
    exec_store: SweepStore, executor: RayExecutor, tmp_path: Path
) -> None:
    spec = tiny_spec(**{"proxy.steps": 400, "search.trials_per_width": 2})
    sweep = exec_store.create_sweep(spec)
    runner = SweepRunner(exec_store, executor, tmp_path, poll_s=0.2)
    runner.start()
    try:
        with exec_store.session() as session:

            def some_steps_stored() -> bool:
                return (session.scalar(select(func.count()).select_from(TrialMetric)) or 0) >= 3

            wait_for(some_steps_stored, 120, "the first trials to report steps")
        asked = time.monotonic()
        exec_store.request_cancel(sweep.id)
        runner.wake()
        wait_for(lambda: exec_store.get_sweep(sweep.id).status == "cancelled", 30, "status cancelled")
        took = time.monotonic() - asked
    finally:
        runner.stop()
    assert took < 15, f"cancel took {took:.1f}s"
    trials = _trials(exec_store, sweep.id)
    assert trials and all(t.status in ("cancelled", "completed") for t in trials)
    assert any(t.status == "cancelled" and 0 < t.steps_done < 400 for t in trials)
    assert exec_store.progress(sweep.id).counts["running"] == 0


def test_killed_worker_is_retried_and_the_sweep_completes(
    exec_store: SweepStore, executor: RayExecutor, tmp_path: Path
) -> None:
    spec = tiny_spec(
        **{
            "proxy.widths": [16, 32],
            "proxy.steps": 150,
            "search.trials_per_width": 1,
            "resources.max_concurrent_trials": 1,
        }
    )
    sweep = exec_store.create_sweep(spec)
    runner = SweepRunner(exec_store, executor, tmp_path, poll_s=0.2)
    runner.start()
    try:

        def running_trial_pid() -> tuple[Trial, int] | None:
            for trial in _trials(exec_store, sweep.id):
                match = re.search(r"pid (\d+)", trial.worker_node or "")
                if trial.status == "running" and match and len(_metric_rows(exec_store, trial.id)) >= 5:
                    return trial, int(match.group(1))
            return None

        victim, pid = wait_for(running_trial_pid, 120, "a running trial with a known worker pid")
        os.kill(pid, signal.SIGKILL)
        wait_for(lambda: exec_store.get_sweep(sweep.id).status == "completed", 240, "the sweep to complete")
    finally:
        runner.stop()
    trial = exec_store.get_trial(sweep.id, victim.id)
    assert trial.status == "completed", trial.error
    assert trial.attempts == 2
    assert _metric_rows(exec_store, trial.id) == list(
        range(1, 151)
    )  # the rerun's steps replaced, not doubled
    assert str(pid) not in (trial.worker_node or "")
    with exec_store.session() as session:
        kinds = session.scalars(select(SweepEvent.kind).where(SweepEvent.sweep_id == sweep.id)).all()
    assert "trial_retry" in kinds
    assert all(t.status == "completed" for t in _trials(exec_store, sweep.id))


def test_trial_failing_every_attempt_is_failed_with_its_error_and_the_sweep_cannot_plan(
    exec_store: SweepStore, ray_data_dir, tmp_path: Path
) -> None:
    # A spec the worker rejects (a dataset that does not exist): every attempt raises in the trainable.
    executor = RayExecutor(ray_data_dir, max_failures=1)
    spec = tiny_spec(**{"data.dataset": "no-such-corpus", "search.trials_per_width": 1})
    sweep = exec_store.create_sweep(spec)

    SweepRunner(exec_store, executor, tmp_path).run_sweep(sweep.id)

    trials = _trials(exec_store, sweep.id)
    assert len(trials) == 2
    for trial in trials:
        assert trial.status == "failed"
        assert trial.attempts == 2  # the first try and one retry
        assert trial.error and "no-such-corpus" in trial.error
    # every proxy failed: the sweep gets past its proxies and fails at planning, saying why
    sweep = exec_store.get_sweep(sweep.id)
    assert sweep.status == "failed" and "no completed or diverged proxy trials" in sweep.error


@pytest.mark.parametrize(
    ("overrides", "passes"),
    [
        ({}, True),
        # Adam's ε as large as the proxies' gradients makes AdamW an SGD with LR η/ε, under which μP's Adam
        # rules (hidden LR η/m) shrink every update with width: a real misconfiguration (CompleteP scales ε
        # for this reason) that enforce must stop before any proxy runs. SP claims nothing about its body's
        # updates and passes. A broken rule is the workers' test (tests/workers/test_coord_check.py): a
        # patched table does not reach Ray's worker processes.
        ({"optimizer.eps": 0.1}, False),
    ],
)
def test_preflight_checks_every_parametrization_and_its_verdict_decides(
    exec_store: SweepStore, executor: RayExecutor, overrides: dict, passes: bool, tmp_path: Path
) -> None:
    spec = tiny_spec(
        parametrizations=["sp", "mup"], preflight="enforce", **{"search.trials_per_width": 1, **overrides}
    )
    sweep = exec_store.create_sweep(spec)

    SweepRunner(exec_store, executor, tmp_path).run_sweep(sweep.id)

    with exec_store.session() as session:
        checks = session.scalars(select(CoordCheckResult).where(CoordCheckResult.sweep_id == sweep.id)).all()
        events = session.scalars(select(SweepEvent).where(SweepEvent.sweep_id == sweep.id)).all()
    assert [c.parametrization for c in checks] == ["sp", "mup"]  # SP is checked too, by SP's own claims
    sp, mup = checks
    assert sp.passed and mup.passed is passes
    for check in checks:
        assert check.data["widths"] == preflight_widths(spec)
        assert check.data["predicted"].keys() == check.data["slopes"].keys()
    failing = sorted({f["module"] for f in mup.data["failing"]})
    event = next(e for e in events if e.kind == "coord_check" and e.data["parametrization"] == "mup")
    assert event.data["failing_modules"] == failing
    status = exec_store.get_sweep(sweep.id).status
    if passes:
        assert status == "completed" and len(_trials(exec_store, sweep.id)) == 4
    else:
        assert {"blocks.0.attn", "blocks.0.mlp", "embedding"} <= set(failing)
        assert status == "preflight_failed" and not _trials(exec_store, sweep.id)
        error = exec_store.get_sweep(sweep.id).error or ""
        assert error.startswith("coordinate check failed for mup: ") and "predicted +0.00 ± 0.15" in error


def gpu_example_on_cpu() -> SweepSpec:
    """examples/gpu.yaml at CPU sizes: its three parametrizations, AdamW with independent weight decay, its
    search space and `preflight: enforce` as written; the model, proxies, target and resources shrunk."""
    data = yaml.safe_load((REPO_ROOT / "examples" / "gpu.yaml").read_text())
    shrink = {
        "model.depth": 2,
        "model.head_dim": 16,
        "model.context_length": 16,
        "base_width": 64,
        "proxy.widths": [64, 128],
        "proxy.tokens": None,
        "proxy.steps": 4,
        "proxy.batch_size": 4,
        "proxy.token_budgets": [2 * 4 * 4 * 16],  # the example's 2× horizon scan, at these sizes: 8 steps
        "proxy.seeds": [0],
        "proxy.eval_every": 2,
        "search.trials_per_width": 1,
        "search.early_stopping": None,
        "target": {"width": 256, "steps": 4},
        "resources": {"cpus_per_trial": 1, "max_concurrent_trials": 2},
    }
    return parse_spec(with_overrides(data, shrink))


def test_the_gpu_example_passes_its_preflight_for_each_of_its_schemes(
    exec_store: SweepStore, executor: RayExecutor, tmp_path: Path
) -> None:
    spec = gpu_example_on_cpu()
    assert spec.parametrizations == ["mup", "sp", "u-mup"] and spec.preflight == "enforce"
    sweep = exec_store.create_sweep(spec)

    SweepRunner(exec_store, executor, tmp_path).run_sweep(sweep.id)

    with exec_store.session() as session:
        checks = session.scalars(select(CoordCheckResult).where(CoordCheckResult.sweep_id == sweep.id)).all()
    assert {c.parametrization: c.passed for c in checks} == {"mup": True, "sp": True, "u-mup": True}, [
        c.data["failing"] for c in checks
    ]
    assert exec_store.get_sweep(sweep.id).status == "completed"
