"""Issue 7's two studies end to end through the real service: REST submit, runner, Ray trials, planner, the
target run (auto_launch) on Ray, realized vs predicted loss stored.

- a dense (gpt) proxy sweep whose target is an MoE model: the plan states the Complete-muE mapping and the
  target trains the MoE;
- proxies at depths 2 and 4 transferred to depth 8 under CompleteP: the plan fits the depth law and the
  target trains 8 blocks.

The trained target is read back from its final checkpoint: its stored config says what was really trained.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from support.target import API, client, study, submit, tmp_data_dir, wait_status

from orchestrator.planner.model_size import non_embedding_params
from workers.checkpoint import load_latest_checkpoint

pytestmark = pytest.mark.ray

__all__ = ["client"]  # the module-scoped service fixture: one service (and Ray) for this module's tests

MODEL = {"family": "gpt", "depth": 1, "head_dim": 16, "context_length": 16}


def tiny(**overrides: Any) -> dict[str, Any]:
    """One parametrization (μP), proxies at widths 16/32 (2 LRs, 8 steps), target width 64, 8 steps;
    `overrides` as `study`'s dotted paths."""
    return study(
        **{
            "parametrizations": ["mup"],
            "model": dict(MODEL),
            "proxy.widths": [16, 32],
            "proxy.steps": 8,
            "proxy.eval_every": 4,
            "search.space.lr": {"scale": "log", "low": 3e-3, "high": 3e-2, "grid_points": 2},
            "target.width": 64,
            "target.steps": 8,
            **overrides,
        }
    )


def finished_study(client: TestClient, spec: dict[str, Any]) -> tuple[dict, dict]:
    """Submit, wait for `completed`, check the target run trained the plan's choice to a finite loss stored
    beside the prediction; (plan, the target's final checkpoint config and weight names)."""
    sweep_id = submit(client, spec)
    wait_status(client, sweep_id, "completed", timeout=120)
    plan = client.get(f"{API}/sweeps/{sweep_id}/plan").json()["plan"]
    run = client.get(f"{API}/sweeps/{sweep_id}/target-run").json()
    assert run["status"] == "completed", run
    assert run["realized_loss"] is not None and math.isfinite(run["realized_loss"]), run
    assert run["steps_done"] == spec["target"]["steps"]
    assert run["hparams"] == plan["target_choice"]["hparams"]
    assert run["predicted_loss"] == plan["target_choice"]["predicted_loss"]
    checkpoints = tmp_data_dir(client) / "targets" / f"sweep-{sweep_id}" / f"target-{run['id']}"
    return plan, trained_config(checkpoints)


def trained_config(checkpoints: Path) -> dict[str, Any]:
    state = load_latest_checkpoint(checkpoints)
    assert state is not None, f"no checkpoint under {checkpoints}"
    return {**json.loads(state["config"]), "weights": list(state["model"])}


def test_a_dense_proxy_sweep_transfers_to_an_moe_target_and_states_the_bridge(client: TestClient) -> None:
    moe = {"n_experts": 4, "top_k": 2}
    spec = tiny(name="dense-to-moe", **{"target.model": {**MODEL, "family": "moe", "moe": moe}})
    plan, trained = finished_study(client, spec)

    mapping = [w["message"] for w in plan["warnings"] if w["code"] == "family_mapping"]
    assert mapping and mapping[0].startswith("complete-mue I+II"), plan["warnings"]
    assert plan["target"]["params"] == non_embedding_params(64, 1, family="moe", moe=moe)  # active only
    assert trained["family"] == "moe" and trained["width"] == 64
    assert trained["moe"]["top_k"] == 2 and trained["moe"]["bridge"] == "complete-mue"
    assert "blocks.0.mlp.experts.up.weight" in trained["weights"]


def test_proxies_at_depths_two_and_four_transfer_to_depth_eight_under_completep(client: TestClient) -> None:
    spec = tiny(
        name="depth-2-4-to-8",
        parametrizations=["completep"],
        base_depth=2,
        **{"model.depth": 2, "proxy.depths": [2, 4], "target.depth": 8},
    )
    plan, trained = finished_study(client, spec)

    assert plan["target"]["depth"] == 8 and plan["proxy"]["depths"] == [2, 4]
    assert "lr" in plan["parametrizations"]["completep"]["depth_transfer"]
    assert trained["depth"] == 8 and trained["base_depth"] == 2 and trained["parametrization"] == "completep"
    assert "blocks.7.mlp.fc.weight" in trained["weights"]
