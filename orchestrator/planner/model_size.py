"""Model size and compute, for the loss-vs-scale law and the compute budget of a plan.

N counts non-embedding parameters (Kaplan et al. 2020): the token/position embeddings and the vocabulary
readout are left out, because they grow with the vocabulary rather than the width and would bend the law at
small widths. Compute is C = 6·N·tokens (forward + backward, Kaplan's approximation).
"""

from __future__ import annotations

import functools
from collections.abc import Mapping
from typing import Any

from orchestrator.spec import ModelSpec, SweepSpec
from orchestrator.trial_config import external_fields
from workers.config import TrialConfig
from workers.external import EXTERNAL_FAMILIES
from workers.moe_config import MoEConfig


def non_embedding_params(
    width: int,
    depth: int,
    *,
    family: str = "gpt",
    mlp_ratio: int = 4,
    moe: Mapping[str, Any] | None = None,
) -> int:
    """Active non-embedding parameters of one model of the workers' families (workers/models).

    gpt: per block q, k, v, o (width² each; heads × head_dim = width), the MLP (2·mlp_ratio·width²) and two
    LayerNorms (weight and bias), plus the final LayerNorm. mlp: depth width×width layers. moe: attention as
    gpt, a width × n_experts router, and the experts a token passes through (the routed top_k plus the shared
    expert, each width → d_expert → width): the inactive experts' weights cost no compute, so they are not
    counted. `moe` is the spec's `model.moe` (None: the worker's defaults); d_expert is the worker's.
    """
    if width < 1 or depth < 1:
        raise ValueError(f"width and depth must be positive, got width={width}, depth={depth}")
    if family == "mlp":
        return depth * width * width
    norms = depth * 4 * width + 2 * width
    if family == "moe":
        config = MoEConfig.from_dict(dict(moe or {}))
        expert = 2 * width * config.expert_width(width, mlp_ratio)
        ffn = config.active_experts * expert + width * config.n_experts
        return depth * (4 * width * width + ffn) + norms
    if family != "gpt":
        raise ValueError(f"unknown model family {family!r}: choose gpt, mlp or moe")
    return depth * (4 + 2 * mlp_ratio) * width * width + norms


def params_for(model: ModelSpec, width: int, depth: int) -> int:
    """`non_embedding_params` for a spec's model section (an external model: counted on its structure)."""
    if model.family in EXTERNAL_FAMILIES:
        return _external_params(model.model_dump_json(), width, depth)
    return non_embedding_params(
        width,
        depth,
        family=model.family,
        mlp_ratio=model.mlp_ratio,
        moe=model.moe.model_dump() if model.moe is not None else None,
    )


@functools.lru_cache(maxsize=256)
def _external_params(model_json: str, width: int, depth: int) -> int:
    """An external model's non-embedding parameters at (width, depth), built on the meta device (its code must
    be unpacked on this node: the lifecycle does it before planning)."""
    from workers.external.build import non_embedding_params as count  # loads torch

    model = ModelSpec.model_validate_json(model_json)
    config = TrialConfig(
        family=model.family,
        width=width,
        depth=depth,
        base_width=width,
        base_depth=depth,
        context_length=model.context_length,
        **external_fields(model),
    )
    return count(config)


def target_tokens(spec: SweepSpec) -> int:
    """The target's token budget: its own tokens, else its steps × its batch × context, else the width
    sweep's tokens per trial."""
    if spec.target.tokens is not None:
        return spec.target.tokens
    if spec.target.steps is not None:
        return spec.target.steps * spec.target_batch() * target_model(spec).context_length
    return spec.trial_tokens(None, None)


def target_model(spec: SweepSpec) -> ModelSpec:
    return spec.target.model or spec.model


def training_flops(params: int, tokens: int) -> float:
    """C = 6·N·D (Kaplan et al. 2020, §2.1)."""
    return 6.0 * float(params) * float(tokens)
