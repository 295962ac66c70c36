"""Two projects' worth of stored outputs, for the tests of access scoping and of the API contract."""

from __future__ import annotations

from dataclasses import dataclass

from fastapi.testclient import TestClient

from orchestrator.spec import parse_spec
from orchestrator.store.models import (
    CoordCheckResult,
    TargetMetric,
    TargetRun,
    TransferPlan,
    Trial,
    TrialMetric,
)
from orchestrator.store.repository import SweepStore


@dataclass
class World:
    client: TestClient
    store: SweepStore
    sweeps: dict[str, int]  # project -> its sweep id
    trials: dict[str, int]  # project -> a trial id of that sweep
    tokens: dict[str, str]  # "alpha", "alpha-ro", "beta", "beta-ro", "revoked", "admin" -> secret

    def headers(self, who: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.tokens[who]}"}


def seed_project(store: SweepStore, project: str, spec_data: dict) -> tuple[int, int]:
    """One sweep of `project` with one trial and every kind of output; returns (sweep id, trial id)."""
    sweep = store.create_sweep(parse_spec(spec_data), project)
    with store.session() as session:
        trial = Trial(
            sweep_id=sweep.id,
            trial_key="mup-w32-d2-i0-s0",
            parametrization="mup",
            width=32,
            depth=2,
            hparams={"lr": 0.01},
            status="completed",
            final_loss=2.5,
            steps_done=3,
        )
        session.add(trial)
        session.flush()
        session.add_all(TrialMetric(trial_id=trial.id, step=s, train_loss=3.0 - s * 0.1) for s in (1, 2, 3))
        session.add(CoordCheckResult(sweep_id=sweep.id, parametrization="mup", passed=True, data={"ok": 1}))
        session.add(TransferPlan(sweep_id=sweep.id, version=1, plan={"target": {"width": 256}}))
        run = TargetRun(sweep_id=sweep.id, plan_version=1, status="running", hparams={"lr": 0.01})
        session.add(run)
        session.flush()
        session.add(TargetMetric(target_run_id=run.id, step=1, train_loss=3.1))
        trial_id = trial.id
    store.add_event(sweep.id, "note", f"seeded for {project}")
    return sweep.id, trial_id
