"""Limits that keep one request from exhausting the service, each answered with a message that names the
limit: body size (413), sweep size caps (422, configurable), page size (422), request time (504); and
YAML bodies are loaded safely (no Python objects)."""

from __future__ import annotations

import sqlite3
import time
from pathlib import Path

import yaml
from support.projects import World

from api.app import API_PREFIX
from orchestrator.spec import Limits

SWEEPS = f"{API_PREFIX}/sweeps"


def test_an_oversized_body_is_refused_before_it_is_read(world_factory, tiny_spec: dict) -> None:
    world: World = world_factory(max_body_bytes=2048)
    big = {**tiny_spec, "description": "x" * 5000}
    response = world.client.post(SWEEPS, json=big, headers=world.headers("alpha"))
    assert response.status_code == 413
    assert "2048 bytes (MUTRANSFER_MAX_BODY_BYTES)" in response.json()["detail"]


def test_sweep_size_caps_are_configurable_and_named(world_factory, tiny_spec: dict) -> None:
    world: World = world_factory(limits=Limits(max_trials=5, max_widths=2))
    response = world.client.post(SWEEPS, json=tiny_spec, headers=world.headers("alpha"))
    assert response.status_code == 422
    errors = " ".join(response.json()["errors"])
    assert "proxy.widths has 3 widths; the limit is 2" in errors, errors
    two_widths = {**tiny_spec, "proxy": {**tiny_spec["proxy"], "widths": [32, 64]}}
    response = world.client.post(SWEEPS, json=two_widths, headers=world.headers("alpha"))
    assert response.status_code == 422  # 2 widths x 15 grid cells x 2 parametrizations = 60 trials > 5
    assert "60" in response.json()["detail"] and "5" in response.json()["detail"], response.text
    one_lr = {**two_widths, "parametrizations": ["mup"]}
    one_lr["search"] = {
        "algorithm": "grid",
        "space": {"lr": {**tiny_spec["search"]["space"]["lr"], "grid_points": 2}},
    }
    assert world.client.post(SWEEPS, json=one_lr, headers=world.headers("alpha")).status_code == 201


def test_page_sizes_are_capped(sqlite_world: World) -> None:
    world = sqlite_world
    sweep, trial = world.sweeps["alpha"], world.trials["alpha"]
    for url in (
        f"{SWEEPS}?limit=1001",
        f"{SWEEPS}/{sweep}/trials?limit=5000",
        f"{SWEEPS}/{sweep}/trials/{trial}/metrics?limit=10001",
        f"{SWEEPS}?offset=-1",
    ):
        response = world.client.get(url, headers=world.headers("alpha"))
        assert response.status_code == 422, url
        assert "limit" in response.json()["detail"] or "offset" in response.json()["detail"]


def test_yaml_bodies_cannot_build_python_objects(sqlite_world: World, tmp_path: Path) -> None:
    marker = tmp_path / "pwned"
    body = f'!!python/object/apply:os.system ["touch {marker}"]\n'
    for url in (SWEEPS, f"{SWEEPS}/validate"):
        response = sqlite_world.client.post(
            url, content=body, headers={**sqlite_world.headers("alpha"), "Content-Type": "application/yaml"}
        )
        assert response.status_code in (200, 422), response.text
        assert "YAML" in response.text
    assert not marker.exists()


def test_yaml_spec_is_accepted(sqlite_world: World, tiny_spec: dict) -> None:
    response = sqlite_world.client.post(
        SWEEPS,
        content=yaml.safe_dump(tiny_spec),
        headers={**sqlite_world.headers("alpha"), "Content-Type": "application/yaml"},
    )
    assert response.status_code == 201, response.text


def test_a_request_stuck_on_a_locked_database_times_out_with_504(world_factory, tiny_spec: dict) -> None:
    """A writer holding SQLite's lock makes a submission wait (busy timeout 30 s); the client gets a 504
    after the request time limit instead of hanging, and the service keeps answering reads meanwhile."""
    world: World = world_factory(request_timeout_s=1.0)
    path = world.client.app.state.settings.database_url.removeprefix("sqlite:///")
    blocker = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    blocker.execute("BEGIN IMMEDIATE")
    try:
        started = time.monotonic()
        response = world.client.post(SWEEPS, json=tiny_spec, headers=world.headers("alpha"))
        elapsed = time.monotonic() - started
        assert response.status_code == 504, response.text
        assert "MUTRANSFER_REQUEST_TIMEOUT_S" in response.json()["detail"]
        assert elapsed < 5
        reads = world.client.get(SWEEPS, headers=world.headers("alpha"))
        assert reads.status_code == 200
    finally:
        blocker.rollback()
        blocker.close()
