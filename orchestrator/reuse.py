"""Reuse of finished proxy trials (docs/operations.md, "Reusing finished proxies"): a trial is identified by
a content hash of everything that determines its result, and a new sweep whose trial has the same hash as a
finished one of the same project takes that result instead of training again.

The hash covers the worker's whole `TrialConfig` for the trial (model, its code's digest, parametrization,
width, depth, every hyperparameter, the optimizer and schedule, the data, steps, batch, seed, evaluation)
except what cannot change the result (threads, checkpoint placement), plus the version of the training code
itself: a hash of every source file of `workers/` and the torch version. A change to any of them is a new
hash, so nothing stale is reused. Completed and diverged trials are reused (a diverged trial is a result);
failed, cancelled and pruned ones are not.
"""

from __future__ import annotations

import functools
import hashlib
import json
from pathlib import Path

from orchestrator.executor.interface import TrialRequest
from orchestrator.spec import SweepSpec
from orchestrator.store import SweepStore
from orchestrator.store.ingest import copy_trial
from orchestrator.trial_config import trial_config

# TrialConfig fields that cannot change a trial's result.
IGNORED = frozenset({"threads", "checkpoint_dir", "checkpoint_every", "code_path"})


@functools.cache
def code_version() -> str:
    """A hash of the training code: every source file of the `workers` package, and torch's version."""
    import torch

    import workers

    root = Path(workers.__file__).parent
    digest = hashlib.sha256(torch.__version__.encode())
    for path in sorted(root.rglob("*.py")):
        digest.update(str(path.relative_to(root)).encode())
        digest.update(path.read_bytes())
    return digest.hexdigest()


def fingerprint(spec: SweepSpec, request: TrialRequest) -> str:
    steps, batch_size = spec.trial_budget(request.tokens, request.batch_size)
    config = trial_config(
        spec,
        parametrization=request.parametrization,
        width=request.width,
        depth=request.depth,
        seed=request.seed,
        hparams=request.hparams,
        steps=steps,
        batch_size=batch_size,
    ).to_dict()
    identity = {k: v for k, v in config.items() if k not in IGNORED}
    text = json.dumps({"config": identity, "code": code_version()}, sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()


def reuse(
    store: SweepStore, sweep_id: int, spec: SweepSpec, request: TrialRequest
) -> tuple[str, float | None] | None:
    """The lifecycle's reuse lookup (bound to one sweep with `functools.partial`): `(status, objective)` of
    the identical finished trial it copied into the sweep, or None (then the executor trains it)."""
    return copy_trial(store, sweep_id, request, fingerprint(spec, request))
