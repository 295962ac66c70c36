"""User token files: a flat binary array of token ids (nanoGPT's ``train.bin`` format).

Memory-mapped, so a file far larger than RAM costs nothing until batches are read.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

TOKEN_DTYPES = {"uint16": np.uint16, "uint32": np.uint32}


def open_token_file(path: str | Path, dtype: str, vocab_size: int | None) -> np.memmap:
    """Validate and memory-map a token file; every error says what to fix."""
    if dtype not in TOKEN_DTYPES:
        raise ValueError(f"token_dtype {dtype!r} is not supported: use one of {', '.join(TOKEN_DTYPES)}")
    if vocab_size is None:
        raise ValueError(
            "token_file needs vocab_size: the vocabulary size of the tokenizer that wrote it "
            "(e.g. 50257 for GPT-2 BPE)"
        )
    np_dtype = np.dtype(TOKEN_DTYPES[dtype])
    if not 1 < vocab_size <= np.iinfo(np_dtype).max + 1:
        raise ValueError(
            f"vocab_size {vocab_size} does not fit token_dtype {dtype} (at most {np.iinfo(np_dtype).max + 1})"
        )
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"token_file {str(path)!r} does not exist or is not a file")
    size = path.stat().st_size
    if size == 0 or size % np_dtype.itemsize:
        raise ValueError(
            f"token_file {str(path)!r} has {size} bytes, not a whole number of {dtype} tokens "
            f"({np_dtype.itemsize} bytes each): is token_dtype right?"
        )
    return np.memmap(path, dtype=np_dtype, mode="r")
