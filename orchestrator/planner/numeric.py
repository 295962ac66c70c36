"""Small numeric helpers shared by the fits: NaN-proof JSON, percentile intervals."""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np


def finite(x: float | None) -> float | None:
    """None for None/NaN/inf, else a plain float: JSON has no NaN, and the store rejects it."""
    if x is None:
        return None
    x = float(x)
    return x if math.isfinite(x) else None


def json_safe(obj: Any) -> Any:
    """Turn dataclasses, numpy scalars/arrays, tuples and non-finite floats into plain JSON values."""
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        to_dict = getattr(obj, "to_dict", None)
        if callable(to_dict):
            return json_safe(to_dict())
        return {f.name: json_safe(getattr(obj, f.name)) for f in dataclasses.fields(obj) if f.repr}
    if isinstance(obj, Mapping):
        return {str(k): json_safe(v) for k, v in obj.items()}
    if isinstance(obj, np.ndarray):
        return [json_safe(v) for v in obj.tolist()]
    if isinstance(obj, (bool, np.bool_)):
        return bool(obj)
    if isinstance(obj, (int, np.integer)):
        return int(obj)
    if isinstance(obj, (float, np.floating)):
        return finite(float(obj))
    if isinstance(obj, str) or obj is None:
        return obj
    if isinstance(obj, Sequence):
        return [json_safe(v) for v in obj]
    raise TypeError(f"cannot put a {type(obj).__name__} into a plan: convert it to numbers or strings first")


def percentile_interval(draws: np.ndarray, level: float) -> tuple[float | None, float | None]:
    """The central `level` interval of the finite draws (None, None when there are none)."""
    draws = np.asarray(draws, dtype=float)
    draws = draws[np.isfinite(draws)]
    if draws.size == 0:
        return None, None
    tail = (1.0 - level) / 2.0 * 100.0
    low, high = np.percentile(draws, [tail, 100.0 - tail])
    return float(low), float(high)


def rng_from(seed: int | np.random.Generator | None) -> np.random.Generator:
    """Fits are deterministic by default (seed 0), so a re-plan of the same trials gives the same plan."""
    if isinstance(seed, np.random.Generator):
        return seed
    return np.random.default_rng(0 if seed is None else seed)
