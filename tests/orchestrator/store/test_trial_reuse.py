"""The reuse lookup in the store: the newest finished trial of the same project with the same fingerprint,
copied with its metrics; other projects, unfinished trials and other fingerprints are never reused."""

from __future__ import annotations

from sqlalchemy import update
from support.projects import seed_project

from orchestrator.executor.interface import TrialRequest
from orchestrator.spec import parse_spec
from orchestrator.store.ingest import copy_trial
from orchestrator.store.models import Trial
from orchestrator.store.repository import SweepStore

FINGERPRINT = "f" * 64


def request(key: str = "mup-w32-d2-i0-s0") -> TrialRequest:
    return TrialRequest(key, "mup", 32, 2, 0, 0, {"lr": 0.01})


def test_only_the_same_projects_finished_trial_is_reused(store: SweepStore, tiny_spec: dict) -> None:
    _, source_id = seed_project(store, "alpha", tiny_spec)
    with store.session() as session:
        session.execute(update(Trial).where(Trial.id == source_id).values(fingerprint=FINGERPRINT))
    same = store.create_sweep(parse_spec(tiny_spec), "alpha")
    other = store.create_sweep(parse_spec(tiny_spec), "beta")

    assert copy_trial(store, other.id, request(), FINGERPRINT) is None  # another project: never
    assert copy_trial(store, same.id, request(), "0" * 64) is None  # another trial
    status, objective = copy_trial(store, same.id, request(), FINGERPRINT)  # type: ignore[misc]
    copied = store.all_trials(same.id)[0]
    assert status == "completed" and objective is not None
    assert (copied.reused_from_trial, copied.fingerprint, copied.attempts) == (source_id, FINGERPRINT, 0)
    assert len(store.trial_metrics(copied.id)) == len(store.trial_metrics(source_id)) > 0

    with store.session() as session:
        session.execute(update(Trial).where(Trial.id == source_id).values(status="cancelled"))
        session.execute(update(Trial).where(Trial.id == copied.id).values(status="failed"))
    again = store.create_sweep(parse_spec(tiny_spec), "alpha")
    assert copy_trial(store, again.id, request(), FINGERPRINT) is None  # nothing finished to reuse
