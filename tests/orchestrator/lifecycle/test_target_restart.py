"""SIGKILL the service while the target trains, start it again: the same target run continues from its
checkpoint (no new run, no repeated rows) and the sweep completes with realized vs predicted loss."""

from __future__ import annotations

import signal
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest
from conftest import RunningServer
from sqlalchemy import func, select
from support.target import kill_orphans_of, study, wait_for

from orchestrator.store.db import make_engine
from orchestrator.store.models import TargetMetric, TargetRun
from orchestrator.store.repository import SweepStore

pytestmark = pytest.mark.ray

STEPS = 300


def test_killed_service_continues_the_target_from_its_checkpoint(
    server_factory: Callable[..., RunningServer], tmp_path: Path
) -> None:
    data_dir = tmp_path / "data"
    db_url = f"sqlite:///{data_dir / 'mutransfer.db'}"
    env = {"MUTRANSFER_DATA_DIR": str(data_dir), "RAY_AUTH_MODE": "", "RAY_ADDRESS": ""}
    spec = study(
        name="restart",
        parametrizations=["mup"],
        **{"proxy.widths": [16, 32], "target.steps": STEPS, "search.space.lr.grid_points": 3},
    )
    first = server_factory(database_url=db_url, env=env)
    created = httpx.post(f"{first.url}/api/v1/sweeps", json=spec, timeout=30)
    assert created.status_code == 201, created.text
    sweep_id = created.json()["id"]
    engine = make_engine(db_url)
    store = SweepStore.from_engine(engine)
    try:
        _kill_and_resume(server_factory, first, store, sweep_id, db_url, env)
    finally:
        engine.dispose()
        kill_orphans_of(data_dir)


def _kill_and_resume(
    server_factory: Callable[..., RunningServer],
    first: RunningServer,
    store: SweepStore,
    sweep_id: int,
    db_url: str,
    env: dict[str, str],
) -> None:

    def target() -> TargetRun | None:
        with store.session() as session:
            return session.scalar(select(TargetRun).where(TargetRun.sweep_id == sweep_id))

    def checkpointed() -> bool:
        run = target()
        return bool(run and run.checkpoint_path and any(Path(run.checkpoint_path).glob("checkpoint-*.pt")))

    wait_for(checkpointed, 240, "the target to write a checkpoint", every=0.05)
    first.process.send_signal(signal.SIGKILL)
    first.process.wait(timeout=30)
    before = target()
    assert before is not None and before.status == "running" and 0 < before.steps_done < STEPS
    assert store.get_sweep(sweep_id).status == "target_running"

    second = server_factory(database_url=db_url, env=env)
    wait_for(lambda: store.get_sweep(sweep_id).status in ("completed", "failed"), 240, "the sweep to end")
    sweep = store.get_sweep(sweep_id)
    assert sweep.status == "completed", sweep.error
    after = target()
    assert after is not None and after.id == before.id  # the same run continued, no new one
    assert after.status == "completed" and after.steps_done == STEPS and after.attempts == 2
    # the target trains STEPS steps, another budget than the proxies': its loss is realized, and no prediction
    # at the proxies' budget is compared with it (planning.py)
    assert after.realized_loss is not None and after.predicted_loss is None and after.within_interval is None
    with store.session() as session:
        count, last = session.execute(
            select(func.count(), func.max(TargetMetric.step)).where(TargetMetric.target_run_id == after.id)
        ).one()
    log = httpx.get(f"{second.url}/api/v1/sweeps/{sweep_id}/events", params={"limit": 1000}, timeout=30)
    resumed = [e for e in log.json()["items"] if e["kind"] == "target_resumed"]
    assert len(resumed) == 1 and resumed[0]["data"]["from_step"] > 0
    # The worker may outlive its killed driver by a moment and checkpoint steps the driver never recorded;
    # the resumed run starts after that checkpoint, so those steps are missing, and the event says which.
    from_step, recorded = resumed[0]["data"]["from_step"], resumed[0]["data"]["recorded_steps"]
    lost = max(0, from_step - recorded)
    assert last == STEPS and count == STEPS - lost  # one row per step otherwise: nothing doubled
    assert ("were lost" in resumed[0]["message"]) == (lost > 0)
    second.process.terminate()  # stopped here so that the cleanup below also finds its Ray's leftovers
    second.process.wait(timeout=30)
