"""The API contract says what the code enforces: schemathesis, every check, against a real server.

A real server (uvicorn, SQLite, auth on) holds two projects' sweeps, so generated ids reach real rows.
`schemathesis run --checks all` covers every operation in all its phases (examples, coverage, fuzzing,
stateful): no 5xx, every status, header and body as documented, schema-violating requests rejected and
schema-valid ones accepted, a true `Allow` on every 405, 405 for every undeclared method. The one
configured exception (`schemathesis.toml`) is POST /sweeps' cross-field rules, which JSON Schema cannot
state. Bounded: 25 examples per operation and phase, a fixed seed, so a run is reproducible.
"""

from __future__ import annotations

import re
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

from conftest import RunningServer
from support.projects import seed_project

from orchestrator.store import SweepStore, make_engine

ADMIN = "fuzzing-admin-token-0123456789abcdef"
CONFIG = Path(__file__).with_name("schemathesis.toml")
EXAMPLES_PER_OPERATION = 25
SEED = 0


def test_every_schemathesis_check_passes_on_every_operation(
    server_factory: Callable[..., RunningServer], tiny_spec: dict
) -> None:
    server = server_factory("--no-runner", env={"MUTRANSFER_AUTH": "on", "MUTRANSFER_ADMIN_TOKEN": ADMIN})
    engine = make_engine(server.database_url)
    for project in ("alpha", "beta"):  # ids 1 and 2 exist, so generated ids reach real rows too
        seed_project(SweepStore.from_engine(engine), project, tiny_spec)
    engine.dispose()
    run = subprocess.run(
        [
            sys.executable,
            "-m",
            "schemathesis.cli",
            "--config-file",
            str(CONFIG),
            "run",
            f"{server.url}/api/v1/openapi.json",
            "--checks",
            "all",
            "--header",
            f"Authorization: Bearer {ADMIN}",
            "--max-examples",
            str(EXAMPLES_PER_OPERATION),
            "--seed",
            str(SEED),
            "--no-color",
        ],
        capture_output=True,
        text=True,
        timeout=600,
    )
    report = run.stdout + run.stderr
    assert run.returncode == 0, report[-20_000:]
    assert re.search(r"Selected: (\d+)/\1", report) and " generated, " in report, report[-5_000:]
