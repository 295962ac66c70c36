"""The store on both databases: lifecycle stamps, uniqueness rules the runner relies on, cascades."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import func, select, update
from sqlalchemy.exc import IntegrityError
from support.statuses import move_to

from orchestrator.spec import parse_spec
from orchestrator.store.models import (
    DEFAULT_PROJECT,
    Sweep,
    SweepEvent,
    SweepStatus,
    Trial,
    TrialMetric,
    TrialStatus,
    finite_or_none,
    utcnow,
)
from orchestrator.store.repository import Conflict, NotFound, SweepFilter, SweepStore


def _trial(sweep_id: int, key: str, status: TrialStatus = TrialStatus.PENDING) -> Trial:
    return Trial(
        sweep_id=sweep_id, trial_key=key, parametrization="sp", width=32, depth=2, status=status.value
    )


def test_status_changes_stamp_times_and_log_events(store: SweepStore, tiny_spec: dict[str, Any]) -> None:
    sweep = store.create_sweep(parse_spec(tiny_spec))
    assert (sweep.status, sweep.started_at, sweep.finished_at) == ("queued", None, None)
    running = store.set_sweep_status(sweep.id, SweepStatus.RUNNING)
    assert running.started_at is not None and running.started_at.tzinfo is not None
    failed = store.set_sweep_status(sweep.id, "failed", error="worker pool lost")
    assert failed.finished_at >= failed.started_at and failed.error == "worker pool lost"
    events = store.list_events(sweep.id)
    assert [e.message for e in events[1:]] == [
        "status queued -> running",
        "status running -> failed: worker pool lost",
    ]
    assert events[-1].level == "error"
    with pytest.raises(ValueError):
        store.set_sweep_status(sweep.id, "exploded")


@pytest.mark.parametrize("idle", ["queued", "awaiting_approval"])
def test_cancel_ends_a_sweep_no_runner_is_working_on_at_once(
    store: SweepStore, tiny_spec: dict[str, Any], idle: str
) -> None:
    sweep = store.create_sweep(parse_spec(tiny_spec))
    move_to(store, sweep.id, idle)
    cancelled = store.request_cancel(sweep.id)
    assert cancelled.status == "cancelled" and cancelled.finished_at is not None
    assert store.list_events(sweep.id)[-1].message == f"status {idle} -> cancelled"
    with pytest.raises(Conflict):
        store.request_cancel(sweep.id)


def test_trial_key_and_metric_step_are_unique(store: SweepStore, tiny_spec: dict[str, Any]) -> None:
    sweep = store.create_sweep(parse_spec(tiny_spec))
    with store.session() as session:
        session.add(_trial(sweep.id, "sp-w32-d2-i0-s0"))
    with pytest.raises(IntegrityError), store.session() as session:
        session.add(_trial(sweep.id, "sp-w32-d2-i0-s0"))
    with store.session() as session:
        trial_id = session.scalar(select(Trial.id))
        session.add(TrialMetric(trial_id=trial_id, step=1, train_loss=3.0))
    with pytest.raises(IntegrityError), store.session() as session:
        session.add(TrialMetric(trial_id=trial_id, step=1, train_loss=3.0))


def test_delete_cascades_and_respects_active_state(store: SweepStore, tiny_spec: dict[str, Any]) -> None:
    sweep = store.create_sweep(parse_spec(tiny_spec))
    with store.session() as session:
        trial = _trial(sweep.id, "k", TrialStatus.RUNNING)
        session.add(trial)
        session.flush()
        session.add_all(TrialMetric(trial_id=trial.id, step=s) for s in range(5))
    store.set_sweep_status(sweep.id, SweepStatus.PREFLIGHT)
    with pytest.raises(Conflict):
        store.delete_sweep(sweep.id)
    store.delete_sweep(sweep.id, force=True)
    with store.session() as session:
        for model in (Sweep, Trial, TrialMetric, SweepEvent):
            assert session.scalar(select(func.count()).select_from(model)) == 0
    with pytest.raises(NotFound):
        store.get_sweep(sweep.id)


def test_projects_scope_reads(store: SweepStore, tiny_spec: dict[str, Any]) -> None:
    mine = store.create_sweep(parse_spec(tiny_spec), project="team-a")
    store.create_sweep(parse_spec(tiny_spec), project=DEFAULT_PROJECT)
    assert store.ensure_project("team-a").id == mine.project_id
    assert [s.id for s in store.list_sweeps(SweepFilter(project="team-a"))[0]] == [mine.id]
    assert store.list_sweeps()[1] == 2
    with pytest.raises(NotFound):
        store.get_sweep(mine.id, project="team-b")


def test_progress_counts_and_eta(store: SweepStore, tiny_spec: dict[str, Any]) -> None:
    sweep = store.create_sweep(parse_spec(tiny_spec))
    store.set_sweep_status(sweep.id, SweepStatus.RUNNING)
    with store.session() as session:
        session.execute(update(Sweep).values(started_at=utcnow() - timedelta(seconds=60)))
        session.add_all(_trial(sweep.id, f"k{i}", TrialStatus.COMPLETED) for i in range(6))
        session.add(_trial(sweep.id, "p", TrialStatus.PRUNED))
    progress = store.progress(sweep.id)
    assert (progress.done, progress.total) == (7, 90)
    assert progress.counts["completed"] == 6 and progress.counts["pending"] == 0
    assert progress.eta_s == pytest.approx(60 / 7 * 83, rel=0.05)


@pytest.mark.parametrize(
    "value, stored", [(1.5, 1.5), (float("nan"), None), (float("inf"), None), (None, None)]
)
def test_non_finite_values_are_stored_as_null(value: float | None, stored: float | None) -> None:
    assert finite_or_none(value) == stored
