"""A service with auth on and two projects in it, `alpha` and `beta`, each with one sweep that has every
kind of output (trial, metrics, events, coordinate check, plan, target run and its metrics), and tokens:
read-write and read-only for each project, a revoked one, and the admin token from the settings."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import pytest
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
from orchestrator.tokens import create_token, revoke_token

ADMIN_TOKEN = "admin-token-for-tests-0123456789"


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "slow: restarts PostgreSQL or runs for more than a few seconds")


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


@pytest.fixture
def world_factory(api_client_factory: Callable[..., TestClient], tiny_spec: dict) -> Callable[..., World]:
    def build(database_url: str | None = None, **overrides: object) -> World:
        client = api_client_factory(database_url, auth=True, admin_token=ADMIN_TOKEN, **overrides)
        store: SweepStore = client.app.state.service.store
        sweeps, trials, tokens = {}, {}, {"admin": ADMIN_TOKEN}
        for project in ("alpha", "beta"):
            sweeps[project], trials[project] = seed_project(store, project, tiny_spec)
            tokens[project] = create_token(store, project, name="rw")[1]
            tokens[f"{project}-ro"] = create_token(store, project, name="dashboard", read_only=True)[1]
        revoked, tokens["revoked"] = create_token(store, "alpha", name="old")
        revoke_token(store, revoked.id)
        return World(client, store, sweeps, trials, tokens)

    return build


@pytest.fixture
def world(world_factory: Callable[..., World], database_url: str) -> World:
    """The two-project world on both databases (SQLite, and PostgreSQL when one answers)."""
    return world_factory(database_url)


@pytest.fixture
def sqlite_world(world_factory: Callable[..., World]) -> World:
    return world_factory()
