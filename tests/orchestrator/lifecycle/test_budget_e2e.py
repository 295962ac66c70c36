"""A budget cut-off during a real sweep (runner, Ray, training): once the proxies have used their FLOPs, no
trial starts, the running ones are stopped and recorded cancelled, and the plan is made from what finished,
with a warning that says so. The API and the sweep page show the budget and its use.

The limit is in FLOPs, not time, so where the cut falls does not depend on how loaded the machine is."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient
from support.target import API, client, study, submit, wait_for

pytestmark = pytest.mark.ray

__all__ = ["client"]

# 6·N·tokens per trial at depth 1, 60 steps of 4 × 16 tokens: 7.3e7 at width 16, 2.9e8 at 32, 1.15e9 at 64;
# the whole grid (2 parametrizations × 4 LRs × 3 widths) is 1.2e10. Searches take turns (sp-16, sp-32,
# sp-64, mup-16, ...), so 2.5e9 lets the first few trials finish and cuts the rest.
MAX_FLOPS = 2.5e9


def test_a_flops_budget_stops_the_proxies_and_the_plan_says_so(client: TestClient) -> None:
    spec = study(name="budgeted", budget={"max_proxy_flops": MAX_FLOPS}, **{"proxy.steps": 60})
    sweep_id = submit(client, spec)
    settled = ("completed", "awaiting_approval", "failed")
    sweep = wait_for(
        lambda: (s := client.get(f"{API}/sweeps/{sweep_id}").json())["status"] in settled and s,
        300,
        "the budgeted sweep to settle",
    )
    assert sweep["status"] == "completed", sweep["error"]
    assert sweep["budget"]["limits"]["max_proxy_flops"] == MAX_FLOPS
    assert MAX_FLOPS <= sweep["budget"]["used"]["proxy_flops"] < 1.2e10
    assert sweep["budget"]["reached"].startswith("budget.max_proxy_flops reached")
    assert sweep["budget"]["used"]["trial_hours"] > 0

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
