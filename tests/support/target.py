"""Shared pieces of the end-to-end tests (tests/orchestrator/lifecycle): the service with its sweep runner on
(the module-scoped `client` fixture), a tiny SP/μP study, submitting and polling, and finding the target's
Ray worker."""

from __future__ import annotations

import os
import signal
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import psutil
import pytest
from conftest import make_settings, wait_for, with_overrides
from fastapi.testclient import TestClient

from api.app import create_app
from orchestrator.executor.cluster import ray_temp_dir

# Ray names a worker process after the task it runs: `ray::target-<id>` (orchestrator/executor/target.py).
TARGET_PROCESS = "ray::target-{id}"


def study(**overrides: Any) -> dict[str, Any]:
    """SP and μP on a 1-layer GPT, proxies at widths 16/32/64 (4 LRs each), target 128: ~20 s of proxies."""
    data: dict[str, Any] = {
        "name": "tiny-target",
        "parametrizations": ["sp", "mup"],
        "base_width": 16,
        "model": {"depth": 1, "head_dim": 8, "context_length": 16},
        "proxy": {"widths": [16, 32, 64], "steps": 20, "batch_size": 4, "seeds": [0], "eval_every": 10},
        "search": {
            "algorithm": "grid",
            "space": {"lr": {"scale": "log", "low": 3e-3, "high": 3e-1, "grid_points": 4}},
        },
        "target": {"width": 128, "steps": 40, "auto_launch": True},
        "resources": {"cpus_per_trial": 1, "max_concurrent_trials": 2, "target_cpus": 1},
        "preflight": "off",
    }
    return with_overrides(data, overrides)


RAY_ENV = ("RAY_AUTH_MODE", "RAY_AUTH_TOKEN_PATH", "RAY_ADDRESS")
API = "/api/v1"


@contextmanager
def running_service(**settings: object) -> Iterator[TestClient]:
    """The app with its sweep runner on (Ray started under a short data dir, stopped at the end); `settings`
    override the test defaults (e.g. a short webhook backoff)."""
    saved = {name: os.environ.get(name) for name in RAY_ENV}
    os.environ.pop("RAY_ADDRESS", None)
    with tempfile.TemporaryDirectory(prefix="mt-t-") as tmp:
        db = f"sqlite:///{tmp}/mt.db"
        values = make_settings(Path(tmp), db, run_sweeps=True, data_dir=Path(tmp) / "d", **settings)
        with TestClient(create_app(values)) as test_client:
            yield test_client
    for name, value in saved.items():
        if value is None:
            os.environ.pop(name, None)
        else:
            os.environ[name] = value


@pytest.fixture(scope="module")
def client() -> Iterator[TestClient]:
    with running_service() as test_client:
        yield test_client


def tmp_data_dir(client: TestClient) -> Path:
    return Path(client.app.state.settings.data_dir)  # type: ignore[attr-defined]


def submit(client: TestClient, spec: dict) -> int:
    response = client.post(f"{API}/sweeps", json=spec)
    assert response.status_code == 201, response.text
    return int(response.json()["id"])


def status_of(client: TestClient, sweep_id: int) -> str:
    return str(client.get(f"{API}/sweeps/{sweep_id}").json()["status"])


def wait_status(client: TestClient, sweep_id: int, wanted: str, timeout: float = 150) -> None:
    def reached() -> bool:
        current = status_of(client, sweep_id)
        if current in ("failed", "cancelled", "preflight_failed") and current != wanted:
            sweep = client.get(f"{API}/sweeps/{sweep_id}").json()
            raise AssertionError(f"sweep {sweep_id} ended {current}: {sweep['error']}")
        return current == wanted

    wait_for(reached, timeout, f"sweep {sweep_id} to become {wanted}", every=0.25)


def target_worker_pid(target_run_id: int) -> int | None:
    """The pid of the Ray worker now training target run `target_run_id`, if any."""
    title = TARGET_PROCESS.format(id=target_run_id)
    for proc in psutil.process_iter(["cmdline"]):
        cmdline = " ".join(proc.info.get("cmdline") or [])
        if cmdline.startswith(title) and (len(cmdline) == len(title) or not cmdline[len(title)].isdigit()):
            return int(proc.pid)
    return None


def kill(pid: int) -> None:
    os.kill(pid, signal.SIGKILL)


def kill_orphans_of(data_dir: Path) -> None:
    """SIGKILL what the killed services left behind (their Ray agents outlive them): processes with this
    test's data dir in their environment or a file open under its Ray temp dir, so nothing of another
    test or helper is touched."""
    ray_dir = str(ray_temp_dir(data_dir))
    for proc in psutil.process_iter(["pid"]):
        try:
            if proc.pid == os.getpid():
                continue
            ours = proc.environ().get("MUTRANSFER_DATA_DIR") == str(data_dir) or any(
                f.path.startswith(ray_dir) for f in proc.open_files()
            )
            if ours:
                proc.kill()
        except (psutil.NoSuchProcess, psutil.AccessDenied, psutil.ZombieProcess):
            continue
