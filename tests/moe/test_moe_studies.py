"""Two tiny real studies through the product's glue, in-process (no service): proxies trained by the
workers' loop on real text, planned by the planner, the target configured by `target_request` and trained.

- a dense (gpt) proxy sweep whose target is an MoE model: the plan states the Complete-muE mapping;
- proxies at depths 2 and 4 transferred to depth 8 under CompleteP.
"""

from __future__ import annotations

import math
from typing import Any

import torch

from orchestrator.planner import build_plan
from orchestrator.planner.types import TrialResult
from orchestrator.planning import choose_target
from orchestrator.spec import SweepSpec, parse_spec
from orchestrator.store.models import TargetRun
from orchestrator.target_run import target_request
from orchestrator.trial_config import trial_config
from workers.config import TrialConfig
from workers.train import train

torch.set_num_threads(2)


def _spec(parametrization: str, **overrides: Any) -> SweepSpec:
    data = {
        "name": "moe-study",
        "model": {"family": "gpt", "depth": 1, "context_length": 16},
        "parametrizations": [parametrization],
        "base_width": 16,
        "proxy": {"widths": [16, 32], "steps": 8, "batch_size": 4, "eval_every": 8},
        "search": {
            "algorithm": "grid",
            "space": {"lr": {"scale": "log", "low": 3e-3, "high": 3e-2, "grid_points": 2}},
        },
        "target": {"width": 64, "steps": 8},
    }
    for key, value in overrides.items():
        data[key] = {**data[key], **value} if isinstance(value, dict) else value
    return parse_spec(data)


def _final(config: TrialConfig) -> tuple[str, float | None]:
    last = None
    for record in train(config):
        last = record
    assert last is not None
    return last.status, last.final_val_loss


def _study(spec: SweepSpec, tmp_path) -> tuple[Any, TrialConfig, tuple[str, float | None]]:
    """Sweep the proxies, plan, configure and train the target; returns (plan, target config, outcome)."""
    p = spec.parametrizations[0]
    trials = []
    for depth in spec.depths():
        for width in spec.proxy.widths:
            for lr in spec.search.space["lr"].grid():
                config = trial_config(
                    spec, parametrization=p, width=width, depth=depth, seed=0, hparams={"lr": lr}, threads=2
                )
                status, loss = _final(config)
                trials.append(TrialResult(p, width, depth, 0, {"lr": lr}, loss, status == "diverged", status))
    plan = build_plan(spec, trials)
    choice = choose_target(plan.to_dict())
    request = target_request(spec, TargetRun(id=1, checkpoint_path=str(tmp_path / "target")), choice)
    target = TrialConfig.from_dict(request.config)
    return plan, target, _final(target)


def test_a_dense_proxy_sweep_transfers_to_an_moe_target_and_states_the_bridge(tmp_path) -> None:
    moe = {"family": "moe", "depth": 1, "context_length": 16, "moe": {"n_experts": 4, "top_k": 2}}
    spec = _spec("mup", target={"width": 64, "steps": 8, "model": moe})
    plan, target, (status, loss) = _study(spec, tmp_path)
    mapping = [w.message for w in plan.warnings if w.code == "family_mapping"]
    assert mapping and mapping[0].startswith("complete-mue I+II")
    assert target.family == "moe" and target.moe["top_k"] == 2 and target.width == 64
    assert status == "completed" and loss is not None and loss < 6.0


def test_proxies_at_depths_two_and_four_transfer_to_depth_eight_under_completep(tmp_path) -> None:
    spec = _spec("completep", base_depth=2, model={"depth": 2}, proxy={"depths": [2, 4]}, target={"depth": 8})
    plan, target, (status, loss) = _study(spec, tmp_path)
    assert plan.proxy["depths"] == [2, 4] and plan.target["depth"] == 8
    assert target.depth == 8 and target.base_depth == 2 and target.parametrization == "completep"
    assert status == "completed" and loss is not None and math.isfinite(loss) and loss < 6.0
