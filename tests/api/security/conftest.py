"""A service with auth on and two projects in it, `alpha` and `beta`, each with one sweep that has every
kind of output (trial, metrics, events, coordinate check, plan, target run and its metrics), and tokens:
read-write and read-only for each project, a revoked one, and the admin token from the settings."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from fastapi.testclient import TestClient
from support.projects import World, seed_project

from orchestrator.store.repository import SweepStore
from orchestrator.tokens import create_token, revoke_token

ADMIN_TOKEN = "admin-token-for-tests-0123456789"


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "slow: restarts PostgreSQL or runs for more than a few seconds")


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
