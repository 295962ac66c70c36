"""The trial table's and the μTransfer plot's queries on SQLite and PostgreSQL (the `store` fixture runs each
test on both; the PostgreSQL run is marked `postgres`): the summary's GROUP BY over a JSON column and its
CASE bins, and a page's filters and sort (missing values last, which the two databases disagree on by
default), must answer the same on each."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
from sqlalchemy import select
from support.summary import assert_same, expected_summary, grid_trials, store_trials, summary_of

from orchestrator.spec import parse_spec
from orchestrator.store import HpAxis, SweepStore, TrialFilter
from orchestrator.store.models import Trial

LRS = [2**-10, 2**-8, 2**-6, 2**-4]
STDS = [2**-5, 2**-3, 2**-1]


@pytest.fixture
def sweep_id(store: SweepStore, tiny_spec: dict[str, Any]) -> int:
    sweep = store.create_sweep(parse_spec(tiny_spec))
    store_trials(store, sweep.id, grid_trials(LRS, STDS))
    return sweep.id


def as_dicts(groups: list[Any]) -> list[dict[str, Any]]:
    return [
        {
            "parametrization": g.parametrization,
            "width": g.width,
            "depth": g.depth,
            "tokens": g.tokens,
            "batch_size": g.batch_size,
            "points": {hp: [vars(p) for p in points] for hp, points in g.points.items()},
        }
        for g in groups
    ]


def test_the_summary_matches_python_exact_and_binned(store: SweepStore, sweep_id: int) -> None:
    rows = grid_trials(LRS, STDS)
    exact = [HpAxis("lr", log=True), HpAxis("init_std", log=True)]
    assert_same(summary_of(as_dicts(store.trial_summary(sweep_id, exact))), expected_summary(rows, exact))
    # the same trials binned (4 log bins over lr's range, 3 linear over init_std's): values share bins
    binned = [
        HpAxis("lr", bins=4, low=2**-11, high=2**-3, log=True),
        HpAxis("init_std", bins=3, low=0, high=0.6),
    ]
    got = summary_of(as_dicts(store.trial_summary(sweep_id, binned)))
    assert_same(got, expected_summary(rows, binned))
    assert all(len(points) <= 4 for per_hp in got.values() for points in per_hp.values())


def test_the_summary_of_an_unchanged_sweep_is_kept_and_a_finished_trial_renews_it(
    store: SweepStore, sweep_id: int
) -> None:
    axes = [HpAxis("lr", log=True), HpAxis("init_std", log=True)]
    first = store.trial_summary(sweep_id, axes)
    assert store.trial_summary(sweep_id, axes) is first  # nothing changed: the kept answer
    rows = grid_trials(LRS, STDS)
    running = next(i for i, row in enumerate(rows) if row["status"] == "running")
    with store.session() as session:  # the running trial finishes, as the ingest writes it
        trial = session.scalars(
            select(Trial).where(Trial.sweep_id == sweep_id, Trial.trial_key == f"t{running}")
        ).one()
        trial.status, trial.final_loss, trial.final_val_loss = "completed", 1.0, 1.0
        trial.finished_at = datetime.now(UTC)
    rows[running] |= {"status": "completed", "final_loss": 1.0, "final_val_loss": 1.0}
    renewed = store.trial_summary(sweep_id, axes)
    assert renewed is not first
    assert_same(summary_of(as_dicts(renewed)), expected_summary(rows, axes))
    assert summary_of(as_dicts(renewed)) != summary_of(as_dicts(first))


def test_a_page_filters_and_sorts_with_missing_values_last(store: SweepStore, sweep_id: int) -> None:
    everything, total = store.list_trials(sweep_id, limit=1000)
    assert total == len(everything) == len(grid_trials(LRS, STDS))
    for descending in (False, True):
        page, _ = store.list_trials(sweep_id, limit=1000, sort="final_val_loss", descending=descending)
        losses = [t.final_val_loss for t in page]
        present = [v for v in losses if v is not None]
        assert losses == present + [None] * (len(losses) - len(present))  # NULLs last either way
        assert present == sorted(present, reverse=descending)

    filters = TrialFilter(status="completed", parametrization="sp", width=64)
    page, total = store.list_trials(
        sweep_id, limit=5, offset=5, filters=filters, sort="hp:lr", descending=True
    )
    matching = [t for t in everything if (t.status, t.parametrization, t.width) == ("completed", "sp", 64)]
    assert total == len(matching) and len(page) == 5
    lrs = [t.hparams["lr"] for t in page]
    assert lrs == sorted(lrs, reverse=True) and all(lr < LRS[-1] for lr in lrs)  # the top lr diverged

    keyed, total = store.list_trials(sweep_id, filters=TrialFilter(text="T1"))  # any case
    assert total == sum(1 for t in everything if "t1" in t.trial_key) and keyed
    literal, total = store.list_trials(sweep_id, filters=TrialFilter(text="%"))  # LIKE's wildcard, escaped
    assert total == 0 and literal == []


def test_an_unknown_sort_key_is_refused(store: SweepStore, sweep_id: int) -> None:
    with pytest.raises(ValueError, match="cannot sort trials by 'hparams'"):
        store.list_trials(sweep_id, sort="hparams")
    page, _ = store.list_trials(sweep_id, sort="duration_s", limit=3)  # no durations: ties by id
    assert [t.id for t in page] == sorted(t.id for t in page)
