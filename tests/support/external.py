"""External models for tests, written into a temporary directory outside the repository, as a user's
would be: a small decoder in plain PyTorch with tied embeddings, and a `transformers` Llama config."""

from __future__ import annotations

from pathlib import Path
from typing import Any

DECODER = """
import torch
import torch.nn.functional as F
from torch import nn

HEAD_DIM = 8


class Block(nn.Module):
    def __init__(self, width):
        super().__init__()
        self.heads = width // HEAD_DIM
        self.norm_1 = nn.LayerNorm(width)
        self.qkv = nn.Linear(width, 3 * width, bias=False)
        self.proj = nn.Linear(width, width, bias=False)
        self.norm_2 = nn.LayerNorm(width)
        self.up = nn.Linear(width, 4 * width)
        self.down = nn.Linear(4 * width, width)

    def forward(self, x):
        b, t, c = x.shape
        q, k, v = self.qkv(self.norm_1(x)).split(c, dim=2)
        q, k, v = (z.view(b, t, self.heads, HEAD_DIM).transpose(1, 2) for z in (q, k, v))
        y = F.scaled_dot_product_attention(q, k, v, is_causal=True)
        x = x + self.proj(y.transpose(1, 2).reshape(b, t, c))
        return x + self.down(F.gelu(self.up(self.norm_2(x))))


class Decoder(nn.Module):
    def __init__(self, width, depth, vocab_size, context_length):
        super().__init__()
        self.token = nn.Embedding(vocab_size, width)
        self.position = nn.Embedding(context_length, width)
        self.blocks = nn.ModuleList(Block(width) for _ in range(depth))
        self.norm = nn.LayerNorm(width)
        self.lm_head = nn.Linear(width, vocab_size, bias=False)
        self.lm_head.weight = self.token.weight

    def forward(self, idx, targets=None):
        x = self.token(idx) + self.position(torch.arange(idx.shape[1]))
        for block in self.blocks:
            x = block(x)
        logits = self.lm_head(self.norm(x))
        loss = None if targets is None else F.cross_entropy(logits.flatten(0, 1), targets.flatten())
        return logits, loss


def build(width, depth, vocab_size, context_length):
    return Decoder(width, depth, vocab_size, context_length)
"""

ENTRYPOINT = "tinydec.model:build"

LLAMA: dict[str, Any] = {
    "model_type": "llama",
    "hidden_size": 32,
    "num_attention_heads": 4,  # head size 8
    "num_key_value_heads": 2,
    "intermediate_size": 86,
}


def write_decoder(root: Path, source: str = DECODER) -> Path:
    """`root/tinydec/model.py` holding `source`; returns `root` (the --code directory)."""
    package = root / "tinydec"
    package.mkdir(parents=True, exist_ok=True)
    (package / "__init__.py").write_text("")
    (package / "model.py").write_text(source)
    return root
