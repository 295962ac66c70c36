"""The trial sink on SQLite and PostgreSQL: a finished trial's row id is not kept in memory (a large sweep
would grow the driver by one per trial), and an event that comes for it later still lands on its row."""

from __future__ import annotations

from typing import Any

from sqlalchemy import func, select

from orchestrator.executor.interface import TrialOutcome, TrialRequest, search_key, trial_key
from orchestrator.spec import parse_spec
from orchestrator.store.ingest import Ingest
from orchestrator.store.models import Trial, TrialMetric
from orchestrator.store.repository import SweepStore


def _request(index: int) -> TrialRequest:
    key = trial_key(search_key("mup", 16, 1, None, None), index, 0)
    return TrialRequest(key, "mup", 16, 1, index, 0, {"lr": 0.01})


def _record(step: int) -> dict[str, Any]:
    return {"step": step, "train_loss": 1.0 / step, "lr": 0.01, "grad_norm": 1.0, "tokens": step}


def test_a_finished_trial_is_forgotten_and_a_late_event_still_finds_its_row(
    store: SweepStore, tiny_spec: dict[str, Any]
) -> None:
    sweep = store.create_sweep(parse_spec(tiny_spec))
    ingest = Ingest(store, sweep.id)
    done, running = _request(0), _request(1)
    for request in (done, running):
        ingest.trial_created(request)
        ingest.trial_started(request.key, None)
        ingest.trial_metrics(request.key, _record(1))
    ingest.trial_finished(done.key, TrialOutcome(status="completed", final_loss=1.0, steps_done=1))
    ingest.flush()
    assert set(ingest._ids) == {running.key}  # noqa: SLF001 - the memory this test is about

    ingest.trial_metrics(done.key, _record(2))  # e.g. the last record of a trial Tune retried
    ingest.trial_metrics(running.key, _record(2))
    ingest.flush()
    with store.session() as session:
        assert session.scalar(select(func.count()).select_from(Trial).where(Trial.sweep_id == sweep.id)) == 2
        rows = session.execute(
            select(Trial.trial_key, func.count(TrialMetric.step))
            .join(TrialMetric, TrialMetric.trial_id == Trial.id)
            .where(Trial.sweep_id == sweep.id)
            .group_by(Trial.trial_key)
        ).all()
    assert dict(rows) == {done.key: 2, running.key: 2}
