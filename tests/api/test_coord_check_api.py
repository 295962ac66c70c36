"""`GET /sweeps/{id}/coord-check`: the stored report, and per module the predicted and the measured slopes."""

from __future__ import annotations

from typing import Any

import torch
from fastapi.testclient import TestClient

from orchestrator.store.models import CoordCheckResult
from workers.config import TrialConfig
from workers.coord_check import coord_check

API = "/api/v1"


def test_the_coord_check_carries_predicted_and_measured_slopes_per_module(
    api_client: TestClient, tiny_spec: dict[str, Any]
) -> None:
    torch.set_num_threads(2)
    sweep = api_client.post(f"{API}/sweeps", json=tiny_spec).json()
    report = coord_check(TrialConfig(depth=1), "sp", "adamw", widths=(64, 128, 256), seeds=(0,), steps=2)
    with api_client.app.state.service.store.session() as session:  # as the runner stores a preflight
        session.add(
            CoordCheckResult(
                sweep_id=sweep["id"], parametrization="sp", passed=report.passed, data=report.to_dict()
            )
        )

    body = api_client.get(f"{API}/sweeps/{sweep['id']}/coord-check").json()

    (check,) = body["items"]
    assert check["parametrization"] == "sp" and check["passed"] is True
    rows = {(row["module"], row["stat"]): row for row in check["slopes"]}
    assert len(rows) == len(report.modules) * 3  # l1, rms, delta_rms
    mlp = rows[("blocks.0.mlp", "rms")]
    assert mlp["predicted"][0] == 1.0 and abs(mlp["measured"][0] - 1.0) < 0.25 and mlp["passed"]
    assert rows[("blocks.0.mlp", "delta_rms")]["predicted"] == [None, None, None]  # SP: not judged
    assert rows[("logits", "delta_rms")]["predicted"][1] == 1.0
    schema = api_client.get(f"{API}/openapi.json").json()["components"]["schemas"]
    assert {"module", "stat", "predicted", "measured", "passed"} <= set(schema["CoordSlopeOut"]["properties"])
