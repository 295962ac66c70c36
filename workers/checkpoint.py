"""Atomic checkpoints of a training run, so a long target run survives a lost node.

A checkpoint is one file ``checkpoint-<step>.pt`` written to a temp name and renamed:
a crash mid-write leaves the previous checkpoint intact, never a torn file. The newest
readable one wins on resume; the two newest are kept.
"""

from __future__ import annotations

import json
import os
import re
import tempfile
from pathlib import Path
from typing import Any

import torch

from workers.config import TrialConfig

KEEP = 2
_NAME = re.compile(r"^checkpoint-(\d+)\.pt$")
# Settings that may change between a run and its resumption: they do not change what is trained.
RUNTIME_FIELDS = frozenset(
    {
        "device",
        "compile",
        "threads",
        "checkpoint_dir",
        "code_path",  # where this node unpacked the code; `code` (its digest) is what was trained
        "checkpoint_every",
        "eval_every",
        "eval_batches",
        "divergence_factor",
        "extra",
    }
)


def save_checkpoint(directory: str | Path, step: int, state: dict[str, Any]) -> Path:
    """Write ``state`` for ``step`` atomically and prune all but the ``KEEP`` newest checkpoints."""
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    target = directory / f"checkpoint-{step:08d}.pt"
    fd, tmp = tempfile.mkstemp(dir=directory, prefix=target.name, suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            torch.save(state, f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, target)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
    for _, old in _checkpoints(directory)[KEEP:]:
        old.unlink(missing_ok=True)
    return target


def load_latest_checkpoint(directory: str | Path) -> dict[str, Any] | None:
    """The newest checkpoint that loads, or None when there is none (a fresh run)."""
    for _, path in _checkpoints(Path(directory)):
        try:
            return torch.load(path, map_location="cpu", weights_only=True)
        except (OSError, RuntimeError, EOFError):
            continue  # unreadable (e.g. disk full while copying): fall back to the previous one
    return None


# Worker-config fields renamed to the spec's words: old name -> new name.
RENAMED = {"warmup": "warmup_fraction", "token_file": "data_path"}


def config_fingerprint(config: TrialConfig) -> str:
    """The settings that define the run, as JSON, stored in each checkpoint to refuse a mismatched resume."""
    defining = {k: v for k, v in config.to_dict().items() if k not in RUNTIME_FIELDS}
    return json.dumps(defining, sort_keys=True, default=str)


def check_resumable(saved_fingerprint: str, config: TrialConfig, directory: str | Path) -> None:
    """Raise when the checkpoint belongs to a different run than ``config`` describes. A checkpoint written
    before fields were renamed is read under the new names (`RENAMED`), so an interrupted run survives the
    upgrade."""
    saved, current = json.loads(saved_fingerprint), json.loads(config_fingerprint(config))
    for old, new in RENAMED.items():
        if old in saved:
            saved[new] = saved.pop(old)
    saved.pop("extra", None)  # an unused field, removed
    changed = sorted(k for k in saved.keys() | current.keys() if saved.get(k) != current.get(k))
    if changed:
        detail = ", ".join(f"{k}: {saved.get(k)!r} -> {current.get(k)!r}" for k in changed)
        raise ValueError(
            f"the checkpoint in {str(directory)!r} was written by a run with different settings ({detail}); "
            "use a new checkpoint_dir for a new run, or restore the original settings to resume"
        )


def _checkpoints(directory: Path) -> list[tuple[int, Path]]:
    """Checkpoints newest first."""
    if not directory.is_dir():
        return []
    found = [(int(m.group(1)), p) for p in directory.iterdir() if (m := _NAME.match(p.name))]
    return sorted(found, reverse=True)
