"""Shared fixtures: real databases and a real running server, for every part's tests.

- `sqlite_url`: a fresh SQLite file in the test's tmp dir.
- `postgres_url`: a fresh schema on the PostgreSQL at `MUTRANSFER_TEST_POSTGRES_URL` (default: the local
  server at 127.0.0.1:5432, database `test`), dropped after the test; skips with the reason when none answers
  (fails instead when MUTRANSFER_REQUIRE_POSTGRES is set, as CI's PostgreSQL pass does).
- `database_url`: parametrized over both (tests using it run twice; the PostgreSQL run is marked `postgres`).
- `engine` / `store`: an upgraded (Alembic head) database at `database_url` and a `SweepStore` over it.
- `make_settings(tmp_path, database_url, **overrides)`: service `Settings` isolated from the environment.
- `api_client`: a FastAPI `TestClient` over a real app (lifespan run: migrations applied) on `sqlite_url`,
  runner off; `api_client_factory(database_url=None, **settings_overrides)` for other databases/settings.
- `server_factory` / `live_server`: `mutransfer serve` in a subprocess on a free loopback port.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote

import httpx
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, text

from api.app import create_app
from orchestrator.settings import Settings
from orchestrator.store.db import make_engine, normalize_url, upgrade_database
from orchestrator.store.repository import SweepStore

DEFAULT_TEST_POSTGRES_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/test"
REPO_ROOT = Path(__file__).resolve().parent.parent
# The installed console script's entry point, run by this interpreter (works without the script on PATH).
MUTRANSFER_CLI = [sys.executable, "-c", "from api.cli import app; app(prog_name='mutransfer')"]


def wait_for(condition: Callable[[], object], timeout: float, what: str, every: float = 0.1) -> Any:
    """Poll until `condition()` is truthy and return its value; fail with `what` after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(every)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}")


def with_overrides(data: dict[str, Any], overrides: dict[str, Any]) -> dict[str, Any]:
    """Set each dotted path of `overrides` (e.g. "search.trials_per_width") in the nested spec dict `data`."""
    for dotted, value in overrides.items():
        node = data
        *parents, last = dotted.split(".")
        for part in parents:
            node = node.setdefault(part, {})
        node[last] = value
    return data


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _postgres_base_url() -> str:
    return normalize_url(os.environ.get("MUTRANSFER_TEST_POSTGRES_URL") or DEFAULT_TEST_POSTGRES_URL)


_postgres_problem: list[str] = []


def _postgres_unavailable() -> str | None:
    """Why PostgreSQL cannot be used (cached per session), or None when it answers."""
    if not _postgres_problem:
        engine = make_engine(_postgres_base_url(), connect_args={"connect_timeout": 3})
        try:
            with engine.connect() as conn:
                conn.execute(text("SELECT 1"))
            _postgres_problem.append("")
        except Exception as exc:  # any failure to connect means: skip, and say why
            _postgres_problem.append(
                f"PostgreSQL at {_postgres_base_url()} unavailable: {exc.__class__.__name__}"
            )
        finally:
            engine.dispose()
    return _postgres_problem[0] or None


@pytest.fixture
def sqlite_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'mutransfer-test.db'}"


@pytest.fixture
def postgres_url() -> Iterator[str]:
    """A URL whose search_path is a fresh schema: parallel runs and helpers never see each other's tables."""
    problem = _postgres_unavailable()
    if problem and os.environ.get("MUTRANSFER_REQUIRE_POSTGRES"):
        pytest.fail(f"{problem} (MUTRANSFER_REQUIRE_POSTGRES is set, as in .ci/run)")
    if problem:
        pytest.skip(problem)
    base = _postgres_base_url()
    schema = f"t_{uuid.uuid4().hex[:12]}"
    admin = make_engine(base)
    with admin.begin() as conn:
        conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    separator = "&" if "?" in base else "?"
    yield f"{base}{separator}options={quote(f'-csearch_path={schema}')}"
    with admin.begin() as conn:
        conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
    admin.dispose()


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def database_url(request: pytest.FixtureRequest) -> str:
    return str(request.getfixturevalue(f"{request.param}_url"))


@pytest.fixture
def engine(database_url: str) -> Iterator[Engine]:
    eng = make_engine(database_url)
    upgrade_database(eng)
    yield eng
    eng.dispose()


@pytest.fixture
def store(engine: Engine) -> SweepStore:
    return SweepStore.from_engine(engine)


@pytest.fixture
def tiny_spec() -> dict:
    """The example CPU study as a dict (a valid spec every test can start from and break)."""
    import yaml

    return yaml.safe_load((REPO_ROOT / "examples" / "tiny-cpu.yaml").read_text())


def make_settings(tmp_path: Path, database_url: str, **overrides: object) -> Settings:
    """Settings for a test service: no environment leaks in (env={}), sweep runner off unless asked, and
    auth off unless asked (`auth=True`): tests of other parts call the API without tokens, while
    tests/api/security turns auth on and checks it."""
    values: dict[str, object] = {
        "database_url": database_url,
        "data_dir": tmp_path / "data",
        "run_sweeps": False,
        "auth": False,
    }
    return Settings.load({**values, **overrides}, env={})


@pytest.fixture
def api_client_factory(tmp_path: Path, sqlite_url: str) -> Iterator[Callable[..., TestClient]]:
    clients: list[TestClient] = []

    def build(database_url: str | None = None, **overrides: object) -> TestClient:
        client = TestClient(create_app(make_settings(tmp_path, database_url or sqlite_url, **overrides)))
        client.__enter__()
        clients.append(client)
        return client

    yield build
    for client in clients:
        client.__exit__(None, None, None)


@pytest.fixture
def api_client(api_client_factory: Callable[..., TestClient]) -> TestClient:
    return api_client_factory()


@dataclass
class RunningServer:
    url: str
    database_url: str
    data_dir: Path
    process: subprocess.Popen[bytes]
    log_path: Path

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")


def wait_until_ready(
    url: str, process: subprocess.Popen[bytes], log_path: Path, timeout: float = 60.0
) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(
                f"server exited with {process.returncode}:\n{log_path.read_text(errors='replace')}"
            )
        try:
            if httpx.get(f"{url}/api/v1/ready", timeout=1.0).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    raise RuntimeError(f"server at {url} not ready after {timeout}s:\n{log_path.read_text(errors='replace')}")


@pytest.fixture
def server_factory(tmp_path: Path) -> Iterator[Callable[..., RunningServer]]:
    """Start `mutransfer serve` (real uvicorn, real DB) with extra CLI args / env; stopped after the test.
    Auth is off (MUTRANSFER_AUTH=off) unless `env` turns it on, as tests/api/security does."""
    started: list[RunningServer] = []

    def start(
        *args: str, database_url: str | None = None, env: dict[str, str] | None = None
    ) -> RunningServer:
        port = free_port()
        data_dir = tmp_path / f"server-{port}"
        db_url = database_url or f"sqlite:///{data_dir / 'mutransfer.db'}"
        log_path = tmp_path / f"server-{port}.log"
        full_env = {**os.environ, "MUTRANSFER_DATA_DIR": str(data_dir), "MUTRANSFER_AUTH": "off"}
        full_env.update(env or {})
        command = [*MUTRANSFER_CLI, "serve", "--host", "127.0.0.1", "--port", str(port)]
        command += ["--database-url", db_url, *args]
        with log_path.open("wb") as log:
            process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, env=full_env)
        server = RunningServer(f"http://127.0.0.1:{port}", db_url, data_dir, process, log_path)
        started.append(server)
        wait_until_ready(server.url, process, log_path)
        return server

    yield start
    for server in started:
        if server.process.poll() is None:
            server.process.terminate()
            try:
                server.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                server.process.kill()
                server.process.wait()


@pytest.fixture
def live_server(server_factory: Callable[..., RunningServer]) -> RunningServer:
    """A running service on SQLite with the sweep runner off: stored sweeps stay queued for the test."""
    return server_factory("--no-runner")
