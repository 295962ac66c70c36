"""A budget cut-off during a real sweep (runner, Ray, training): once the proxies have used their trial
time, no trial starts, the running ones are stopped and recorded cancelled, and the plan is made from what
finished, with a warning that says so. The API and the sweep page show the budget and its use."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient
from support.target import API, client, study, submit, wait_for

pytestmark = pytest.mark.ray

__all__ = ["client"]

# 24 trials of 60 steps use 50-100 trial-seconds on 2 idle cores (a worker's first trial pays its start-up):
# 25 s lets the first few finish and cuts the rest, idle or loaded.
TRIAL_SECONDS = 25.0


def test_a_trial_time_budget_stops_the_proxies_and_the_plan_says_so(client: TestClient) -> None:
    spec = study(name="budgeted", budget={"max_trial_hours": TRIAL_SECONDS / 3600}, **{"proxy.steps": 60})
    sweep_id = submit(client, spec)
    settled = ("completed", "awaiting_approval", "failed")
    sweep = wait_for(
        lambda: (s := client.get(f"{API}/sweeps/{sweep_id}").json())["status"] in settled and s,
        300,
        "the budgeted sweep to settle",
    )
    assert sweep["status"] == "completed", sweep["error"]
    assert sweep["budget"]["limits"]["max_trial_hours"] == pytest.approx(TRIAL_SECONDS / 3600)
    assert sweep["budget"]["used"]["trial_hours"] >= TRIAL_SECONDS / 3600
    assert sweep["budget"]["reached"].startswith("budget.max_trial_hours reached")

    trials = client.get(f"{API}/sweeps/{sweep_id}/trials", params={"limit": 100}).json()["items"]
    by_status = {t["status"] for t in trials}
    completed = [t for t in trials if t["status"] == "completed"]
    cut = [t for t in trials if t["status"] == "cancelled"]
    assert completed and cut and len(completed) < spec_total(spec), by_status
    assert all("budget" in (t["error"] or "") for t in cut)

    events = client.get(f"{API}/sweeps/{sweep_id}/events", params={"limit": 1000}).json()["items"]
    reached = [e for e in events if e["kind"] == "budget_reached"]
    assert len(reached) == 1 and "running ones were stopped" in reached[0]["message"]
    plan = client.get(f"{API}/sweeps/{sweep_id}/plan").json()["plan"]
    assert any(w["code"] == "budget_reached" for w in plan["warnings"])


def spec_total(spec: dict) -> int:
    return len(spec["parametrizations"]) * len(spec["proxy"]["widths"]) * 4
