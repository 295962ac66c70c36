"""End to end through the real service: proxies at two token budgets, a plan that moves the LR along the
fitted horizon law, and a target trained at its own, longer budget (REST API, runner, Ray, SQLite, the real
GPT on the built-in corpus at tiny sizes)."""

from __future__ import annotations

import math

import pytest
from fastapi.testclient import TestClient
from support.target import API, client, study, submit, wait_status

pytestmark = pytest.mark.ray

__all__ = ["client"]  # the module-scoped service fixture


def test_a_token_scan_moves_the_lr_and_the_target_trains_at_its_own_budget(client: TestClient) -> None:
    base_tokens = 20 * 4 * 16  # steps × batch × context of support.target.study's proxies
    spec = study(
        **{
            "name": "horizon",
            "parametrizations": ["mup"],
            "proxy.token_budgets": [2 * base_tokens],
            "target.steps": None,
            "target.tokens": 8 * base_tokens,
        }
    )
    sweep_id = submit(client, spec)
    wait_status(client, sweep_id, "completed")

    trials = client.get(f"{API}/sweeps/{sweep_id}/trials", params={"limit": 500}).json()["items"]
    scan = [t for t in trials if t["tokens"] is not None]
    assert len(trials) == 4 * 3 + 4  # a 4-point LR grid at three widths, and the scan at the narrowest
    assert {(t["width"], t["tokens"], t["steps_done"]) for t in scan} == {(16, 2 * base_tokens, 40)}
    assert all(t["trial_key"].startswith(f"mup-w16-d1-t{2 * base_tokens}-") for t in scan)

    plan = client.get(f"{API}/sweeps/{sweep_id}/plan").json()["plan"]
    mup = plan["parametrizations"]["mup"]
    assert plan["proxy"]["token_budgets"] == [base_tokens, 2 * base_tokens]
    assert plan["target"]["tokens"] == 8 * base_tokens and plan["target"]["steps"] == 160
    law = mup["horizon_transfer"]["laws"]["lr"]
    assert law["scales"] == [base_tokens, 2 * base_tokens]
    horizon = next(m for m in mup["moves"] if m["hparam"] == "lr" and m["axis"] == "horizon")
    assert horizon["source"] == base_tokens and horizon["target"] == 8 * base_tokens
    gamma = horizon["gamma"]["value"]
    assert horizon["factor"] == pytest.approx(2.0 ** (3 * gamma))
    width_lr = mup["width_transfer"]["lr"]["target"]["value"]
    assert mup["hparams"]["lr"]["value"] == pytest.approx(width_lr * horizon["factor"])
    assert any(w["code"] == "horizon_transfer_applied" for w in plan["warnings"])

    run = client.get(f"{API}/sweeps/{sweep_id}/target-run").json()
    assert run["status"] == "completed", run
    assert run["steps_done"] == 160  # the target's own budget: 8× the base tokens at the proxies' batch
    assert math.isclose(run["hparams"]["lr"], mup["hparams"]["lr"]["value"], rel_tol=1e-9)
