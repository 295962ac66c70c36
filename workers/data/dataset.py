"""A token stream split into train/validation, with a seeded, stateless batch sampler."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from workers.data.tokenizer import Tokenizer

VAL_FRACTION = 0.1
_TRAIN_STREAM, _VAL_STREAM = 0, 1


@dataclass
class TokenDataset:
    """Train and validation token arrays (the validation split is the last 10 % of the stream).

    Why a tail split and not random documents: it is deterministic, needs no index,
    and works the same for the built-in corpus and for memory-mapped user files.
    """

    train: np.ndarray
    val: np.ndarray
    vocab_size: int
    tokenizer: Tokenizer | None = None  # None for user token files

    @classmethod
    def from_stream(
        cls, tokens: np.ndarray, vocab_size: int, tokenizer: Tokenizer | None = None
    ) -> TokenDataset:
        cut = len(tokens) - int(len(tokens) * VAL_FRACTION)
        return cls(tokens[:cut], tokens[cut:], vocab_size, tokenizer)

    def check_context(self, context_length: int) -> None:
        shortest = min(len(self.train), len(self.val))
        if shortest < context_length + 1:
            raise ValueError(
                f"the data has {len(self.train)} train / {len(self.val)} validation tokens, fewer than "
                f"context_length + 1 = {context_length + 1}: use more data or a shorter context_length"
            )

    def batch(
        self, split: str, batch_size: int, context_length: int, seed: int, index: int
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Batch number ``index`` of a split: random windows of context_length + 1 tokens.

        The windows depend only on (seed, split, index), so a resumed run draws exactly
        the batches an uninterrupted one would, with no sampler state to save.
        """
        if split not in ("train", "val"):
            raise ValueError(f"split {split!r} is not 'train' or 'val'")
        data = self.train if split == "train" else self.val
        stream = _TRAIN_STREAM if split == "train" else _VAL_STREAM
        rng = np.random.default_rng([seed, stream, index])
        starts = rng.integers(0, len(data) - context_length, size=batch_size)
        windows = np.stack([np.asarray(data[s : s + context_length + 1]) for s in starts]).astype(np.int64)
        too_big = int(windows.max())
        if too_big >= self.vocab_size:
            raise ValueError(
                f"token id {too_big} in the {split} data is >= vocab_size {self.vocab_size}: "
                "is vocab_size (or token_dtype) right for this token file?"
            )
        tensor = torch.from_numpy(windows)
        return tensor[:, :-1], tensor[:, 1:]

    def unigram_entropy(self) -> float:
        """Entropy (nats) of the train split's token frequencies: the best loss without context."""
        counts = np.bincount(np.asarray(self.train, dtype=np.int64), minlength=self.vocab_size)
        p = counts[counts > 0] / counts.sum()
        return float(-(p * np.log(p)).sum())
