"""How the trial summary reads each swept hyperparameter of a sweep (`orchestrator/store/summary.py`).

A grid, or a list of choices, takes a handful of values: one point per value, exact, so a grid's plot is
drawn from the very values the trials ran. A random or model-based search (TPE, CMA-ES, GP) draws
continuous values, no two alike: one point per trial would grow with the trials, so its values are counted
into `BINS` bins over the searched range, in log2 for a log-scale range (as the plot's axis is).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from orchestrator.store import HpAxis

BINS = 48


def summary_axes(spec: Mapping[str, Any]) -> list[HpAxis]:
    """The axes of a stored spec (its JSON form): one per swept hyperparameter, `lr` when none is named."""
    search = spec.get("search") or {}
    space: Mapping[str, Any] = search.get("space") or {"lr": {}}
    grid = search.get("algorithm") == "grid"
    return [_axis(name, param or {}, grid) for name, param in space.items()]


def _axis(name: str, param: Mapping[str, Any], grid: bool) -> HpAxis:
    scale = param.get("scale", "log")
    low, high = param.get("low"), param.get("high")
    log = scale == "log" or (scale == "choice" and all(c > 0 for c in param.get("choices") or []))
    continuous = scale in ("log", "linear") and _numbers(low, high) and low < high
    if grid or not continuous or (log and low <= 0):
        return HpAxis(name, log=log)
    return HpAxis(name, bins=BINS, low=float(low), high=float(high), log=log)


def _numbers(*values: Any) -> bool:
    return all(isinstance(v, int | float) and not isinstance(v, bool) for v in values)
