"""The load test's exactly-once check in a short form (bench/load.py: 200 reporters through the real
ingestion path while readers poll the API), on SQLite and PostgreSQL; and, marked slow, PostgreSQL
restarted in the middle of ingestion: nothing is lost and the API answers 503 (never 500) meanwhile."""

from __future__ import annotations

import importlib.util
import os
import shutil
import sys

import pytest
from conftest import REPO_ROOT

_spec = importlib.util.spec_from_file_location("bench_load", REPO_ROOT / "bench" / "load.py")
assert _spec is not None and _spec.loader is not None
load = importlib.util.module_from_spec(_spec)
sys.modules["bench_load"] = load
_spec.loader.exec_module(load)


def check(report: load.LoadReport, min_rows: int) -> None:
    summary = report.to_dict()
    assert report.exactly_once, summary
    assert report.rows_reported >= min_rows, summary
    assert report.read.n > 0 and set(report.read_status) <= {"200", "503"}, summary


def test_every_reported_row_is_stored_exactly_once_under_load(database_url: str) -> None:
    config = load.LoadConfig(database_url, reporters=200, duration_s=3.0, rate_hz=10.0, readers=2)
    report = load.run_load(config)
    check(report, min_rows=200 * 10)
    assert report.read_status.get("200", 0) > 0


@pytest.mark.slow
@pytest.mark.postgres
def test_a_postgres_restart_during_ingestion_loses_nothing_and_the_api_answers_503(postgres_url: str) -> None:
    if not (shutil.which("pg_ctlcluster") and os.path.isdir("/etc/postgresql") and os.geteuid() == 0):
        pytest.skip("needs root and Debian's pg_ctlcluster to restart the local PostgreSQL")
    config = load.LoadConfig(
        postgres_url, reporters=200, duration_s=8.0, rate_hz=10.0, readers=2, restart_postgres_at_s=2.0
    )
    report = load.run_load(config)
    check(report, min_rows=200 * 10)
    assert report.postgres_restart_s is not None
