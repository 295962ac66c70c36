"""A small MLP language model for fast tests: per-position next-token prediction (a bigram model with depth).

embed(token) -> depth × (width×width linear, GELU) -> readout, applied to every position independently, so
it takes the same token batches and returns the same (logits, loss) as the GPT. It has every role but
`vector` (no norms, no biases), which keeps it the cheapest model on which μP is visible.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from workers.activations import CoordSite, Kind
from workers.models.layers import ScaledEmbedding, ScaledLinear, role_table
from workers.roles import Role


@dataclass
class MLPConfig:
    vocab_size: int
    width: int = 64
    depth: int = 2
    context_length: int = 64
    tied_embeddings: bool = False


class MLPModel(nn.Module):
    def __init__(self, config: MLPConfig) -> None:
        super().__init__()
        self.config = config
        self.embedding = ScaledEmbedding(config.vocab_size, config.width)
        width = config.width
        self.layers = nn.ModuleList(ScaledLinear(width, width, Role.HIDDEN) for _ in range(config.depth))
        self.readout = ScaledLinear(width, config.vocab_size, Role.OUTPUT, "readout_zero_init")
        if config.tied_embeddings:
            self.readout.weight = self.embedding.weight
        self.param_roles = role_table(self)

    def forward(
        self, idx: torch.Tensor, targets: torch.Tensor | None = None
    ) -> tuple[torch.Tensor, torch.Tensor | None]:
        h = self.embedding(idx)
        for layer in self.layers:
            h = F.gelu(layer(h))
        logits = self.readout(h)
        loss = None if targets is None else F.cross_entropy(logits.flatten(0, 1).float(), targets.flatten())
        return logits, loss

    def coord_modules(self) -> dict[str, CoordSite]:
        """Activations the coordinate check records. No normalization: layer i's output is the i+1-th
        matrix with width fan-in after the embedding, the logits the depth+1-th."""
        modules = {"embedding": CoordSite(self.embedding, "output", Kind.EMBEDDING)}
        for i, layer in enumerate(self.layers):
            modules[f"layers.{i}"] = CoordSite(layer, "output", Kind.HIDDEN, chain=i + 1)
        modules["logits"] = CoordSite(self.readout, "output", Kind.LOGITS, chain=len(self.layers) + 1)
        return modules
