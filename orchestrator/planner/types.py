"""The planner's inputs and shared result pieces: plain dataclasses, so the planner needs no store or Ray.

The store glue converts each trial row into a `TrialResult`; every fit reads only these.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class TrialResult:
    """One finished proxy trial, as the planner sees it.

    `hparams` holds the swept values (base values, before the parametrization resolves them per layer).
    A trial counts as diverged when `diverged` is set, its status is "diverged", or its loss is NaN/inf.
    Only completed and diverged trials enter the fits: a pruned (early-stopped) trial's loss is from fewer
    steps and would look worse than the configuration is.
    `steps` is how many steps it actually ran (None: the spec's budget), used only to count proxy compute.
    `tokens` and `batch_size` are set on a token or batch scan's trial (docs/planner.md, "Horizon and batch
    size"); the width and depth laws read only the base trials.
    """

    parametrization: str
    width: int
    depth: int
    seed: int
    hparams: dict[str, float]
    final_loss: float | None
    diverged: bool = False
    status: str = "completed"
    steps: int | None = None
    tokens: int | None = None  # a token scan's budget per run; None: the width sweep's (base) budget
    batch_size: int | None = None  # a batch scan's batch size; None: the base batch size
    tokens_trained: int | None = None  # tokens the run trained on, when known apart from the spec (imported)

    @classmethod
    def from_record(cls, row: Any) -> TrialResult:
        """From any object with the store's `Trial` columns (duck-typed, so the planner imports no store).

        The validation loss is preferred where recorded: it is the loss a target run is judged by. Non-numeric
        HP values are dropped (they cannot be fitted).
        """
        val = getattr(row, "final_val_loss", None)
        hparams = {k: float(v) for k, v in (row.hparams or {}).items() if isinstance(v, int | float)}
        return cls(
            parametrization=row.parametrization,
            width=int(row.width),
            depth=int(row.depth),
            seed=int(row.seed or 0),
            hparams=hparams,
            final_loss=val if val is not None else row.final_loss,
            diverged=bool(getattr(row, "diverged", False)),
            status=str(row.status),
            steps=getattr(row, "steps_done", None) or None,
            tokens=getattr(row, "tokens", None),
            batch_size=getattr(row, "batch_size", None),
        )

    @property
    def is_base(self) -> bool:
        """Whether the trial belongs to the width sweep (the base budget), not to a token or batch scan."""
        return self.tokens is None and self.batch_size is None

    @property
    def is_diverged(self) -> bool:
        loss = self.final_loss
        return self.diverged or self.status == "diverged" or (loss is not None and not math.isfinite(loss))

    @property
    def is_usable(self) -> bool:
        """Completed with a finite loss, or diverged (diverged trials bound the range)."""
        if self.is_diverged:
            return True
        return self.status == "completed" and self.final_loss is not None


@dataclass(frozen=True)
class PlanWarning:
    """Something a user must know about a fit: a stable `code` for programs and a sentence for people."""

    code: str
    message: str
    parametrization: str | None = None
    hparam: str | None = None
    scale: float | None = None

    def to_dict(self) -> dict[str, Any]:
        return {k: v for k, v in self.__dict__.items() if v is not None}


@dataclass(frozen=True)
class Interval:
    """A point estimate with a two-sided interval (`level`, e.g. 0.9); bounds may be None when unknown."""

    value: float | None
    low: float | None
    high: float | None
    level: float

    def contains(self, x: float) -> bool:
        """False when a bound is unknown: an interval nobody could compute covers nothing."""
        if self.low is None or self.high is None:
            return False
        return self.low <= x <= self.high
