"""A zoo of small decoders in different styles (see the package docstring). Every model maps token ids
(batch, T) to logits (batch, T, vocab)."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

HEAD = 8


class Rms(nn.Module):
    """An RMS norm whose class name says nothing about normalising."""

    def __init__(self, width: int) -> None:
        super().__init__()
        self.gain = nn.Parameter(torch.ones(width))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.gain * x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + 1e-6)


def attend(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
    b, t, w = q.shape
    split = [x.view(b, t, w // HEAD, HEAD).transpose(1, 2) for x in (q, k, v)]
    y = F.scaled_dot_product_attention(*split, is_causal=True, scale=1.0 / HEAD)
    return y.transpose(1, 2).reshape(b, t, w)


class GatedBlock(nn.Module):
    """Pre-norm block with biases in the MLP and learned scalar gates on both branches."""

    def __init__(self, width: int) -> None:
        super().__init__()
        self.n1, self.n2 = Rms(width), Rms(width)
        self.qkv = nn.Linear(width, 3 * width, bias=False)
        self.proj = nn.Linear(width, width, bias=False)
        self.fc = nn.Linear(width, 4 * width)
        self.out = nn.Linear(4 * width, width)
        self.a_attn = nn.Parameter(torch.tensor(1.0))
        self.a_mlp = nn.Parameter(torch.tensor(1.0))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        q, k, v = self.qkv(self.n1(x)).chunk(3, dim=-1)
        x = x + self.a_attn * self.proj(attend(q, k, v))
        return x + self.a_mlp * self.out(F.gelu(self.fc(self.n2(x))))


class RawDecoder(nn.Module):
    """A learned positional table as a raw (context, width) parameter added to the token embedding, a raw
    readout matrix (width, vocab) applied with `@`, custom norms, MLP biases, scalar gates."""

    def __init__(self, width: int, depth: int, vocab: int, context: int) -> None:
        super().__init__()
        self.token = nn.Embedding(vocab, width)
        self.pos = nn.Parameter(torch.randn(context, width) * 0.02)
        self.blocks = nn.ModuleList(GatedBlock(width) for _ in range(depth))
        self.norm = Rms(width)
        self.head = nn.Parameter(torch.randn(width, vocab) * width**-0.5)

    def forward(self, idx: torch.Tensor) -> torch.Tensor:
        x = self.token(idx) + self.pos[: idx.shape[1]]
        for block in self.blocks:
            x = block(x)
        return self.norm(x) @ self.head


class EinsumDecoder(nn.Module):
    """Raw (in, out) matrices used through einsum, a SwiGLU MLP, a readout tied through a module."""

    def __init__(self, width: int, depth: int, vocab: int, context: int) -> None:
        super().__init__()
        self.embed = nn.Embedding(vocab, width)
        self.layers = nn.ModuleList(SwiGLUBlock(width) for _ in range(depth))
        self.final = nn.LayerNorm(width)
        self.unembed = nn.Linear(width, vocab, bias=False)
        self.unembed.weight = self.embed.weight

    def forward(self, idx: torch.Tensor) -> torch.Tensor:
        x = self.embed(idx)
        for layer in self.layers:
            x = layer(x)
        return self.unembed(self.final(x))


class SwiGLUBlock(nn.Module):
    def __init__(self, width: int) -> None:
        super().__init__()
        hidden = 2 * width
        self.ln1, self.ln2 = nn.LayerNorm(width), nn.LayerNorm(width)
        square = (nn.Parameter(torch.randn(width, width) / width**0.5) for _ in "qkvo")
        self.wq, self.wk, self.wv, self.wo = square
        self.w_gate = nn.Parameter(torch.randn(width, hidden) / width**0.5)
        self.w_up = nn.Parameter(torch.randn(width, hidden) / width**0.5)
        self.w_down = nn.Parameter(torch.randn(hidden, width) / hidden**0.5)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.ln1(x)
        q, k, v = (torch.einsum("btd,de->bte", h, w) for w in (self.wq, self.wk, self.wv))
        x = x + torch.einsum("bte,ed->btd", attend(q, k, v), self.wo)
        h = self.ln2(x)
        gate = F.silu(torch.einsum("btd,dh->bth", h, self.w_gate))
        gated = gate * torch.einsum("btd,dh->bth", h, self.w_up)
        return x + torch.einsum("bth,hd->btd", gated, self.w_down)


class ReadoutInForward(nn.Module):
    """Tied embeddings read out in the model's own forward (`x @ E.T`): no module applies the readout."""

    def __init__(self, width: int, depth: int, vocab: int, context: int) -> None:
        super().__init__()
        self.embed = nn.Embedding(vocab, width)
        self.mix = nn.Linear(width, width)

    def forward(self, idx: torch.Tensor) -> torch.Tensor:
        return self.mix(self.embed(idx)) @ self.embed.weight.T


def raw(width: int, depth: int, vocab_size: int, context_length: int) -> nn.Module:
    return RawDecoder(width, depth, vocab_size, context_length)


def einsum(width: int, depth: int, vocab_size: int, context_length: int) -> nn.Module:
    return EinsumDecoder(width, depth, vocab_size, context_length)


class TorchEncoder(nn.Module):
    """torch's own layers: `nn.TransformerEncoder` (fused multi-head attention, whose in_proj_weight no
    `Linear` holds) and an untied `Linear` head with a bias over the vocabulary."""

    def __init__(self, width: int, depth: int, vocab: int, context: int) -> None:
        super().__init__()
        self.embed = nn.Embedding(vocab, width)
        layer = nn.TransformerEncoderLayer(width, width // HEAD, 2 * width, dropout=0.0, batch_first=True)
        self.encoder = nn.TransformerEncoder(layer, depth, enable_nested_tensor=False)
        self.head = nn.Linear(width, vocab)

    def forward(self, idx: torch.Tensor) -> torch.Tensor:
        mask = nn.Transformer.generate_square_subsequent_mask(idx.shape[1], device=idx.device)
        return self.head(self.encoder(self.embed(idx), mask=mask, is_causal=True))
