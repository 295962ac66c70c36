"""Fixtures for the execution tests: one real local Ray per module, a real SQLite store, tiny specs.

Trials train the real GPT from `workers/` on the real built-in corpus, at widths 16-32 for a few steps,
so a trial costs well under a second once its Ray worker has imported torch.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine

from orchestrator.executor.ray_executor import RayExecutor
from orchestrator.store.db import make_engine, upgrade_database
from orchestrator.store.repository import SweepStore

RAY_ENV = ("RAY_AUTH_MODE", "RAY_AUTH_TOKEN_PATH", "RAY_ADDRESS")


@pytest.fixture(scope="module")
def ray_data_dir() -> Iterator[Path]:
    """A short data dir (Ray's socket paths live under it) with Ray started once for the module."""
    saved = {name: os.environ.get(name) for name in RAY_ENV}
    with tempfile.TemporaryDirectory(prefix="mt-x-") as tmp:
        executor = RayExecutor(Path(tmp), num_cpus=2)
        executor.start()
        yield Path(tmp)
        executor.shutdown()
    for name, value in saved.items():
        if value is None:
            os.environ.pop(name, None)
        else:
            os.environ[name] = value


@pytest.fixture
def executor(ray_data_dir: Path) -> RayExecutor:
    return RayExecutor(ray_data_dir, num_cpus=2)


@pytest.fixture
def short_dir() -> Iterator[Path]:
    """A data dir with a short path (Ray's Unix sockets go under it), removed after the test, so the
    Ray session files of services started by a test do not pile up in /tmp."""
    path = Path(tempfile.mkdtemp(prefix="mt-t-"))
    yield path
    shutil.rmtree(path, ignore_errors=True)


@pytest.fixture
def exec_store(tmp_path: Path) -> Iterator[SweepStore]:
    engine: Engine = make_engine(f"sqlite:///{tmp_path / 'exec.db'}")
    upgrade_database(engine)
    yield SweepStore.from_engine(engine)
    engine.dispose()
