"""Model families: `gpt` (the decoder proxies and targets), `moe` (the GPT with Mixture-of-Experts MLPs) and
`mlp` (a per-position MLP for fast tests).

`make_model(config, vocab_size)` returns the structure; `workers.parametrization.build_model` the ready
model (init and forward multipliers from the parametrization, which reads the structure: models come
first). Every model's forward is `forward(idx, targets=None) -> (logits, loss)` like nanoGPT (logits for
every position), it keeps `param_roles` (name -> role) and lists the activations the coordinate check
records in `coord_modules()`.
"""

from __future__ import annotations

from torch import nn

from workers.config import TrialConfig
from workers.models.gpt import GPT, GPTConfig
from workers.models.mlp import MLPConfig, MLPModel
from workers.models.moe import MoEConfig, MoEGPT

FAMILIES = ("gpt", "mlp", "moe")


def attention_shape(config: TrialConfig) -> tuple[int, int, int]:
    """(n_heads, head_dim, head_dim at the base width). `n_heads` given: heads fixed and head_dim grows with
    width (μP's 1/d_head then matters); otherwise head_dim fixed and heads grow."""
    if config.n_heads is not None:
        if config.n_heads < 1 or config.width % config.n_heads or config.base_width % config.n_heads:
            raise ValueError(
                f"width {config.width} and base_width {config.base_width} must be multiples of "
                f"n_heads {config.n_heads}"
            )
        return config.n_heads, config.width // config.n_heads, config.base_width // config.n_heads
    if config.head_dim is None or config.head_dim < 1 or config.width % config.head_dim:
        raise ValueError(f"width {config.width} is not a multiple of head_dim {config.head_dim}")
    return config.width // config.head_dim, config.head_dim, config.head_dim


def make_model(config: TrialConfig, vocab_size: int) -> nn.Module:
    """The bare structure (no init, multipliers 1): what `workers.parametrization.build_model` and
    `resolve_table` start from."""
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


__all__ = [
    "FAMILIES",
    "GPT",
    "GPTConfig",
    "MLPConfig",
    "MLPModel",
    "MoEConfig",
    "MoEGPT",
    "attention_shape",
    "make_model",
]
