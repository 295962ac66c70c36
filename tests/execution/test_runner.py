"""Sweeps run for real on a local Ray: metrics land, ASHA prunes, cancel stops, a killed worker is retried."""

from __future__ import annotations

import os
import re
import signal
import time

import pytest
from conftest import wait_for
from sqlalchemy import func, select

from orchestrator.executor.preflight import preflight_widths
from orchestrator.executor.ray_executor import RayExecutor
from orchestrator.runner import SweepRunner
from orchestrator.store.models import CoordCheckResult, SweepEvent, Trial, TrialMetric
from orchestrator.store.repository import SweepStore

from .helpers import tiny_spec

pytestmark = pytest.mark.ray


def _trials(store: SweepStore, sweep_id: int) -> list[Trial]:
    rows, _ = store.list_trials(sweep_id, limit=1000)
    return rows


def _metric_rows(store: SweepStore, trial_id: int) -> list[int]:
    return [m.step for m in store.trial_metrics(trial_id, limit=100_000)]


def test_tiny_sweep_stores_every_step_of_every_trial(exec_store: SweepStore, executor: RayExecutor) -> None:
    spec = tiny_spec(parametrizations=["sp", "mup"])
    sweep = exec_store.create_sweep(spec)

    SweepRunner(exec_store, executor).run_sweep(sweep.id)

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


def test_asha_prunes_bad_trials_within_each_search(exec_store: SweepStore, executor: RayExecutor) -> None:
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

    SweepRunner(exec_store, executor).run_sweep(sweep.id)

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


def test_cancel_stops_running_trials_within_seconds(exec_store: SweepStore, executor: RayExecutor) -> None:
    spec = tiny_spec(**{"proxy.steps": 400, "search.trials_per_width": 2})
    sweep = exec_store.create_sweep(spec)
    runner = SweepRunner(exec_store, executor, poll_s=0.2)
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
    exec_store: SweepStore, executor: RayExecutor
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
    runner = SweepRunner(exec_store, executor, poll_s=0.2)
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


def test_trial_failing_every_attempt_is_failed_with_its_error_and_the_sweep_completes(
    exec_store: SweepStore, ray_data_dir
) -> None:
    # A spec the worker rejects (a dataset that does not exist): every attempt raises in the trainable.
    executor = RayExecutor(ray_data_dir, max_failures=1)
    spec = tiny_spec(**{"data.dataset": "no-such-corpus", "search.trials_per_width": 1})
    sweep = exec_store.create_sweep(spec)

    SweepRunner(exec_store, executor).run_sweep(sweep.id)

    trials = _trials(exec_store, sweep.id)
    assert len(trials) == 2
    for trial in trials:
        assert trial.status == "failed"
        assert trial.attempts == 2  # the first try and one retry
        assert trial.error and "no-such-corpus" in trial.error
    assert exec_store.get_sweep(sweep.id).status == "completed"


@pytest.mark.parametrize(
    ("parametrization", "passes"),
    [
        ("mup", True),
        # u-μP's embedding LR η/√d_model makes the embedding's update shrink with width by design
        # (workers/coord_check.py): a real failing check, so enforce must stop the sweep.
        ("u-mup", False),
    ],
)
def test_preflight_stores_the_coordinate_check_and_its_verdict_decides(
    exec_store: SweepStore, executor: RayExecutor, parametrization: str, passes: bool
) -> None:
    spec = tiny_spec(
        parametrizations=["sp", parametrization], preflight="enforce", **{"search.trials_per_width": 1}
    )
    sweep = exec_store.create_sweep(spec)

    SweepRunner(exec_store, executor).run_sweep(sweep.id)

    with exec_store.session() as session:
        checks = session.scalars(select(CoordCheckResult).where(CoordCheckResult.sweep_id == sweep.id)).all()
        events = session.scalars(select(SweepEvent).where(SweepEvent.sweep_id == sweep.id)).all()
    assert [c.parametrization for c in checks] == [parametrization]  # SP is the baseline: never checked
    check = checks[0]
    assert check.data["widths"] == preflight_widths(spec) and "slopes" in check.data
    assert check.passed is passes
    failing = sorted({f["module"] for f in check.data["failing"]})
    event = next(e for e in events if e.kind == "coord_check")
    assert event.data["failing_modules"] == failing
    status = exec_store.get_sweep(sweep.id).status
    if passes:
        assert status == "completed" and len(_trials(exec_store, sweep.id)) == 4
    else:
        assert failing == ["embedding"]
        assert status == "preflight_failed" and not _trials(exec_store, sweep.id)
        assert "embedding" in (exec_store.get_sweep(sweep.id).error or "")
