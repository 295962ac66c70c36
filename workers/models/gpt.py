"""A GPT-style decoder in plain PyTorch, read top to bottom like nanoGPT's model.py.

Token + position embedding, pre-norm blocks (causal attention, MLP), final LayerNorm, readout (tied or
untied). Every μP-specific number (embedding and logit multipliers, attention scale, residual-branch
multiplier, init) is a plain float or init set once by `workers.parametrization.apply_parametrization`;
this file has no parametrization `if`s. Built through `workers.parametrization.build_model`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from workers.activations import CoordSite, Kind
from workers.models.layers import ScaledEmbedding, ScaledLinear, role_table
from workers.roles import Role


@dataclass
class GPTConfig:
    vocab_size: int
    width: int = 64
    depth: int = 2
    n_heads: int = 4
    head_dim: int = 16
    context_length: int = 64
    mlp_ratio: int = 4
    tied_embeddings: bool = False


class Embedding(nn.Module):
    """Token + position embedding: one module so its output is one recorded 'embedding' activation."""

    def __init__(self, config: GPTConfig) -> None:
        super().__init__()
        self.token = ScaledEmbedding(config.vocab_size, config.width)
        self.position = ScaledEmbedding(config.context_length, config.width)

    def forward(self, idx: torch.Tensor) -> torch.Tensor:
        positions = torch.arange(idx.shape[1], device=idx.device)
        return self.token(idx) + self.position(positions)


class CausalSelfAttention(nn.Module):
    def __init__(self, config: GPTConfig) -> None:
        super().__init__()
        inner = config.n_heads * config.head_dim
        self.n_heads, self.head_dim = config.n_heads, config.head_dim
        self.q = ScaledLinear(config.width, inner, Role.HIDDEN, zero_init="query_zero_init")
        self.k = ScaledLinear(config.width, inner, Role.HIDDEN)
        self.v = ScaledLinear(config.width, inner, Role.HIDDEN)
        self.o = ScaledLinear(inner, config.width, Role.HIDDEN)
        self.scale = 1.0 / math.sqrt(config.head_dim)  # set by the parametrization

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, t, _ = x.shape
        heads = (b, t, self.n_heads, self.head_dim)
        q, k, v = (proj(x).view(heads).transpose(1, 2) for proj in (self.q, self.k, self.v))
        y = F.scaled_dot_product_attention(q, k, v, is_causal=True, scale=self.scale)
        return self.o(y.transpose(1, 2).reshape(b, t, self.n_heads * self.head_dim))


class MLP(nn.Module):
    def __init__(self, config: GPTConfig) -> None:
        super().__init__()
        self.fc = ScaledLinear(config.width, config.mlp_ratio * config.width, Role.HIDDEN)
        self.proj = ScaledLinear(config.mlp_ratio * config.width, config.width, Role.HIDDEN)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.proj(F.gelu(self.fc(x)))


class Block(nn.Module):
    def __init__(self, config: GPTConfig) -> None:
        super().__init__()
        self.ln_1 = nn.LayerNorm(config.width)
        self.attn = CausalSelfAttention(config)
        self.ln_2 = nn.LayerNorm(config.width)
        self.mlp = MLP(config)
        self.residual_multiplier = 1.0  # (L/L_base)^-α under CompleteP, set by the parametrization

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        scale = self.residual_multiplier  # a plain float: skipping the multiply at 1.0 keeps SP's cost
        attn = self.attn(self.ln_1(x))
        x = x + (attn if scale == 1.0 else scale * attn)
        mlp = self.mlp(self.ln_2(x))
        return x + (mlp if scale == 1.0 else scale * mlp)


class GPT(nn.Module):
    def __init__(self, config: GPTConfig) -> None:
        super().__init__()
        self.config = config
        self.embedding = Embedding(config)
        self.blocks = nn.ModuleList(Block(config) for _ in range(config.depth))
        self.ln_f = nn.LayerNorm(config.width)
        self.readout = ScaledLinear(config.width, config.vocab_size, Role.OUTPUT, "readout_zero_init")
        if config.tied_embeddings:
            self.readout.weight = self.embedding.token.weight
        self.param_roles = role_table(self)

    def forward(
        self, idx: torch.Tensor, targets: torch.Tensor | None = None
    ) -> tuple[torch.Tensor, torch.Tensor | None]:
        """Logits for every position, and the mean next-token cross-entropy when targets are given."""
        if idx.shape[1] > self.config.context_length:
            limit = self.config.context_length
            raise ValueError(f"sequence of {idx.shape[1]} tokens exceeds context_length {limit}")
        x = self.embedding(idx)
        for block in self.blocks:
            x = block(x)
        logits = self.readout(self.ln_f(x))
        loss = None if targets is None else F.cross_entropy(logits.flatten(0, 1).float(), targets.flatten())
        return logits, loss

    # The kind of each block's MLP branch (the MoE family swaps in a routed one).
    mlp_kind = Kind.MLP

    def coord_modules(self) -> dict[str, CoordSite]:
        """Activations the coordinate check records. Each branch reads a LayerNorm and applies two matrices
        with width fan-in (v then o; fc then proj), the readout one (after ln_f)."""
        modules = {"embedding": CoordSite(self.embedding, "output", Kind.EMBEDDING)}
        for i, block in enumerate(self.blocks):
            modules[f"blocks.{i}.attn"] = CoordSite(block.attn, "output", Kind.ATTENTION, chain=2)
            modules[f"blocks.{i}.mlp"] = CoordSite(block.mlp, "output", self.mlp_kind, chain=2)
        modules["residual"] = CoordSite(self.ln_f, "input", Kind.RESIDUAL)
        modules["ln_f"] = CoordSite(self.ln_f, "output", Kind.NORM)
        modules["logits"] = CoordSite(self.readout, "output", Kind.LOGITS, chain=1)
        return modules
