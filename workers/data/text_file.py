"""A user's UTF-8 text file as a token file: tokenized once (char or byte level) into the flat binary format
`token_file.py` memory-maps, so trials read it exactly as they read a nanoGPT ``train.bin``.

Why not a new dataset kind: the token-file path is already wired from the spec (`data.path`, `token_dtype`,
`vocab_size`) to every trial; tokenizing up front keeps one reader and makes the vocabulary a property of
the file (char level: every code point it contains), so no per-corpus setting is needed.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from workers.data.corpus import cache_dir
from workers.data.token_file import TOKEN_DTYPES
from workers.data.tokenizer import build_tokenizer


@dataclass(frozen=True)
class TokenizedText:
    """Where the tokens of a text file are, and what a spec's `data` section needs to read them."""

    path: Path
    token_dtype: str
    vocab_size: int
    n_tokens: int

    def data_section(self) -> dict[str, object]:
        return {"path": str(self.path), "token_dtype": self.token_dtype, "vocab_size": self.vocab_size}


def tokenize_text_file(
    path: str | Path, tokenizer: str = "char", out_dir: str | Path | None = None
) -> TokenizedText:
    """Tokenize `path` (UTF-8) into ``out_dir`` (default: the data cache), keyed by its content hash."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"text file {str(path)!r} does not exist or is not a file")
    raw = path.read_bytes()
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ValueError(
            f"{str(path)!r} is not UTF-8 text ({exc}); pass a token file with its dtype instead"
        ) from exc
    if not text:
        raise ValueError(f"text file {str(path)!r} is empty")
    tok = build_tokenizer(tokenizer, text)
    dtype = "uint16" if tok.vocab_size <= np.iinfo(np.uint16).max + 1 else "uint32"
    if tokenizer == "char" and tok.codepoints is not None and dtype == "uint32":
        ids = np.searchsorted(tok.codepoints, np.frombuffer(text.encode("utf-32-le"), dtype=np.uint32))
    else:
        ids = tok.encode(text)
    key = hashlib.sha256(raw + tokenizer.encode()).hexdigest()[:24]
    folder = Path(out_dir) if out_dir is not None else cache_dir()
    folder.mkdir(parents=True, exist_ok=True)
    target = folder / f"text-{key}-{tokenizer}.{dtype}.bin"
    if not target.is_file():
        fd, tmp = tempfile.mkstemp(dir=folder, prefix=target.name, suffix=".tmp")
        try:
            with os.fdopen(fd, "wb") as f:
                f.write(np.asarray(ids, dtype=TOKEN_DTYPES[dtype]).tobytes())
            os.replace(tmp, target)  # a concurrent reader never sees a half-written file
        finally:
            if os.path.exists(tmp):
                os.unlink(tmp)
    return TokenizedText(target, dtype, tok.vocab_size, len(ids))


def token_file_vocab(path: str | Path, dtype: str) -> int:
    """The smallest vocabulary a token file fits: its largest id + 1 (one pass over the memory map)."""
    if dtype not in TOKEN_DTYPES:
        raise ValueError(f"token dtype {dtype!r} is not supported: use one of {', '.join(TOKEN_DTYPES)}")
    tokens = np.memmap(path, dtype=TOKEN_DTYPES[dtype], mode="r")
    if tokens.size == 0:
        raise ValueError(f"token file {str(path)!r} is empty")
    return max(2, int(tokens.max()) + 1)
