"""Byte- and char-level tokenizers: the two that need no trained vocabulary file.

Why two: byte-level (vocab 256) works on any text and any machine; char-level has a
smaller vocabulary built from the corpus itself, so small proxies learn faster.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

TOKENIZERS = ("char", "byte")


@dataclass(frozen=True)
class Tokenizer:
    """A deterministic text <-> token map.

    ``codepoints`` is the char vocabulary (sorted Unicode code points; token i is
    ``chr(codepoints[i])``); it is None for the byte tokenizer.
    """

    kind: str
    codepoints: np.ndarray | None = None

    @property
    def vocab_size(self) -> int:
        return 256 if self.codepoints is None else int(len(self.codepoints))

    def encode(self, text: str) -> np.ndarray:
        """Tokens as uint16 (both vocabularies fit; half the memory of int32)."""
        if self.codepoints is None:
            return np.frombuffer(text.encode("utf-8"), dtype=np.uint8).astype(np.uint16)
        points = _codepoints(text)
        ids = np.searchsorted(self.codepoints, points)
        ids = np.minimum(ids, len(self.codepoints) - 1)
        unknown = self.codepoints[ids] != points
        if unknown.any():
            missing = sorted({chr(p) for p in points[unknown]})[:10]
            raise ValueError(
                f"characters not in the char vocabulary: {missing!r}; use tokenizer='byte' for open text"
            )
        return ids.astype(np.uint16)

    def decode(self, tokens: np.ndarray) -> str:
        tokens = np.asarray(tokens)
        if self.codepoints is None:
            return tokens.astype(np.uint8).tobytes().decode("utf-8", errors="replace")
        return "".join(map(chr, self.codepoints[tokens.astype(np.int64)]))


def build_tokenizer(kind: str, corpus_text: str) -> Tokenizer:
    """The char vocabulary is every code point of the corpus, sorted, so it is the same on every run."""
    if kind == "byte":
        return Tokenizer("byte")
    if kind == "char":
        return Tokenizer("char", np.unique(_codepoints(corpus_text)))
    raise ValueError(f"unknown tokenizer {kind!r}: choose one of {', '.join(TOKENIZERS)}")


def _codepoints(text: str) -> np.ndarray:
    return np.frombuffer(text.encode("utf-32-le"), dtype=np.uint32)
