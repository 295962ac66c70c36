"""What a trial reports: one record per optimizer step, then one final record.

Why one record type: the executor turns every record into a report (Ray Tune's
``tune.report(record.to_dict())``) and the store keeps them as rows, with no special
case for the last one; ``status`` says whether the run is still going.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any

RUNNING, COMPLETED, DIVERGED = "running", "completed", "diverged"


@dataclass
class StepMetrics:
    """One point of a trial's learning curve.

    ``step`` counts optimizer updates done (1-based); ``tokens`` the training tokens seen
    so far; ``lr`` the base (unscaled) LR times the schedule factor, i.e. the value the
    sweep tunes, not any group's absolute LR; ``grad_norm`` the global norm before
    clipping; ``val_loss`` is None on steps without an evaluation; ``wall_time`` is
    seconds since the run started (summed over resumed segments).
    The final record (``status`` completed or diverged) repeats the last step and adds
    ``final_train_loss``, ``final_val_loss`` and ``best_val_loss``.
    """

    step: int
    train_loss: float
    tokens: int
    lr: float
    grad_norm: float | None
    val_loss: float | None
    wall_time: float
    status: str = RUNNING
    best_val_loss: float | None = None
    final_train_loss: float | None = None
    final_val_loss: float | None = None

    @property
    def done(self) -> bool:
        return self.status != RUNNING

    def to_dict(self) -> dict[str, Any]:
        """A JSON-safe dict: NaN and inf become None (strict JSON and Postgres JSONB reject them;
        ``status`` already says when a run diverged)."""
        return {k: _finite_or_none(v) for k, v in asdict(self).items()}


def _finite_or_none(value: Any) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def is_diverged(loss: float, max_loss: float) -> bool:
    """A NaN/inf loss, or one above ``max_loss`` (divergence_factor x the first loss), means a blow-up."""
    return not math.isfinite(loss) or loss > max_loss
