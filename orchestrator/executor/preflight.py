"""Preflight: the coordinate check of one parametrization, run as a Ray task before any proxy trial.

Every parametrization is checked, SP included: the check judges each by its own predicted slopes
(docs/coordinate-check.md), so SP passes by growing where SP predicts growth, and a sweep stops before its
proxies when an implementation misses its parametrization's claim. It runs on a Ray worker (not in the API
process) because it trains a few steps at several widths. The check itself is
`workers.coord_check.coord_check`; this module only adapts the sweep spec to it and its result to a
`PreflightOutcome`.
"""

from __future__ import annotations

import math
from typing import Any

from orchestrator.executor.interface import PreflightOutcome
from orchestrator.executor.trainable import with_code
from orchestrator.spec import SweepSpec, preflight_widths
from orchestrator.trial_config import trial_config


def _coord_check_task(
    config: dict[str, Any], parametrization: str, widths: list[int], code: bytes | None = None
) -> dict[str, Any]:
    """Runs on a Ray worker: the coordinate check over `widths` (its defaults: a few steps at a large LR
    on a small fixed batch, docs/coordinate-check.md), as its JSON-able report."""
    import torch

    from workers.config import TrialConfig
    from workers.coord_check import coord_check

    if config.get("threads"):
        torch.set_num_threads(int(config["threads"]))
    config = with_code(config, code)
    return coord_check(
        TrialConfig.from_dict(config), parametrization=parametrization, widths=widths
    ).to_dict()


def run_preflight(spec: SweepSpec, parametrization: str, code: bytes | None = None) -> PreflightOutcome:
    """The coordinate check of `parametrization` as a Ray task; the caller has started Ray."""
    import ray

    base = trial_config(
        spec,
        parametrization=parametrization,
        width=spec.base_width,
        depth=spec.depths()[0],
        seed=spec.proxy.seeds[0],
        hparams={},
        threads=max(1, int(spec.resources.cpus_per_trial)),
    )
    task = ray.remote(num_cpus=spec.resources.cpus_per_trial)(_coord_check_task)
    report = ray.get(task.remote(base.to_dict(), parametrization, preflight_widths(spec), code))
    passed = bool(report.get("passed", False))
    failing = report.get("failing", [])
    modules = sorted({str(f.get("module", f)) if isinstance(f, dict) else str(f) for f in failing})
    worst = max(failing, key=_miss, default=None)
    detail = describe_failure(worst) if isinstance(worst, dict) else ""
    return PreflightOutcome(parametrization, passed, modules, _json_safe(report), detail)


def _miss(failure: Any) -> float:
    """How far a failing slope is from its prediction (a non-finite one: infinitely far)."""
    if not isinstance(failure, dict):
        return 0.0
    measured, predicted = failure.get("measured"), failure.get("predicted")
    if not isinstance(measured, int | float) or not isinstance(predicted, int | float):
        return math.inf
    return abs(measured - predicted)


def describe_failure(failure: dict[str, Any]) -> str:
    """One failing slope in words: 'blocks.0.mlp delta_rms at step 2: slope +0.98, predicted +0.00 ± 0.15'."""
    measured, predicted = failure.get("measured"), failure.get("predicted")
    shown = f"{measured:+.2f}" if isinstance(measured, int | float) else "not finite (diverged)"
    expected = f"{predicted:+.2f}" if isinstance(predicted, int | float) else "?"
    between = failure.get("between")
    where = f" from {between[0]} to {between[1]}" if isinstance(between, list) and len(between) == 2 else ""
    return (
        f"{failure.get('module')} {failure.get('stat')} at step {failure.get('step')}: slope{where} {shown}, "
        f"predicted {expected} ± {failure.get('tolerance')}"
    )


def _json_safe(value: Any) -> Any:
    """NaN/inf become None so the report can be stored as JSON on every database."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {str(k): _json_safe(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_json_safe(v) for v in value]
    return value
