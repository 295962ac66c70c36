"""A small decoder in plain PyTorch, written as you would write it without μP in mind.

Nothing here knows about mutransfer: no special layers, no multipliers, no attributes on tensors. The token
embedding is tied to the readout. mutransfer infers each parameter's role by building the model at two
widths and applies the parametrization from outside (docs/external-models.md).
"""

import torch
import torch.nn.functional as F
from torch import nn

# Fixed: heads grow with width, so the usual 1/sqrt(head_dim) attention scale is μP's up to a constant.
HEAD_DIM = 16


class Block(nn.Module):
    def __init__(self, width: int) -> None:
        super().__init__()
        self.heads = width // HEAD_DIM
        self.norm_1 = nn.LayerNorm(width)
        self.qkv = nn.Linear(width, 3 * width, bias=False)
        self.proj = nn.Linear(width, width, bias=False)
        self.norm_2 = nn.LayerNorm(width)
        self.up = nn.Linear(width, 4 * width)
        self.down = nn.Linear(4 * width, width)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, t, c = x.shape
        q, k, v = self.qkv(self.norm_1(x)).split(c, dim=2)
        q, k, v = (z.view(b, t, self.heads, HEAD_DIM).transpose(1, 2) for z in (q, k, v))
        y = F.scaled_dot_product_attention(q, k, v, is_causal=True)
        x = x + self.proj(y.transpose(1, 2).reshape(b, t, c))
        return x + self.down(F.gelu(self.up(self.norm_2(x))))


class TinyDecoder(nn.Module):
    def __init__(self, width: int, depth: int, vocab_size: int, context_length: int) -> None:
        super().__init__()
        self.token = nn.Embedding(vocab_size, width)
        self.position = nn.Embedding(context_length, width)
        self.blocks = nn.ModuleList(Block(width) for _ in range(depth))
        self.norm = nn.LayerNorm(width)
        self.lm_head = nn.Linear(width, vocab_size, bias=False)
        self.lm_head.weight = self.token.weight  # tied embeddings

    def forward(self, idx: torch.Tensor, targets: torch.Tensor | None = None):
        positions = torch.arange(idx.shape[1], device=idx.device)
        x = self.token(idx) + self.position(positions)
        for block in self.blocks:
            x = block(x)
        logits = self.lm_head(self.norm(x))
        if targets is None:
            return logits, None
        return logits, F.cross_entropy(logits.flatten(0, 1), targets.flatten())


def build(width: int, depth: int, vocab_size: int, context_length: int) -> nn.Module:
    """The entrypoint mutransfer calls: one model per width and depth it needs."""
    return TinyDecoder(width, depth, vocab_size, context_length)
