"""A spec chooses the MoE bridge (`model.moe.bridge`); the choice reaches the worker, a typo is a 422."""

from __future__ import annotations

import copy
from typing import Any

from fastapi.testclient import TestClient

from orchestrator.spec import parse_spec
from orchestrator.trial_config import trial_config
from workers.models.moe import MoEConfig

SWEEPS = "/api/v1/sweeps"


def moe_spec(tiny_spec: dict[str, Any], **moe: Any) -> dict[str, Any]:
    data = copy.deepcopy(tiny_spec)
    data["model"] = {**data.get("model", {}), "family": "moe", "moe": {"n_experts": 4, "top_k": 2, **moe}}
    return data


def test_the_bridge_defaults_to_complete_mue_and_a_chosen_one_reaches_the_worker(tiny_spec: dict) -> None:
    assert parse_spec(moe_spec(tiny_spec)).model.moe.bridge == "complete-mue"
    spec = parse_spec(moe_spec(tiny_spec, bridge="none"))
    config = trial_config(spec, parametrization="mup", width=32, depth=2, seed=0, hparams={"lr": 0.01})
    assert MoEConfig.from_dict(config.moe).bridge == "none"


def test_an_unknown_bridge_is_a_422_that_lists_the_choices(api_client: TestClient, tiny_spec: dict) -> None:
    response = api_client.post(SWEEPS, json=moe_spec(tiny_spec, bridge="complete-mup"))
    assert response.status_code == 422, response.text
    errors = " ".join(response.json()["errors"])
    assert "model.moe.bridge: Input should be 'complete-mue' or 'none'" in errors, errors
