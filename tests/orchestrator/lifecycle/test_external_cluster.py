"""With RAY_ADDRESS the service runs trials on that cluster instead of starting its own."""

from __future__ import annotations

import os
import secrets
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import psutil
import pytest
from conftest import RunningServer, free_port, wait_for
from support.execution import tiny_spec

from orchestrator.executor.cluster import ray_temp_dir
from orchestrator.store.db import make_engine
from orchestrator.store.repository import SweepStore

pytestmark = pytest.mark.ray

RAY_CLI = str(Path(sys.executable).with_name("ray"))


def _stop_cluster(temp_dir: str) -> None:
    """Kill only the processes of this test's cluster (their command lines name its temp dir);
    `ray stop` would also stop every other Ray on the machine."""
    ours = []
    for proc in psutil.process_iter(["pid", "cmdline"]):
        cmdline = " ".join(proc.info.get("cmdline") or [])
        if temp_dir in cmdline:
            ours.append(proc)
    for proc in ours:
        try:
            proc.kill()
        except psutil.NoSuchProcess:
            pass
    psutil.wait_procs(ours, timeout=20)


@pytest.fixture
def external_cluster() -> Iterator[tuple[str, dict[str, str], str]]:
    """A real head node on loopback with token auth (the token in a file of its own)."""
    temp_dir = tempfile.mkdtemp(prefix="mt-ext-")
    token_path = Path(temp_dir) / "token"
    token_path.write_text(secrets.token_hex(32))
    token_path.chmod(0o600)
    auth_env = {"RAY_AUTH_MODE": "token", "RAY_AUTH_TOKEN_PATH": str(token_path)}
    port = free_port()
    env = {**os.environ, **auth_env}
    env.pop("RAY_ADDRESS", None)
    command = [
        RAY_CLI, "start", "--head", f"--port={port}", "--num-cpus=2", "--node-ip-address=127.0.0.1",
        f"--temp-dir={temp_dir}", "--include-dashboard=false", "--disable-usage-stats",
    ]  # fmt: skip
    try:
        subprocess.run(command, env=env, check=True, capture_output=True, timeout=120)
        address = f"127.0.0.1:{port}"
        probe = subprocess.run(
            [sys.executable, "-c", f"import ray; ray.init(address='{address}'); "
             "print(ray.get_runtime_context().get_node_id())"],
            env=env, check=True, capture_output=True, text=True, timeout=120,
        )  # fmt: skip
        node_id = probe.stdout.strip().splitlines()[-1]
        yield address, auth_env, node_id
    finally:
        _stop_cluster(temp_dir)
        shutil.rmtree(temp_dir, ignore_errors=True)


def test_trials_run_on_the_cluster_named_by_ray_address(
    short_dir: Path,
    server_factory: Callable[..., RunningServer],
    external_cluster: tuple[str, dict[str, str], str],
) -> None:
    address, auth_env, node_id = external_cluster
    data_dir = short_dir / "data"
    db_url = f"sqlite:///{data_dir / 'mutransfer.db'}"
    server = server_factory(
        database_url=db_url, env={"MUTRANSFER_DATA_DIR": str(data_dir), "RAY_ADDRESS": address, **auth_env}
    )
    spec = tiny_spec(**{"search.trials_per_width": 2})
    created = httpx.post(f"{server.url}/api/v1/sweeps", json=spec.model_dump(mode="json"), timeout=30)
    assert created.status_code == 201, created.text
    sweep_id = created.json()["id"]
    engine = make_engine(db_url)
    store = SweepStore.from_engine(engine)
    try:
        wait_for(lambda: store.get_sweep(sweep_id).status == "completed", 240, "the sweep to complete")
        trials, total = store.list_trials(sweep_id)
        assert total == 4
        for trial in trials:
            assert trial.status == "completed"
            assert trial.worker_node is not None and trial.worker_node.startswith(node_id)
        assert not ray_temp_dir(data_dir).exists()  # the service started no Ray of its own
    finally:
        engine.dispose()
