"""The sweep page while real sweeps run (real runner, Ray, training on text): the progress bar advances
without a reload, the plan arrives, "Launch target run" trains the target and its curve is drawn against
the prediction; the cancel button stops a running sweep."""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from conftest import RunningServer
from playwright.sync_api import Page, expect

from ui.conftest import start_server, stop_server

pytestmark = pytest.mark.ray

TARGET_STEPS = 60
WAITING_OR_DONE = {"awaiting approval", "completed", "failed", "cancelled", "preflight failed"}


def tiny_spec(name: str, steps: int, preflight: str = "warn") -> dict[str, Any]:
    """μP only, two tiny widths, three learning rates: 6 real trials of `steps` each; the target
    (TARGET_STEPS) waits for approval."""
    return {
        "name": name,
        "parametrizations": ["mup"],
        "base_width": 16,
        "model": {"family": "gpt", "depth": 1, "head_dim": 8, "context_length": 16},
        "proxy": {"widths": [16, 32], "steps": steps, "batch_size": 4, "eval_every": 25},
        "search": {"algorithm": "grid", "space": {"lr": {"low": 1e-3, "high": 0.1, "grid_points": 3}}},
        "target": {"width": 64, "steps": TARGET_STEPS, "auto_launch": False},
        "resources": {"cpus_per_trial": 2, "max_concurrent_trials": 1},
        "preflight": preflight,  # "warn": widths this small are too noisy for a strict coordinate check
    }


@pytest.fixture(scope="module")
def running_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    server = start_server(tmp_path_factory.mktemp("ui-live"), run_sweeps=True)
    yield server
    stop_server(server)


def submit(server: RunningServer, spec: dict[str, Any]) -> int:
    response = httpx.post(f"{server.url}/api/v1/sweeps", json=spec, timeout=30)
    assert response.status_code == 201, response.text
    return int(response.json()["id"])


def wait_for_status(server: RunningServer, sweep_id: int, statuses: set[str], timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        sweep = httpx.get(f"{server.url}/api/v1/sweeps/{sweep_id}", timeout=30).json()
        if sweep["status"] in statuses:
            return
        time.sleep(0.5)
    raise AssertionError(f"sweep {sweep_id} not in {statuses} after {timeout}s:\n{server.log()[-3000:]}")


def test_progress_advances_live_then_the_target_run_is_launched(running_server, page: Page, screenshot):
    # 200 steps: a trial lasts about one UI poll (2 s), so the bar is caught between 0 and 6
    sweep_id = submit(running_server, tiny_spec("live-progress", steps=200))
    page.goto(f"{running_server.url}/sweeps/{sweep_id}")
    page.evaluate("() => { window.__sameDocument = true; }")  # gone if the page reloads
    bar = page.locator("#sweep-progress")
    expect(bar).to_have_attribute("aria-valuemax", "6")
    status = page.locator("#sweep-status")

    # Status and bar come from one render, so read both in one evaluate: the last trials and the plan can
    # land inside one 2 s poll, and the loop must not stop on a status without reading that render's bar.
    seen: list[int] = []
    mid_shot = False
    shown = ""
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline:
        shown, now = page.evaluate(
            "() => [document.getElementById('sweep-status').innerText,"
            " document.getElementById('sweep-progress').getAttribute('aria-valuenow')]"
        )
        done = int(now or 0)
        if not seen or done != seen[-1]:
            seen.append(done)
        if shown in WAITING_OR_DONE:
            break
        if 0 < done < 6 and not mid_shot:
            page.locator("#plot-transfer canvas").first.wait_for()  # finished trials are plotted already
            screenshot(page, "sweep-detail-live-mid-sweep")
            mid_shot = True
        page.wait_for_timeout(200)

    state = httpx.get(f"{running_server.url}/api/v1/sweeps/{sweep_id}", timeout=30).json()
    api = f"{state['status']} {state['progress']}"
    context = f"bar {seen}, page {shown!r}, API {api}\n{running_server.log()[-3000:]}"
    assert shown in WAITING_OR_DONE, f"the sweep did not finish its proxies in 300 s: {context}"
    assert seen == sorted(seen) and seen[-1] == 6, context
    assert mid_shot, f"no intermediate progress was shown: {context}"
    expect(status).to_have_text("awaiting approval", timeout=60_000)  # planned; auto_launch is off
    expect(page.locator("#tf-count")).to_have_text("6 of 6 trials")
    expect(page.locator("#cancel-button")).to_be_visible()  # a sweep awaiting approval can be cancelled
    # 2 widths
    page.wait_for_function("() => document.getElementById('plot-transfer').figure?.data.length >= 2")
    page.wait_for_function("() => (document.getElementById('plot-optimum').figure?.data || []).length > 0")

    launch = page.locator("#launch-button")
    expect(launch).to_have_text("Launch target run")
    launch.click()
    expect(page.locator("#target-status")).to_have_text(re.compile("pending|running|completed"))
    expect(launch).to_be_hidden()
    expect(status).to_have_text("completed", timeout=180_000)
    expect(page.locator("#target-status")).to_have_text("completed")
    page.wait_for_function(
        "() => (document.getElementById('plot-target').figure?.data || [])"
        ".some(t => t.meta.role === 'prediction')"
    )
    target = httpx.get(f"{running_server.url}/api/v1/sweeps/{sweep_id}/target-run").json()
    expect(page.locator("#target-note")).to_contain_text("width 64")
    assert target["status"] == "completed" and target["steps_done"] == TARGET_STEPS
    assert page.evaluate("() => window.__sameDocument === true"), "the page reloaded"
    screenshot(page, "sweep-detail-live-finished")


def test_cancel_button_stops_a_running_sweep(running_server, page: Page) -> None:
    sweep_id = submit(running_server, tiny_spec("live-cancel", steps=3000, preflight="off"))
    wait_for_status(running_server, sweep_id, {"running"}, timeout=120)
    page.goto(f"{running_server.url}/sweeps/{sweep_id}")
    expect(page.locator("#sweep-status")).to_have_text("running")
    cancel = page.locator("#cancel-button")
    cancel.click()
    expect(cancel).to_have_text("Click again to cancel")  # a second click confirms
    cancel.click()
    expect(page.locator("#sweep-status")).to_have_text("cancelled", timeout=60_000)
    expect(cancel).to_be_hidden()
    sweep = httpx.get(f"{running_server.url}/api/v1/sweeps/{sweep_id}").json()
    assert sweep["status"] == "cancelled" and sweep["progress"]["counts"]["completed"] < 6
