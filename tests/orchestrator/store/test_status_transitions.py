"""The sweep's status machine is one table, and the store enforces it on every write.

Every allowed edge is taken on a real database (SQLite, and PostgreSQL when one answers); every pair the
table does not hold, self-loops included, raises `IllegalTransition` and leaves the row as it was.
"""

from __future__ import annotations

from itertools import product
from typing import Any

import pytest
from support.statuses import move_to, path

from orchestrator.spec import parse_spec
from orchestrator.status import (
    ACTIVE,
    LAUNCHABLE,
    SWEEP_TRANSITIONS,
    TERMINAL,
    IllegalTransition,
    SweepStatus,
    check_transition,
)
from orchestrator.store import Conflict, SweepStore

ALLOWED = [(a, b) for a, targets in SWEEP_TRANSITIONS.items() for b in sorted(targets)]
FORBIDDEN = [(a, b) for a, b in product(SweepStatus, SweepStatus) if b not in SWEEP_TRANSITIONS[a]]


def test_the_table_covers_every_status_and_names_its_groups() -> None:
    assert set(SWEEP_TRANSITIONS) == set(SweepStatus)
    assert TERMINAL == {"completed", "failed", "cancelled", "preflight_failed", "imported"}
    assert not TERMINAL & ACTIVE
    # nothing but a launch leaves a terminal state, and a launch is only from a launchable one
    for status in TERMINAL:
        assert SWEEP_TRANSITIONS[status] <= ({SweepStatus.TARGET_RUNNING} if status in LAUNCHABLE else set())
    # every status is reachable from queued, but an imported study's: it is created so and never moves
    for status in SweepStatus:
        if status not in (SweepStatus.QUEUED, SweepStatus.IMPORTED):
            assert path(SweepStatus.QUEUED, status)
    assert not SWEEP_TRANSITIONS[SweepStatus.IMPORTED]
    assert all(SweepStatus.IMPORTED not in targets for targets in SWEEP_TRANSITIONS.values())
    assert len(ALLOWED) + len(FORBIDDEN) == len(SweepStatus) ** 2


@pytest.mark.parametrize(("current", "new"), FORBIDDEN, ids=[f"{a}->{b}" for a, b in FORBIDDEN])
def test_check_transition_refuses_every_forbidden_edge(current: SweepStatus, new: SweepStatus) -> None:
    with pytest.raises(IllegalTransition, match=f"from {current.value} to {new.value}"):
        check_transition(current, new)


@pytest.mark.parametrize(("current", "new"), ALLOWED, ids=[f"{a}->{b}" for a, b in ALLOWED])
def test_the_store_takes_every_allowed_edge(
    store: SweepStore, tiny_spec: dict[str, Any], current: SweepStatus, new: SweepStatus
) -> None:
    sweep = store.create_sweep(parse_spec(tiny_spec))
    move_to(store, sweep.id, current)
    moved = store.set_sweep_status(sweep.id, new)
    assert moved.status == new.value
    assert store.list_events(sweep.id)[-1].data == {"from": current.value, "to": new.value}


def test_the_store_refuses_every_forbidden_edge_and_keeps_the_row(
    store: SweepStore, tiny_spec: dict[str, Any]
) -> None:
    """One sweep per starting state (walked there by allowed edges); every forbidden move from it fails."""
    for current in SweepStatus:
        if current is SweepStatus.IMPORTED:  # created so (orchestrator/importing.py), never moved there
            sweep = store.create_imported("runs", {"imported": {"source": "runs.csv"}}, [])
        else:
            sweep = store.create_sweep(parse_spec(tiny_spec))
            move_to(store, sweep.id, current)
        events = len(store.list_events(sweep.id))
        for new in SweepStatus:
            if new in SWEEP_TRANSITIONS[current]:
                continue
            with pytest.raises(IllegalTransition):
                store.set_sweep_status(sweep.id, new)
            after = store.get_sweep(sweep.id)
            assert after.status == current.value, f"{current}->{new} changed the row"
        assert len(store.list_events(sweep.id)) == events


def test_a_claim_moves_only_from_the_expected_states(store: SweepStore, tiny_spec: dict[str, Any]) -> None:
    sweep = store.create_sweep(parse_spec(tiny_spec))
    move_to(store, sweep.id, SweepStatus.RUNNING)
    assert store.claim_status(sweep.id, sorted(LAUNCHABLE), SweepStatus.TARGET_RUNNING) is None
    assert store.get_sweep(sweep.id).status == "running"
    move_to(store, sweep.id, SweepStatus.AWAITING_APPROVAL)
    assert store.claim_status(sweep.id, sorted(LAUNCHABLE), SweepStatus.TARGET_RUNNING) == "awaiting_approval"
    # a second launch that saw the same state loses: the sweep is no longer where it saw it
    assert store.claim_status(sweep.id, sorted(LAUNCHABLE), SweepStatus.TARGET_RUNNING) is None
    # a claim the table does not allow is refused before it touches the database
    with pytest.raises(IllegalTransition):
        store.claim_status(sweep.id, [SweepStatus.CANCELLED], SweepStatus.RUNNING)


def test_cancelling_a_finished_sweep_is_a_conflict(store: SweepStore, tiny_spec: dict[str, Any]) -> None:
    sweep = store.create_sweep(parse_spec(tiny_spec))
    move_to(store, sweep.id, SweepStatus.PREFLIGHT_FAILED)
    with pytest.raises(Conflict):
        store.request_cancel(sweep.id)
