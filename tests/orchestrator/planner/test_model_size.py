"""N in the loss-vs-scale law is what the workers' MoE model computes per token: its active non-embedding
parameters (router, attention, norms, and only the experts a token passes through)."""

from __future__ import annotations

from typing import Any

import pytest
import torch

from orchestrator.planner.model_size import non_embedding_params, params_for
from orchestrator.spec import ModelSpec
from workers.config import TrialConfig
from workers.models import make_model
from workers.roles import Role

VOCAB = 100


def active_non_embedding(model: torch.nn.Module, top_k: int) -> int:
    """Count the real model: every non-embedding weight, but of each routed expert stack (n_experts, ·, ·)
    only the top_k experts a token uses; the shared expert is always active."""
    total = 0
    for name, p in model.named_parameters():
        if model.param_roles[name] in (Role.INPUT, Role.OUTPUT):
            continue
        routed = ".mlp.experts." in name
        total += p.numel() * top_k // p.shape[0] if routed else p.numel()
    return total


MOE_CASES = [
    (32, 2, {"n_experts": 4, "top_k": 2}),
    (48, 3, {"n_experts": 8, "top_k": 1, "shared_expert": True}),
    (64, 2, {"n_experts": 4, "top_k": 2, "shared_expert": True, "d_expert": 24}),
    (64, 1, {"n_experts": 6, "top_k": 3, "shared_expert": True, "bridge": "none"}),
]


@pytest.mark.parametrize("width, depth, moe", MOE_CASES, ids=[str(c[2]) for c in MOE_CASES])
def test_moe_parameter_count_matches_the_workers_model(width: int, depth: int, moe: dict[str, Any]) -> None:
    config = TrialConfig(family="moe", width=width, depth=depth, head_dim=16, base_width=16, moe=moe)
    with torch.device("meta"):
        model = make_model(config, VOCAB)
    counted = active_non_embedding(model, moe["top_k"])
    spec_model = ModelSpec(family="moe", depth=depth, moe=moe)
    assert params_for(spec_model, width, depth) == counted
    assert non_embedding_params(width, depth, family="moe", moe=moe) == counted


def test_the_shared_expert_is_counted_and_shrinks_the_default_expert_width() -> None:
    """With a shared expert the default d_expert splits the dense FFN among top_k + 1 experts, so the
    active FFN stays the dense one's size; only the router differs from the dense GPT."""
    width, depth = 48, 2
    dense = non_embedding_params(width, depth, family="gpt")
    for moe in ({"n_experts": 8, "top_k": 2, "shared_expert": True}, {"n_experts": 8, "top_k": 3}):
        assert non_embedding_params(width, depth, family="moe", moe=moe) == dense + depth * width * 8
