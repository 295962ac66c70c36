"""Which trials a page of the trial table shows, and in which order: filtered, sorted and paged in SQL.

Why in the database: the sweep page used to download every trial to sort and filter them in the browser,
so a sweep of 20,000 trials cost 20,000 rows on every load. Here a page costs its rows plus a count. Sort
keys are a closed list (the table's columns, and a swept hyperparameter as `hp:<name>`), never a column
name taken from a request; missing values sort last in either direction, ties by id.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import ColumnElement, Select, func, or_, select

from orchestrator.spec import KNOWN_HPARAMS
from orchestrator.store.models import Trial

# The columns a page may be sorted by; the API's whitelist is this tuple.
TRIAL_SORT_COLUMNS = (
    "id",
    "parametrization",
    "width",
    "depth",
    "seed",
    "status",
    "final_val_loss",
    "best_loss",
    "final_loss",
    "steps_done",
    "duration_s",
)
TRIAL_SORT_KEYS = TRIAL_SORT_COLUMNS + tuple(f"hp:{name}" for name in KNOWN_HPARAMS)


@dataclass(frozen=True)
class TrialFilter:
    status: str | None = None
    parametrization: str | None = None
    width: int | None = None
    text: str | None = None  # case-insensitive substring of the trial key or of its error


def like_pattern(text: str) -> str:
    """`%text%` for a LIKE with `\\` as its escape: the user's % and _ match themselves."""
    escaped = text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped.lower()}%"


def sort_expression(key: str) -> ColumnElement[Any]:
    """The SQL a sort key orders by; `ValueError` for a key outside `TRIAL_SORT_KEYS`."""
    if key not in TRIAL_SORT_KEYS:
        raise ValueError(f"cannot sort trials by {key!r}; sort by one of {', '.join(TRIAL_SORT_KEYS)}")
    if key.startswith("hp:"):
        return Trial.hparams[key.removeprefix("hp:")].as_float()
    return getattr(Trial, key)


def filtered_trials(sweep_id: int, filters: TrialFilter) -> Select[tuple[Trial]]:
    query = select(Trial).where(Trial.sweep_id == sweep_id)
    if filters.status is not None:
        query = query.where(Trial.status == filters.status)
    if filters.parametrization is not None:
        query = query.where(Trial.parametrization == filters.parametrization)
    if filters.width is not None:
        query = query.where(Trial.width == filters.width)
    if filters.text:
        pattern = like_pattern(filters.text)
        query = query.where(
            or_(
                func.lower(Trial.trial_key).like(pattern, escape="\\"),
                func.lower(func.coalesce(Trial.error, "")).like(pattern, escape="\\"),
            )
        )
    return query


def ordered(query: Select[tuple[Trial]], sort: str, descending: bool) -> Select[tuple[Trial]]:
    column = sort_expression(sort)
    if sort == "id":
        return query.order_by(Trial.id.desc() if descending else Trial.id)
    direction = column.desc() if descending else column.asc()
    return query.order_by(direction.nulls_last(), Trial.id.desc() if descending else Trial.id)
