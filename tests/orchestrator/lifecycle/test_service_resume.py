"""SIGKILL the service in the middle of a sweep, start it again: the sweep resumes without duplicates."""

from __future__ import annotations

import signal
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest
from conftest import RunningServer, wait_for
from sqlalchemy import func, select
from support.execution import tiny_spec

from orchestrator.store.db import make_engine
from orchestrator.store.models import Trial, TrialMetric
from orchestrator.store.repository import SweepStore

pytestmark = pytest.mark.ray

STEPS = 40


def _snapshot(store: SweepStore, sweep_id: int) -> dict[str, tuple[int, str, object]]:
    rows, _ = store.list_trials(sweep_id, limit=1000)
    return {t.trial_key: (t.id, t.status, t.finished_at) for t in rows}


def test_sigkilled_service_resumes_the_sweep_keeping_finished_trials(
    short_dir: Path, server_factory: Callable[..., RunningServer]
) -> None:
    data_dir = short_dir / "data"
    db_url = f"sqlite:///{data_dir / 'mutransfer.db'}"
    env = {"MUTRANSFER_DATA_DIR": str(data_dir), "RAY_AUTH_MODE": "", "RAY_ADDRESS": ""}
    spec = tiny_spec(
        parametrizations=["sp", "mup"],
        **{"proxy.steps": STEPS, "search.trials_per_width": 3, "resources.max_concurrent_trials": 1},
    )
    first = server_factory(database_url=db_url, env=env)
    created = httpx.post(f"{first.url}/api/v1/sweeps", json=spec.model_dump(mode="json"), timeout=30)
    assert created.status_code == 201, created.text
    sweep_id = created.json()["id"]
    engine = make_engine(db_url)
    store = SweepStore.from_engine(engine)

    def finished_some() -> bool:
        done = [t for t in _snapshot(store, sweep_id).values() if t[1] == "completed"]
        return len(done) >= 3

    wait_for(finished_some, 240, "three finished trials before the kill")
    first.process.send_signal(signal.SIGKILL)
    first.process.wait(timeout=30)
    before = _snapshot(store, sweep_id)
    kept = {key: row for key, row in before.items() if row[1] == "completed"}
    assert store.get_sweep(sweep_id).status == "running"
    assert len(kept) < spec.total_trials()

    second = server_factory(database_url=db_url, env=env)
    wait_for(lambda: store.get_sweep(sweep_id).status == "completed", 300, "the resumed sweep to complete")

    after = _snapshot(store, sweep_id)
    assert len(after) == spec.total_trials() == 12  # every trial once: no duplicates
    for key, (trial_id, status, finished_at) in kept.items():  # finished trials untouched, not rerun
        assert after[key] == (trial_id, status, finished_at)
    assert all(status in ("completed", "diverged") for _, status, _ in after.values())
    with store.session() as session:
        steps = session.execute(select(func.count(), func.count(func.distinct(TrialMetric.trial_id)))).one()
        per_trial = session.execute(
            select(Trial.trial_key, func.count(TrialMetric.id), func.max(TrialMetric.step))
            .join(TrialMetric, TrialMetric.trial_id == Trial.id)
            .group_by(Trial.trial_key)
        ).all()
    assert steps[1] == 12
    for key, count, last in per_trial:
        assert count == last, key  # one row per step, no doubles from the rerun
    events = httpx.get(f"{second.url}/api/v1/sweeps/{sweep_id}/events", timeout=30)
    assert events.status_code == 200, events.text
    assert any(e["kind"] == "resumed" for e in events.json()["items"])
    engine.dispose()
