"""Every write of a sweep's status, checked against the one transition table (`orchestrator/status.py`).

Two kinds of write: `move` (the runner moves the sweep it holds, reading the row first) and `claim` (a
conditional UPDATE that succeeds only if the sweep is still where the caller saw it: a launch or a cancel
racing the runner). Both log the change as a `status` event in the same transaction.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from orchestrator.status import EventLevel, SweepStatus, check_transition
from orchestrator.store.errors import NotFound
from orchestrator.store.models import Sweep, SweepEvent, utcnow


def move(session: Session, sweep_id: int, status: SweepStatus, error: str | None = None) -> Sweep:
    """Move the sweep to `status` (`IllegalTransition` if the table has no such edge), stamping
    started_at/finished_at."""
    sweep = session.get(Sweep, sweep_id)
    if sweep is None:
        raise NotFound(f"sweep {sweep_id} not found")
    check_transition(sweep.status, status)
    previous = sweep.status
    now = utcnow()
    sweep.status = status.value
    if status is not SweepStatus.QUEUED and sweep.started_at is None:
        sweep.started_at = now
    if status in SweepStatus.terminal():
        sweep.finished_at = now
    if error is not None:
        sweep.error = error
    level = (
        EventLevel.ERROR if status in (SweepStatus.FAILED, SweepStatus.PREFLIGHT_FAILED) else EventLevel.INFO
    )
    session.add(_event(sweep_id, previous, status, f": {error}" if error else "", level))
    return sweep


def claim(
    session: Session, sweep_id: int, expected: Sequence[SweepStatus], status: SweepStatus, why: str = ""
) -> str | None:
    """Move the sweep to `status` only if it is in one of `expected` now (one conditional UPDATE, so two
    concurrent claims cannot both win). Returns the status it left, or None when it was elsewhere."""
    for current in expected:
        check_transition(current, status)
    previous = session.scalar(
        select(Sweep.status).where(Sweep.id == sweep_id, Sweep.status.in_([s.value for s in expected]))
    )
    if previous is None:
        return None
    now = utcnow()
    values: dict[str, Any] = {"status": status.value, "updated_at": now}
    if status in SweepStatus.terminal():
        values["finished_at"] = now
    else:  # a relaunch: the sweep is active again
        values.update(finished_at=None, error=None)
    claimed = session.execute(
        update(Sweep).where(Sweep.id == sweep_id, Sweep.status == previous).values(**values)
    )
    if not claimed.rowcount:
        return None
    session.add(_event(sweep_id, previous, status, f" ({why})" if why else "", EventLevel.INFO))
    return previous


def _event(sweep_id: int, previous: str, status: SweepStatus, suffix: str, level: EventLevel) -> SweepEvent:
    return SweepEvent(
        sweep_id=sweep_id,
        kind="status",
        level=level.value,
        message=f"status {previous} -> {status.value}{suffix}",
        data={"from": previous, "to": status.value},
    )
