"""The μTransfer plot's numbers, aggregated in SQL: per (parametrization, width, depth, tokens, batch size)
group and per value of each swept hyperparameter, the best loss over the other hyperparameters' values, the
mean and its standard error, and how many trials finished or diverged there.

Why here and not in the browser: the sweep page used to download every trial to draw this plot, so its first
render grew with the trial count. These rows are bounded instead: a grid (or a list of choices) has few
distinct values, and a continuous search's values are counted into a fixed number of bins (`HpAxis.bins`),
so the answer is at most bins × groups points per hyperparameter however many trials ran.

One statement, written once for SQLite and PostgreSQL: the trials are read once, into a CTE of configurations
(a random search has about one per trial, so the JSON values are extracted once, not once per axis and edge);
the JSON value is read with SQLAlchemy's portable JSON accessor, a bin is found with CASEs over precomputed
edges (SQLite may lack log functions), a bin is grouped by as a subquery's column (PostgreSQL does not match
two copies of a parametrized expression), and the standard error is finished in Python from sums (SQLite has
no sqrt).
"""

from __future__ import annotations

import math
import threading
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import (
    CTE,
    ColumnElement,
    CompoundSelect,
    Float,
    Integer,
    Row,
    Select,
    Text,
    and_,
    case,
    cast,
    func,
    literal,
    literal_column,
    or_,
    select,
    true,
    union_all,
)
from sqlalchemy.orm import Session

from orchestrator.status import TrialStatus
from orchestrator.store.models import Trial

GROUP_COLUMNS = ("parametrization", "width", "depth", "tokens", "batch_size")


@dataclass(frozen=True)
class HpAxis:
    """One swept hyperparameter as the summary reads it: one point per distinct value (`bins` None), or
    `bins` equal bins over [low, high] (in log2 when `log`); values outside the range fall in the end bins."""

    name: str
    bins: int | None = None
    low: float | None = None
    high: float | None = None
    log: bool = False

    def __post_init__(self) -> None:
        if self.bins is not None:
            if self.bins < 1 or self.low is None or self.high is None or not self.low < self.high:
                raise ValueError(f"{self.name}: binning needs bins >= 1 and low < high")
            if self.log and self.low <= 0:
                raise ValueError(f"{self.name}: log bins need a positive low")

    def edge(self, i: float) -> float:
        """The bin boundary at fraction i / bins of the range (fractional i: a bin's centre)."""
        assert self.bins is not None and self.low is not None and self.high is not None
        t = i / self.bins
        if self.log:
            return self.low * (self.high / self.low) ** t
        return self.low + (self.high - self.low) * t


@dataclass(frozen=True)
class SummaryPoint:
    """One value (or bin) of a hyperparameter in one group. `best`: the lowest loss over the other
    hyperparameters' values, each configuration first averaged over its seeds; `mean`/`sem`: over every
    completed trial there; `count`: those trials; `diverged`: the diverged trials there."""

    value: float
    best: float | None
    mean: float | None
    sem: float | None
    count: int
    diverged: int
    low: float | None = None  # a bin's edges; None for an exact value
    high: float | None = None


@dataclass(frozen=True)
class SummaryGroup:
    parametrization: str
    width: int
    depth: int
    tokens: int | None
    batch_size: int | None
    points: dict[str, list[SummaryPoint]] = field(default_factory=dict)  # per hyperparameter, by value


def trial_summary(session: Session, sweep_id: int, axes: Sequence[HpAxis]) -> list[SummaryGroup]:
    """Every group with a finished trial, and its points along each axis (ascending value).

    Only completed, non-diverged trials with a loss contribute losses (the loss is the final validation loss,
    else the final train loss: the planner's objective); diverged trials are counted apart."""
    if not axes:
        return []
    groups: dict[tuple, SummaryGroup] = {}
    for row in session.execute(_points_query(sweep_id, axes)).all():
        axis = axes[int(row.axis)]
        key = tuple(getattr(row, name) for name in GROUP_COLUMNS)
        if key not in groups:
            groups[key] = SummaryGroup(*key)
        groups[key].points.setdefault(axis.name, []).append(_point(axis, row))
    for group in groups.values():
        for points in group.points.values():
            points.sort(key=lambda p: p.value)
    return sorted(
        groups.values(),
        key=lambda g: (g.parametrization, g.width, g.depth, g.tokens or 0, g.batch_size or 0),
    )


class SummaryCache:
    """The latest summaries, each kept with the version of the trials it was computed from (`trials_version`).

    Why: the sweep page asks for the summary on every poll, and on a large finished sweep (20,000 trials) the
    aggregation costs a scan of its trials each time (100-200 ms on PostgreSQL under write load, measured with
    bench/load.py), while its answer no longer changes. The version is one indexed aggregate over the sweep's
    trials, so a poll of an unchanged sweep costs that instead; a trial that finishes changes the version."""

    def __init__(self, size: int = 64) -> None:
        self.size = size
        self._entries: OrderedDict[tuple[int, tuple[HpAxis, ...]], tuple[tuple, list[SummaryGroup]]]
        self._entries = OrderedDict()
        self._lock = threading.Lock()

    def summary(self, session: Session, sweep_id: int, axes: Sequence[HpAxis]) -> list[SummaryGroup]:
        key = (sweep_id, tuple(axes))
        version = trials_version(session, sweep_id)
        with self._lock:
            hit = self._entries.get(key)
            if hit is not None and hit[0] == version:
                self._entries.move_to_end(key)
                return hit[1]
        groups = trial_summary(session, sweep_id, axes)
        with self._lock:
            self._entries[key] = (version, groups)
            self._entries.move_to_end(key)
            while len(self._entries) > self.size:
                self._entries.popitem(last=False)
        return groups


def trials_version(session: Session, sweep_id: int) -> tuple:
    """What changes whenever the summary of a sweep can: how many trials it has, how many are completed,
    and when the last one finished (every completed or diverged trial has its `finished_at` set)."""
    row = session.execute(
        select(
            func.count(),
            func.count(case((Trial.status == TrialStatus.COMPLETED.value, 1))),
            func.count(Trial.finished_at),
            func.max(Trial.finished_at),
        ).where(Trial.sweep_id == sweep_id)
    ).one()
    return tuple(row)


def _points_query(sweep_id: int, axes: Sequence[HpAxis]) -> Select[Any] | CompoundSelect:
    """One statement, so the trials are read once: a CTE of the sweep's configurations (per group and distinct
    hyperparameters: the seeds' count, sum and sum of squares of the loss, the diverged count, and each axis's
    value), then per axis its configurations grouped by value or bin, the axes' rows joined by UNION ALL."""
    loss = func.coalesce(Trial.final_val_loss, Trial.final_loss)
    diverged = Trial.diverged.is_(true())
    scored = and_(Trial.status == TrialStatus.COMPLETED.value, ~diverged, loss.is_not(None))
    scored_loss = case((scored, loss))
    per_config = (
        select(
            *(getattr(Trial, name) for name in GROUP_COLUMNS),
            *(func.min(Trial.hparams[a.name].as_float()).label(f"v{i}") for i, a in enumerate(axes)),
            func.count(scored_loss).label("n"),
            func.sum(scored_loss).label("s"),
            func.sum(scored_loss * scored_loss).label("ss"),
            func.sum(case((diverged, 1), else_=0)).label("div"),
        )
        .where(Trial.sweep_id == sweep_id, or_(scored, diverged))
        .group_by(*(getattr(Trial, name) for name in GROUP_COLUMNS), cast(Trial.hparams, Text))
        .cte("per_config")
    )
    branches = [_axis_points(per_config, i, axis) for i, axis in enumerate(axes)]
    return branches[0] if len(branches) == 1 else union_all(*branches)


def _axis_points(per_config: CTE, i: int, axis: HpAxis) -> Select[Any]:
    """Axis i's points: its value (or bin) set on each configuration in a subquery, then grouped by it (a
    GROUP BY names the subquery's column: PostgreSQL would not match two copies of an expression with
    parameters, such as a bin's CASE)."""
    c = per_config.c
    value = c[f"v{i}"]
    wanted = [value.is_not(None), *([value > 0] if axis.log else [])]
    x = cast(_bin(value, axis), Float) if axis.bins else value
    located = (
        select(*(c[name] for name in GROUP_COLUMNS), x.label("x"), c.n, c.s, c.ss, c.div)
        .where(*wanted)
        .subquery(f"axis{i}")
    )
    a = located.c
    keys = [a[name] for name in GROUP_COLUMNS]
    return select(
        literal_column(str(i)).label("axis"),
        *keys,
        a.x,
        func.min(case((a.n > 0, a.s / a.n))).label("best"),
        func.sum(a.n).label("n"),
        func.sum(a.s).label("s"),
        func.sum(a.ss).label("ss"),
        func.sum(a.div).label("div"),
    ).group_by(*keys, a.x)


def _bin(value: ColumnElement[float], axis: HpAxis, lo: int = 0, hi: int | None = None) -> ColumnElement[int]:
    """The index of `value`'s bin among bins [lo, hi): CASEs nested as a binary search over the edges (about
    log2(bins) comparisons per configuration, not one per edge), the same SQL on every backend."""
    hi = axis.bins if hi is None else hi
    assert hi is not None
    if hi - lo == 1:
        return literal(lo, Integer)
    mid = (lo + hi) // 2
    return case((value < axis.edge(mid), _bin(value, axis, lo, mid)), else_=_bin(value, axis, mid, hi))


def _point(axis: HpAxis, row: Row[Any]) -> SummaryPoint:
    n, s, ss = int(row.n or 0), row.s, row.ss
    mean = float(s) / n if n else None
    sem = None
    if n >= 2 and mean is not None:
        variance = max(float(ss) - n * mean * mean, 0.0) / (n - 1)
        sem = math.sqrt(variance / n)
    common = {
        "best": None if row.best is None else float(row.best),
        "mean": mean,
        "sem": sem,
        "count": n,
        "diverged": int(row.div or 0),
    }
    if axis.bins is None:
        return SummaryPoint(value=float(row.x), **common)
    i = int(row.x)
    return SummaryPoint(value=axis.edge(i + 0.5), low=axis.edge(i), high=axis.edge(i + 1), **common)
