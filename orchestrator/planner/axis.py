"""The coordinate a hyperparameter is fitted in: log2 for log-scale ranges (η, σ, multipliers), the value
itself for linear ones (warmup fraction). Every fit works in this coordinate `u`; plans report HP units."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from orchestrator.spec import SearchParam


@dataclass(frozen=True)
class HPAxis:
    name: str
    log: bool
    low: float | None = None  # the searched range, HP units (None: take it from the data)
    high: float | None = None

    @classmethod
    def from_search_param(cls, name: str, param: SearchParam) -> HPAxis:
        """Log-scale and all-positive choice lists are fitted in log2; linear ones as they are."""
        if param.scale == "choice":
            choices = [float(c) for c in param.choices or []]
            positive = bool(choices) and min(choices) > 0
            return cls(name, positive, min(choices, default=None), max(choices, default=None))
        return cls(name, param.scale == "log", param.low, param.high)

    def to_u(self, values: np.ndarray) -> np.ndarray:
        """HP values → fit coordinate; invalid values (≤ 0 on a log axis, NaN) become NaN."""
        values = np.asarray(values, dtype=float)
        if not self.log:
            return np.where(np.isfinite(values), values, np.nan)
        with np.errstate(divide="ignore", invalid="ignore"):
            return np.where(
                (values > 0) & np.isfinite(values), np.log2(np.where(values > 0, values, 1.0)), np.nan
            )

    def from_u(self, u: float | None) -> float | None:
        if u is None or not math.isfinite(u):
            return None
        if not self.log:
            return float(u)
        return float(2.0**u) if u < 1000 else None

    def searched_u(self, sampled_u: np.ndarray) -> tuple[float, float]:
        """The searched range in u: the spec's bounds where known, widened to cover every sampled point."""
        lo = float(np.min(sampled_u))
        hi = float(np.max(sampled_u))
        if self.low is not None and self.high is not None:
            bounds = self.to_u(np.array([self.low, self.high]))
            if np.all(np.isfinite(bounds)):
                lo, hi = min(lo, float(bounds[0])), max(hi, float(bounds[1]))
        return lo, hi
