"""The states of a sweep, a trial and a target run, and the one table of the sweep's allowed moves.

A sweep's life (`orchestrator/lifecycle.py` walks it top to bottom):

    queued -> preflight -> running -> planning -> target_running -> completed
                  |           |          |--> awaiting_approval --(launch)--> target_running
                  |           |          `--> completed (the plan is the result: nothing to launch)
                  `--> preflight_failed
    any active state -> failed (an error) | cancelled (a cancel request)
    imported (a study of runs a team already had: created so, never moves)
    completed | failed --(launch)--> target_running (a target relaunched through the API)

`SWEEP_TRANSITIONS` is that picture as data. The store checks every status write against it
(`check_transition`), so a move the table does not hold is an error wherever it is attempted. A state
with no automatic way out is *terminal*: the runner never leaves it, the CLI stops waiting there; only an
explicit launch (`LAUNCHABLE`) moves a completed or failed sweep on. A service that dies mid-sweep finds it
in an active state at the next start and resumes it in that same state: resuming is not a move.

Statuses are stored as plain strings (adding a state needs no migration); these enums are their one
spelling. The table in words: docs/architecture.md, "The status table".
"""

from __future__ import annotations

from enum import StrEnum


class SweepStatus(StrEnum):
    QUEUED = "queued"
    PREFLIGHT = "preflight"
    RUNNING = "running"
    PLANNING = "planning"
    AWAITING_APPROVAL = "awaiting_approval"  # planned; the target waits for POST .../target-run
    TARGET_RUNNING = "target_running"
    COMPLETED = "completed"
    FAILED = "failed"
    CANCELLED = "cancelled"
    PREFLIGHT_FAILED = "preflight_failed"
    IMPORTED = "imported"  # runs a team already had (orchestrator/imported.py): nothing to train or launch

    @classmethod
    def terminal(cls) -> frozenset[SweepStatus]:
        """States the runner never leaves (the CLI waits for one of these)."""
        return TERMINAL

    @classmethod
    def active(cls) -> frozenset[SweepStatus]:
        """States in which compute may be in use: deleting needs `force`, a restart resumes them."""
        return ACTIVE


S = SweepStatus
# from -> the states it may move to. Every status write in the store is checked against this table.
SWEEP_TRANSITIONS: dict[SweepStatus, frozenset[SweepStatus]] = {
    S.QUEUED: frozenset({S.PREFLIGHT, S.RUNNING, S.CANCELLED, S.FAILED}),
    S.PREFLIGHT: frozenset({S.RUNNING, S.PREFLIGHT_FAILED, S.CANCELLED, S.FAILED}),
    S.RUNNING: frozenset({S.PLANNING, S.CANCELLED, S.FAILED}),
    S.PLANNING: frozenset({S.AWAITING_APPROVAL, S.TARGET_RUNNING, S.COMPLETED, S.CANCELLED, S.FAILED}),
    S.AWAITING_APPROVAL: frozenset({S.TARGET_RUNNING, S.CANCELLED}),
    S.TARGET_RUNNING: frozenset({S.COMPLETED, S.CANCELLED, S.FAILED}),
    S.COMPLETED: frozenset({S.TARGET_RUNNING}),
    S.FAILED: frozenset({S.TARGET_RUNNING}),
    S.CANCELLED: frozenset(),
    S.PREFLIGHT_FAILED: frozenset(),
    S.IMPORTED: frozenset(),
}
# States from which the API may launch (or relaunch) the target run: the table's edges into target_running
# that the runner does not take itself.
LAUNCHABLE: frozenset[SweepStatus] = frozenset({S.AWAITING_APPROVAL, S.COMPLETED, S.FAILED})
# No automatic way out: nothing but a launch leaves these.
TERMINAL: frozenset[SweepStatus] = frozenset(
    s
    for s, targets in SWEEP_TRANSITIONS.items()
    if not (targets - {S.TARGET_RUNNING} if s in LAUNCHABLE else targets)
)
# The runner has nothing more to do on its own: a terminal state, or waiting for a launch (the CLI's `demo`
# and `submit --wait` stop waiting here).
SETTLED: frozenset[SweepStatus] = TERMINAL | {S.AWAITING_APPROVAL}
ACTIVE: frozenset[SweepStatus] = frozenset({S.PREFLIGHT, S.RUNNING, S.PLANNING, S.TARGET_RUNNING})
# Proxy trials may still be running or waiting: no plan can be made from them yet.
BEFORE_PLANNING: frozenset[SweepStatus] = frozenset({S.QUEUED, S.PREFLIGHT, S.RUNNING})


class IllegalTransition(Exception):
    """A status write the table does not allow (the API answers 409 with this message)."""


def check_transition(current: SweepStatus | str, new: SweepStatus | str) -> None:
    """Raise `IllegalTransition` unless `current -> new` is in `SWEEP_TRANSITIONS`."""
    current, new = SweepStatus(current), SweepStatus(new)
    if new not in SWEEP_TRANSITIONS[current]:
        allowed = ", ".join(sorted(SWEEP_TRANSITIONS[current])) or "nothing (it is final)"
        raise IllegalTransition(
            f"a sweep cannot go from {current.value} to {new.value}; from {current.value}: {allowed}"
        )


class TrialStatus(StrEnum):
    PENDING = "pending"
    RUNNING = "running"
    COMPLETED = "completed"
    PRUNED = "pruned"
    DIVERGED = "diverged"
    FAILED = "failed"
    CANCELLED = "cancelled"

    @classmethod
    def finished(cls) -> frozenset[TrialStatus]:
        """Trials that count as done for progress and are never rerun on resume."""
        return frozenset({cls.COMPLETED, cls.PRUNED, cls.DIVERGED, cls.FAILED, cls.CANCELLED})


class TargetStatus(StrEnum):
    PENDING = "pending"
    RUNNING = "running"
    COMPLETED = "completed"
    DIVERGED = "diverged"
    FAILED = "failed"
    CANCELLED = "cancelled"

    @classmethod
    def unfinished(cls) -> frozenset[TargetStatus]:
        """A target run in one of these is resumed (from its checkpoint) rather than launched anew."""
        return frozenset({cls.PENDING, cls.RUNNING})


class EventLevel(StrEnum):
    DEBUG = "debug"
    INFO = "info"
    WARNING = "warning"
    ERROR = "error"
