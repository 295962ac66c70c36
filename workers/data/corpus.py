"""The built-in corpus ``python-stdlib``: the Python standard library's own source files.

Why this corpus: every Python installation has it, so a sweep runs offline on any
Ray node with real text (code, comments, docstrings) and no download. The file list
is deterministic for a given Python build; the tokenized array is cached on disk.
"""

from __future__ import annotations

import hashlib
import os
import sysconfig
import tempfile
import zipfile
from functools import lru_cache
from pathlib import Path

import numpy as np

from workers.data.tokenizer import TOKENIZERS, Tokenizer, build_tokenizer

BUILTIN_CORPORA = ("python-stdlib",)
CORPUS_CAP_BYTES = 4_000_000
# Tests, installed packages, codec tables and generated docs are not representative source code.
_EXCLUDED_DIRS = frozenset(
    {"test", "tests", "idle_test", "site-packages", "dist-packages", "__pycache__", "encodings", "pydoc_data"}
)
_CACHE_FORMAT = "v1"


def stdlib_files(root: Path | None = None, cap_bytes: int = CORPUS_CAP_BYTES) -> list[Path]:
    """The corpus files, sorted by path.

    When the library is larger than the cap, files are picked in the order of a hash
    of their relative path (deterministic, but spread over the whole library instead
    of the alphabetically first packages), then kept in path order.
    """
    root = Path(root or sysconfig.get_paths()["stdlib"])
    candidates = sorted(
        p
        for p in root.rglob("*.py")
        if not _EXCLUDED_DIRS.intersection(p.relative_to(root).parts[:-1]) and not p.name.startswith("test_")
    )
    if not candidates:
        raise FileNotFoundError(f"no Python source files under {root}: is the standard library installed?")
    chosen, total = [], 0
    for path in sorted(candidates, key=lambda p: hashlib.sha256(str(p.relative_to(root)).encode()).digest()):
        size = path.stat().st_size
        if total + size <= cap_bytes:
            chosen.append(path)
            total += size
    return sorted(chosen)


def cache_dir() -> Path:
    """``$MUTRANSFER_DATA_DIR/cache`` when set (shared storage on a cluster), else ``~/.cache/mutransfer``."""
    base = os.environ.get("MUTRANSFER_DATA_DIR")
    return Path(base) / "cache" if base else Path.home() / ".cache" / "mutransfer"


def corpus_key(files: list[Path], tokenizer: str) -> str:
    """Hash of the file list (path, size, mtime) and tokenizer: a changed library gives a new key."""
    h = hashlib.sha256(f"python-stdlib/{_CACHE_FORMAT}/{tokenizer}".encode())
    for path in files:
        st = path.stat()
        h.update(f"{path}\0{st.st_size}\0{st.st_mtime_ns}\n".encode())
    return h.hexdigest()[:24]


@lru_cache(maxsize=4)
def load_builtin_corpus(name: str, tokenizer: str) -> tuple[np.ndarray, Tokenizer]:
    """The token stream of a built-in corpus and its tokenizer (memoized per process, cached on disk)."""
    if name not in BUILTIN_CORPORA:
        raise ValueError(
            f"unknown dataset {name!r}: built-in corpora are {', '.join(BUILTIN_CORPORA)}; "
            "for your own data set data.path (a flat uint16/uint32 token file) instead"
        )
    if tokenizer not in TOKENIZERS:
        raise ValueError(f"unknown tokenizer {tokenizer!r}: choose one of {', '.join(TOKENIZERS)}")
    files = stdlib_files()
    path = cache_dir() / f"{name}-{tokenizer}-{corpus_key(files, tokenizer)}.npz"
    cached = _read_cache(path)
    if cached is not None:
        return cached
    text = "".join(f.read_text(encoding="utf-8", errors="replace") for f in files)
    tok = build_tokenizer(tokenizer, text)
    tokens = tok.encode(text)
    _write_cache(path, tokens, tok)
    return tokens, tok


def _read_cache(path: Path) -> tuple[np.ndarray, Tokenizer] | None:
    """A missing or unreadable cache file is a miss, never an error: the corpus is rebuilt."""
    try:
        with np.load(path) as data:
            tokens, kind, codepoints = data["tokens"], str(data["kind"]), data["codepoints"]
    except (OSError, KeyError, ValueError, EOFError, zipfile.BadZipFile):
        return None
    return tokens, Tokenizer(kind, codepoints if kind == "char" else None)


def _write_cache(path: Path, tokens: np.ndarray, tok: Tokenizer) -> None:
    """Write to a temp file then rename: concurrent trials on one node never read a half-written file."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=path.name, suffix=".tmp")
    except OSError:
        return  # a read-only home only costs the rebuild next time
    try:
        with os.fdopen(fd, "wb") as f:
            codepoints = tok.codepoints if tok.codepoints is not None else np.zeros(0, np.uint32)
            np.savez(f, tokens=tokens, kind=np.array(tok.kind), codepoints=codepoints)
        os.chmod(tmp, 0o644)  # mkstemp makes 0600; a shared MUTRANSFER_DATA_DIR must be readable by all
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
