"""GET /sweeps/{id}/trials/summary: the μTransfer plot's points aggregated by the database, checked against
the same numbers computed in Python over the stored trials (a grid with seeds, scans, diverged and unfinished
trials; a random search whose continuous values are binned, so the answer stays small)."""

from __future__ import annotations

import math
import random
from typing import Any

import pytest
from fastapi.testclient import TestClient
from support.summary import assert_same, expected_summary, grid_trials, store_trials, summary_of

from orchestrator.store import HpAxis
from orchestrator.summary_axes import BINS

API = "/api/v1"


def submit(client: TestClient, spec: dict[str, Any]) -> int:
    response = client.post(f"{API}/sweeps", json=spec)
    assert response.status_code == 201, response.text
    return int(response.json()["id"])


def summary(client: TestClient, sweep_id: int) -> dict[str, Any]:
    response = client.get(f"{API}/sweeps/{sweep_id}/trials/summary")
    assert response.status_code == 200, response.text
    return response.json()


def test_a_grid_is_summarized_per_exact_value(api_client: TestClient, tiny_spec: dict[str, Any]) -> None:
    space = tiny_spec["search"]["space"]
    lrs = [space["lr"]["low"] * 2**i for i in range(5)]
    stds = [space["init_std"]["low"] * 2 ** (1.5 * i) for i in range(3)]
    sweep_id = submit(api_client, tiny_spec)
    rows = grid_trials(lrs, stds)
    store_trials(api_client.app.state.service.store, sweep_id, rows)

    body = summary(api_client, sweep_id)
    assert body["sweep_id"] == sweep_id
    assert [(h["name"], h["bins"], h["log"]) for h in body["hps"]] == [
        ("lr", None, True),
        ("init_std", None, True),
    ]
    axes = [HpAxis("lr", log=True), HpAxis("init_std", log=True)]
    assert_same(summary_of(body["groups"]), expected_summary(rows, axes))

    groups = {(g["parametrization"], g["width"], g["tokens"]): g for g in body["groups"]}
    assert set(groups) == {(p, w, t) for p in ("sp", "mup") for w, t in ((32, None), (64, None), (32, 4096))}
    # the diverged column of SP at width 64: no loss, every trial counted as diverged
    top = groups[("sp", 64, None)]["points"]["lr"][-1]
    assert top["value"] == lrs[-1] and top["best"] is None and top["count"] == 0 and top["diverged"] == 6
    # a point of lr is the best over init_std's values, each first averaged over its two seeds
    point = groups[("mup", 64, None)]["points"]["lr"][2]
    per_std = []
    for std in stds:
        mine = [r for r in rows if r["parametrization"] == "mup" and r["width"] == 64 and r["tokens"] is None]
        mine = [
            r for r in mine if r["hparams"] == {"lr": lrs[2], "init_std": std} and r["status"] == "completed"
        ]
        per_std.append(sum(r["final_val_loss"] or r["final_loss"] for r in mine) / len(mine))
    assert point["best"] == pytest.approx(min(per_std))
    assert point["count"] == 6 and point["low"] is None and point["high"] is None


def test_a_random_search_is_binned_so_the_answer_stays_bounded(
    api_client: TestClient, tiny_spec: dict[str, Any]
) -> None:
    spec = tiny_spec | {
        "search": {
            "algorithm": "random",
            "trials_per_width": 400,
            "space": {
                "lr": {"scale": "log", "low": 2**-12, "high": 2**-1},
                "weight_decay": {"scale": "linear", "low": 0.0, "high": 0.2},
            },
        }
    }
    sweep_id = submit(api_client, spec)
    rng = random.Random(7)
    rows = []
    for p in ("sp", "mup"):
        for _ in range(400):
            lr, wd = 2 ** rng.uniform(-12, -1), rng.uniform(0.0, 0.2)
            diverged = math.log2(lr) > -2.5
            row = {
                "parametrization": p,
                "width": 32,
                "depth": 2,
                "seed": 0,
                "hparams": {"lr": lr, "weight_decay": wd},
                "status": "diverged" if diverged else "completed",
                "diverged": diverged,
                "final_val_loss": None if diverged else 2 + 0.01 * (math.log2(lr) + 6) ** 2 + wd,
                "final_loss": None,
                "tokens": None,
            }
            rows.append(row)
    store_trials(api_client.app.state.service.store, sweep_id, rows)

    body = summary(api_client, sweep_id)
    hps = {h["name"]: h for h in body["hps"]}
    assert hps["lr"] == {"name": "lr", "bins": BINS, "low": 2**-12, "high": 2**-1, "log": True}
    assert hps["weight_decay"]["bins"] == BINS and hps["weight_decay"]["log"] is False
    axes = [
        HpAxis("lr", bins=BINS, low=2**-12, high=2**-1, log=True),
        HpAxis("weight_decay", bins=BINS, low=0.0, high=0.2),
    ]
    assert_same(summary_of(body["groups"]), expected_summary(rows, axes))
    for group in body["groups"]:
        for points in group["points"].values():
            assert 0 < len(points) <= BINS  # bounded by the bins, not the 400 trials
            assert sum(p["count"] + p["diverged"] for p in points) == 400
            for p in points:
                assert p["low"] <= p["value"] < p["high"]
    lr_points = body["groups"][0]["points"]["lr"]
    assert any(p["diverged"] for p in lr_points) and lr_points[-1]["best"] is None  # the top bins diverged


def test_an_empty_sweep_has_no_groups_and_a_missing_one_is_404(
    api_client: TestClient, tiny_spec: dict[str, Any]
) -> None:
    sweep_id = submit(api_client, tiny_spec)
    assert summary(api_client, sweep_id)["groups"] == []
    missing = api_client.get(f"{API}/sweeps/99999/trials/summary")
    assert missing.status_code == 404 and "not found" in missing.json()["detail"]
    documented = api_client.app.openapi()["paths"][f"{API}/sweeps/{{sweep_id}}/trials/summary"]["get"]
    assert {"200", "401", "404"} <= set(documented["responses"])
