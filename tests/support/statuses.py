"""Put a stored sweep into any status by the table's own edges, as the lifecycle would walk there."""

from __future__ import annotations

from collections import deque

from orchestrator.status import SWEEP_TRANSITIONS, SweepStatus
from orchestrator.store import Sweep, SweepStore


def path(start: SweepStatus | str, goal: SweepStatus | str) -> list[SweepStatus]:
    """The shortest list of moves from `start` to `goal` in `SWEEP_TRANSITIONS` (empty when equal)."""
    start, goal = SweepStatus(start), SweepStatus(goal)
    previous: dict[SweepStatus, SweepStatus | None] = {start: None}
    queue = deque([start])
    while queue:
        here = queue.popleft()
        for there in sorted(SWEEP_TRANSITIONS[here]):
            if there not in previous:
                previous[there] = here
                queue.append(there)
    if goal not in previous:
        raise ValueError(f"{goal} cannot be reached from {start}")
    moves: list[SweepStatus] = []
    at: SweepStatus | None = goal
    while at is not None and at != start:
        moves.append(at)
        at = previous[at]
    return moves[::-1]


def move_to(store: SweepStore, sweep_id: int, goal: SweepStatus | str, error: str | None = None) -> Sweep:
    """Walk the sweep to `goal` through allowed transitions (each one logged, as in a real run)."""
    sweep = store.get_sweep(sweep_id)
    for status in path(sweep.status, goal):
        sweep = store.set_sweep_status(sweep_id, status, error=error if status == SweepStatus(goal) else None)
    return sweep
