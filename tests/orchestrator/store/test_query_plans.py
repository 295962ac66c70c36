"""The hot queries use an index on both databases: no full scan of the tables that grow with a study
(trials, their metrics, events, target metrics), however many rows they hold.

The queries are not restated here: they are captured as the store sends them (SQLAlchemy's
`before_cursor_execute`) while the store answers the calls the sweep page, the runner and the budget make,
and each captured SELECT is then explained with its own parameters. SQLite reports a full scan as `SCAN
<table>`; PostgreSQL prefers a sequential scan on a small table whatever its indexes, so the check runs with
`enable_seqscan = off`, under which a `Seq Scan` remains only where no index applies.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from sqlalchemy import Engine, event, insert

from orchestrator.spec import parse_spec
from orchestrator.store import HpAxis, TrialFilter
from orchestrator.store.models import SweepEvent, Trial, TrialMetric
from orchestrator.store.repository import SweepStore

GROWING = ("trials", "trial_metrics", "sweep_events", "target_metrics")


@contextmanager
def captured_selects(engine: Engine) -> Iterator[list[tuple[str, Any]]]:
    seen: list[tuple[str, Any]] = []

    def record(conn: Any, cursor: Any, statement: str, parameters: Any, context: Any, many: bool) -> None:
        if statement.lstrip().upper().startswith(("SELECT", "WITH")) and not many:  # WITH: a CTE
            seen.append((statement, parameters))

    event.listen(engine, "before_cursor_execute", record)
    try:
        yield seen
    finally:
        event.remove(engine, "before_cursor_execute", record)


def full_scans(engine: Engine, statement: str, parameters: Any) -> list[str]:
    """The growing tables this statement reads in full, by the database's own plan."""
    with engine.connect() as conn:
        if engine.dialect.name == "sqlite":
            rows = conn.exec_driver_sql(f"EXPLAIN QUERY PLAN {statement}", parameters).all()
            details = [str(row[-1]) for row in rows]
            return [d for d in details if d.startswith("SCAN ") and d.split()[1] in GROWING]
        conn.exec_driver_sql("SET enable_seqscan = off")
        plan = conn.exec_driver_sql(f"EXPLAIN (FORMAT JSON) {statement}", parameters).scalar_one()
        plan = json.loads(plan) if isinstance(plan, str) else plan
        return [
            f"Seq Scan on {node['Relation Name']}"
            for node in _nodes(plan[0]["Plan"])
            if node["Node Type"] == "Seq Scan" and node.get("Relation Name") in GROWING
        ]


def _nodes(node: dict[str, Any]) -> Iterator[dict[str, Any]]:
    yield node
    for child in node.get("Plans", []):
        yield from _nodes(child)


@pytest.fixture
def loaded(store: SweepStore, engine: Engine, tiny_spec: dict[str, Any]) -> tuple[int, int]:
    """Two sweeps of 300 trials with 20 metric rows each, and events (the other sweep must not be read)."""
    ids = []
    for name in ("plans-a", "plans-b"):
        sweep = store.create_sweep(parse_spec({**tiny_spec, "name": name}))
        ids.append(sweep.id)
        with engine.begin() as conn:
            trials = [
                {
                    "sweep_id": sweep.id,
                    "trial_key": f"k{i}",
                    "parametrization": "mup" if i % 2 else "sp",
                    "width": 32 * (1 + i % 3),
                    "depth": 2,
                    "seed": 0,
                    "search_index": i,
                    "hparams": {"lr": 2.0 ** -(i % 9)},
                    "status": "completed" if i % 5 else "running",
                    "final_loss": 2.0 + i / 1000,
                    "steps_done": 20,
                    "attempts": 1,
                }
                for i in range(300)
            ]
            conn.execute(insert(Trial), trials)
            first = conn.exec_driver_sql(
                "SELECT min(id) FROM trials WHERE sweep_id = " + str(int(sweep.id))
            ).scalar_one()
            conn.execute(
                insert(TrialMetric),
                [
                    {"trial_id": first + t, "step": s, "train_loss": 3.0 - s / 100}
                    for t in range(300)
                    for s in range(1, 21)
                ],
            )
            conn.execute(
                insert(SweepEvent),
                [
                    {"sweep_id": sweep.id, "kind": "info", "message": f"e{i}", "level": "info"}
                    for i in range(50)
                ],
            )
    return ids[0], ids[1]


CALLS: dict[str, Callable[[SweepStore, int, int], object]] = {
    "progress": lambda s, sweep, trial: s.progress(sweep),
    "trials page": lambda s, sweep, trial: s.list_trials(sweep, limit=50, offset=100),
    "trials by status": lambda s, sweep, trial: s.list_trials(sweep, status="running", limit=50),
    "trials filtered and sorted": lambda s, sweep, trial: s.list_trials(
        sweep,
        filters=TrialFilter(parametrization="mup", width=64, text="k1"),
        sort="final_loss",
        descending=True,
    ),
    "trial summary": lambda s, sweep, trial: s.trial_summary(
        sweep, [HpAxis("lr", log=True), HpAxis("lr", bins=48, low=2**-9, high=1.0, log=True)]
    ),
    "one trial": lambda s, sweep, trial: s.get_trial(sweep, trial),
    "metrics since a step": lambda s, sweep, trial: s.trial_metrics(trial, since_step=10, limit=100),
    "events since an id": lambda s, sweep, trial: s.list_events(sweep, after_id=10, limit=100),
    "last event of a kind": lambda s, sweep, trial: s.last_event(sweep, "info"),
    "budget rows": lambda s, sweep, trial: s.budget_rows(sweep),
    "planner input": lambda s, sweep, trial: s.all_trials(sweep),
}


@pytest.mark.parametrize("name", list(CALLS))
def test_the_hot_queries_use_an_index(
    name: str, store: SweepStore, engine: Engine, loaded: tuple[int, int]
) -> None:
    sweep_id, _ = loaded
    trial_id = store.list_trials(sweep_id, limit=1, offset=150)[0][0].id
    with captured_selects(engine) as selects:
        CALLS[name](store, sweep_id, trial_id)
    assert selects, f"{name}: no SELECT captured"
    scans = {statement: full_scans(engine, statement, params) for statement, params in selects}
    assert not any(scans.values()), {s: v for s, v in scans.items() if v}


def test_the_check_sees_a_full_scan(engine: Engine, loaded: tuple[int, int]) -> None:
    """A query no index serves is reported, so a passing check means something."""
    param = "?" if engine.dialect.name == "sqlite" else "%(loss)s"
    values: Any = (2.1,) if engine.dialect.name == "sqlite" else {"loss": 2.1}
    scans = full_scans(engine, f"SELECT id FROM trials WHERE final_loss > {param}", values)
    assert scans and "trials" in scans[0]
