"""Model families: `gpt` (the decoder proxies and targets), `moe` (the GPT with Mixture-of-Experts MLPs) and
`mlp` (a per-position MLP for fast tests).

`build_model(config, vocab_size)` returns a ready model: structure from the config, then init and forward
multipliers from the parametrization. Every model's forward is `forward(idx, targets=None) -> (logits,
loss)` like nanoGPT (logits for every position), it keeps `param_roles` (name -> role) and lists the
activations the coordinate check records in `coord_modules()`.
"""

from __future__ import annotations

from torch import nn

from workers.config import TrialConfig
from workers.models.gpt import GPT, GPTConfig
from workers.models.mlp import MLPConfig, MLPModel
from workers.models.moe import MoEConfig, MoEGPT

FAMILIES = ("gpt", "mlp", "moe")


def make_model(config: TrialConfig, vocab_size: int) -> nn.Module:
    """The bare structure (no init, multipliers 1): what `build_model` and `resolve_table` start from."""
    from workers.parametrization import attention_shape

    if vocab_size < 2:
        raise ValueError(f"vocab_size must be >= 2, got {vocab_size}")
    if config.family in ("gpt", "moe"):
        n_heads, head_dim, _ = attention_shape(config)
        gpt = GPTConfig(
            vocab_size,
            config.width,
            config.depth,
            n_heads,
            head_dim,
            config.context_length,
            config.mlp_ratio,
            config.tied_embeddings,
        )
        if config.family == "moe":
            return MoEGPT(gpt, config.base_width, MoEConfig.from_dict(config.moe))
        return GPT(gpt)
    if config.family == "mlp":
        return MLPModel(
            MLPConfig(vocab_size, config.width, config.depth, config.context_length, config.tied_embeddings)
        )
    raise ValueError(f"unknown model family {config.family!r}; this build knows {list(FAMILIES)}")


def build_model(config: TrialConfig, vocab_size: int) -> nn.Module:
    """A model initialized (seeded by config.seed) and scaled by config.parametrization, on the CPU."""
    from workers.parametrization import apply_parametrization

    return apply_parametrization(make_model(config, vocab_size), config)


__all__ = [
    "FAMILIES",
    "GPT",
    "GPTConfig",
    "MLPConfig",
    "MLPModel",
    "MoEConfig",
    "MoEGPT",
    "build_model",
    "make_model",
]
