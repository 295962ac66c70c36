"""`/metrics` scraped for real: a running service (uvicorn, its runner, Ray) trains a tiny sweep, and a plain
HTTP GET returns Prometheus text that `prometheus_client.parser` reads back with the values the API shows."""

from __future__ import annotations

import time
from collections.abc import Callable

import httpx
import pytest
from conftest import RunningServer
from prometheus_client.parser import text_string_to_metric_families

pytestmark = pytest.mark.ray

ADMIN = "admin-token-for-metrics-0123456789"


def scrape(url: str, token: str | None = None) -> dict[str, list]:  # type: ignore[type-arg]
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    response = httpx.get(f"{url}/metrics", headers=headers, timeout=30)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/plain")
    return {family.name: family.samples for family in text_string_to_metric_families(response.text)}


def value(samples: list, name: str, **labels: str) -> float:  # type: ignore[type-arg]
    found = [
        s.value for s in samples if s.name == name and all(s.labels.get(k) == v for k, v in labels.items())
    ]
    assert found, (name, labels, samples)
    return float(sum(found))


def test_metrics_need_a_token_unless_public(server_factory: Callable[..., RunningServer]) -> None:
    server = server_factory("--no-runner", env={"MUTRANSFER_AUTH": "on", "MUTRANSFER_ADMIN_TOKEN": ADMIN})
    refused = httpx.get(f"{server.url}/metrics", timeout=30)
    assert refused.status_code == 401 and "token" in refused.json()["detail"]
    families = scrape(server.url, ADMIN)
    assert value(families["mutransfer_queue_depth"], "mutransfer_queue_depth") == 0
    public = server_factory(
        "--no-runner",
        env={"MUTRANSFER_AUTH": "on", "MUTRANSFER_ADMIN_TOKEN": ADMIN, "MUTRANSFER_METRICS_PUBLIC": "1"},
    )
    assert "mutransfer_sweeps" in scrape(public.url)


def test_a_sweep_shows_in_the_scraped_metrics(server_factory: Callable[..., RunningServer]) -> None:
    server = server_factory()
    spec = {
        "name": "scraped",
        "parametrizations": ["mup"],
        "base_width": 16,
        "model": {"family": "gpt", "depth": 1, "head_dim": 8, "context_length": 16},
        "proxy": {"widths": [16, 32], "steps": 10, "batch_size": 4, "eval_every": 10},
        "search": {"algorithm": "grid", "space": {"lr": {"low": 1e-3, "high": 1e-2, "grid_points": 2}}},
        "target": {"width": 64, "steps": 10, "auto_launch": False},
        "resources": {"cpus_per_trial": 1, "max_concurrent_trials": 1},
        "preflight": "off",
    }
    created = httpx.post(f"{server.url}/api/v1/sweeps", json=spec, timeout=30)
    assert created.status_code == 201, created.text
    sweep_id = created.json()["id"]
    deadline = time.monotonic() + 180
    while (
        httpx.get(f"{server.url}/api/v1/sweeps/{sweep_id}", timeout=30).json()["status"]
        != "awaiting_approval"
    ):
        assert time.monotonic() < deadline, server.log()[-3000:]
        time.sleep(0.5)

    families = scrape(server.url)
    trials = httpx.get(f"{server.url}/api/v1/sweeps/{sweep_id}/trials", timeout=30).json()["items"]
    by_status = {
        status: sum(t["status"] == status for t in trials) for status in {t["status"] for t in trials}
    }
    assert sum(by_status.values()) == 4
    assert value(families["mutransfer_sweeps"], "mutransfer_sweeps", status="awaiting_approval") == 1
    assert value(families["mutransfer_sweeps"], "mutransfer_sweeps", status="failed") == 0
    finished = families["mutransfer_trials_finished"]
    for status, n in by_status.items():
        assert value(families["mutransfer_trials"], "mutransfer_trials", status=status) == n
        assert value(finished, "mutransfer_trials_finished_total", status=status) == n
    rows = sum(
        len(httpx.get(f"{server.url}/api/v1/sweeps/{sweep_id}/trials/{t['id']}/metrics").json()["items"])
        for t in trials
    )
    written = value(families["mutransfer_ingest_rows"], "mutransfer_ingest_rows_total")
    assert 0 < rows <= written <= rows + len(trials)  # a final record may rewrite its trial's last step
    flushes = families["mutransfer_ingest_flush_seconds"]
    assert value(flushes, "mutransfer_ingest_flush_seconds_count") >= 1
    cpus = families["mutransfer_cluster_cpus"]
    assert value(cpus, "mutransfer_cluster_cpus", state="total") >= 1
    latency = families["mutransfer_http_request_duration_seconds"]
    polled = value(
        latency,
        "mutransfer_http_request_duration_seconds_count",
        route="/api/v1/sweeps/{sweep_id}",
        status="200",
    )
    assert polled >= 1  # every status poll above, under its route template
    assert not any("/api/v1/sweeps/1" == s.labels.get("route") for s in latency)
