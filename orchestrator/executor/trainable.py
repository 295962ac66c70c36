"""The Tune function trainable: runs a trial function on a Ray worker and reports every record.

It imports only `workers/` at run time (GPU nodes need neither the DB nor the API), and it is the only
code that touches `ray.tune.report`. The trial function is named by an import path
(`module:function`, default `workers.train:train`) so benchmarks can swap in a trivial one.
"""

from __future__ import annotations

import importlib
import math
from collections.abc import Callable, Iterable
from typing import Any

from orchestrator.executor.interface import diverged_loss

DEFAULT_TRIAL_FN = "workers.train:train"


def resolve_trial_fn(path: str) -> Callable[[Any], Iterable[Any]]:
    """Import `module:function`; errors name the path so a typo in a setting is easy to find."""
    module_name, _, attr = path.partition(":")
    if not module_name or not attr:
        raise ValueError(f"trial function {path!r} must look like 'package.module:function'")
    try:
        return getattr(importlib.import_module(module_name), attr)  # type: ignore[no-any-return]
    except (ImportError, AttributeError) as exc:
        raise ValueError(f"cannot import trial function {path!r}: {exc}") from exc


def to_report(record: dict[str, Any], initial_loss: float | None, factor: float) -> dict[str, Any]:
    """Add the two metrics the executor needs to a worker record: `loss` (per step, for ASHA; never
    missing, Tune requires the scheduler's metric in every result) and, on the final record, `objective`
    (what Optuna minimizes: final validation loss, else final train loss)."""
    penalty = diverged_loss(initial_loss, factor)
    loss = record.get("train_loss")
    out = dict(record)
    out["loss"] = float(loss) if loss is not None and math.isfinite(loss) else penalty
    status = record.get("status")
    if status == "diverged":
        out["loss"] = max(out["loss"], penalty)
        out["objective"] = penalty
    elif status == "completed":
        final = record.get("final_val_loss")
        if final is None:
            final = record.get("final_train_loss")
        out["objective"] = float(final) if final is not None and math.isfinite(final) else penalty
    return out


# The per-trial part of a TrialConfig: everything else is the same for every trial of a sweep.
PER_TRIAL_FIELDS = ("parametrization", "width", "depth", "seed", "steps", "batch_size")


def per_trial(
    parametrization: str,
    width: int,
    depth: int,
    seed: int,
    hparams: dict[str, float],
    budget: tuple[int, int],
) -> dict[str, Any]:
    """The Tune config of one trial: only what differs between trials, `budget` its (steps, batch size).
    The sweep-wide base travels once through the object store (`tune.with_parameters`), so Tune's
    per-trial state and every result dict (which embeds the config) stay small."""
    steps, batch_size = budget
    return {
        "parametrization": parametrization,
        "width": width,
        "depth": depth,
        "seed": seed,
        "steps": steps,
        "batch_size": batch_size,
        "hparams": hparams,
    }


def build_config(base: dict[str, Any], overrides: dict[str, Any]) -> Any:
    """The trial's TrialConfig: the sweep's base with this trial's fields and sampled values."""
    from workers.config import TrialConfig, hparam_fields

    values = {
        **base,
        **{k: overrides[k] for k in PER_TRIAL_FIELDS if k in overrides},
        **hparam_fields(overrides.get("hparams", {})),
    }
    return TrialConfig.from_dict(values)


def with_code(config: dict[str, Any], code: bytes | None) -> dict[str, Any]:
    """`config` with `code_path` set to this node's copy of the sweep's code archive (unpacked once per node
    and digest, after checking the bytes hash to `config["code"]`); unchanged when the sweep has no code.

    The archive reaches a trial through Ray's object store (`tune.with_parameters`, a task argument), the
    one channel Tune gives every trial of one sweep on any node: a runtime environment is per job, and one
    service runs many sweeps with different code on one Ray connection."""
    if not code or not config.get("code"):
        return config
    from workers.code_archive import install

    return {**config, "code_path": install(code, config["code"])}


def run_trial(
    config: dict[str, Any],
    base: dict[str, Any],
    trial_fn: str = DEFAULT_TRIAL_FN,
    code: bytes | None = None,
) -> None:
    """Tune entry point. `config` holds this trial's fields (`trial`, see `per_trial`) and bookkeeping
    keys the driver reads back (`trial_key`, `search_key`); `base` is the sweep-wide TrialConfig dict,
    `code` the sweep's model code archive (external models only)."""
    import ray
    from ray import tune

    base = with_code(base, code)
    run = resolve_trial_fn(trial_fn)
    trial = build_config(base, config["trial"])
    node_id = ray.get_runtime_context().get_node_id()
    initial_loss: float | None = None
    for item in run(trial):
        record = item.to_dict() if hasattr(item, "to_dict") else dict(item)
        loss = record.get("train_loss")
        if initial_loss is None and loss is not None and math.isfinite(loss):
            initial_loss = float(loss)
        report = to_report(record, initial_loss, trial.divergence_factor)
        report["node_id"] = node_id
        tune.report(report)
