"""A sweep larger than the default limits, accepted by a service configured for it, stays readable: its
stored spec is read back without re-judging it against limits (which may be lower than when it was
submitted)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from fastapi.testclient import TestClient

from orchestrator.spec import Limits

API = "/api/v1"


def test_a_sweep_above_the_default_trial_limit_can_be_read(
    api_client_factory: Callable[..., TestClient], tiny_spec: dict[str, Any]
) -> None:
    client = api_client_factory(limits=Limits(max_trials=20_000))
    spec = tiny_spec | {
        "search": {"algorithm": "random", "trials_per_width": 2000, "space": tiny_spec["search"]["space"]}
    }
    created = client.post(f"{API}/sweeps", json=spec)
    assert created.status_code == 201, created.text
    assert created.json()["total_trials"] > Limits.max_trials
    sweep = client.get(f"{API}/sweeps/{created.json()['id']}")
    assert sweep.status_code == 200, sweep.text
    assert sweep.json()["total_trials"] == created.json()["total_trials"]
