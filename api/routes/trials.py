"""A sweep's proxy trials and their per-step metrics (incremental: poll with `since_step`).

The list is paged, sorted and filtered by the database, and the μTransfer plot reads the aggregated
`/summary`: a client never needs every trial of a sweep at once, however many it has.
"""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Query

from api.deps import ReaderDep, StoreDep
from api.errors import ERROR_RESPONSES
from api.routes.common import MAX_ID, Limit, MetricsLimit, Offset, SinceStep, SweepId, TrialId
from api.schemas import MetricOut, MetricPage, TrialOut, TrialPage, TrialSummaryOut
from orchestrator.status import TrialStatus
from orchestrator.store import TRIAL_SORT_KEYS, TrialFilter
from orchestrator.summary_axes import summary_axes

router = APIRouter(prefix="/sweeps/{sweep_id}/trials", tags=["trials"], responses=ERROR_RESPONSES)

SortKey = Literal[TRIAL_SORT_KEYS]  # type: ignore[valid-type]  # the store's closed list, as an enum
NO_NUL = r"^[^\x00]*$"  # PostgreSQL text cannot hold a NUL: refuse it as bad input, not fail on it


@router.get("", response_model=TrialPage, summary="A page of a sweep's trials, filtered and sorted")
def list_trials(
    sweep_id: SweepId,
    store: StoreDep,
    principal: ReaderDep,
    status: Annotated[TrialStatus | None, Query(description="only trials in this status")] = None,
    parametrization: Annotated[
        str | None,
        Query(max_length=32, pattern=NO_NUL, description="only trials of this parametrization"),
    ] = None,
    width: Annotated[int | None, Query(ge=1, le=MAX_ID, description="only trials of this width")] = None,
    q: Annotated[
        str | None,
        Query(
            max_length=200,
            pattern=NO_NUL,
            description="only trials whose key (or error) contains this, any case",
        ),
    ] = None,
    sort: Annotated[
        SortKey,
        Query(description="column to sort by (`hp:<name>`: a hyperparameter's value); missing values last"),
    ] = "id",
    order: Annotated[Literal["asc", "desc"], Query(description="sort direction; ties by id")] = "asc",
    limit: Limit = 100,
    offset: Offset = 0,
) -> TrialPage:
    store.get_sweep(sweep_id, principal.project)
    filters = TrialFilter(
        status=status.value if status else None, parametrization=parametrization, width=width, text=q
    )
    trials, total = store.list_trials(
        sweep_id, limit=limit, offset=offset, filters=filters, sort=sort, descending=order == "desc"
    )
    return TrialPage(
        items=[TrialOut.model_validate(t) for t in trials], total=total, limit=limit, offset=offset
    )


# Declared before `/{trial_id}`, which would otherwise take "summary" for a trial id and answer 422.
@router.get(
    "/summary",
    response_model=TrialSummaryOut,
    summary="The μTransfer plot's points, aggregated over the sweep's trials",
)
def trial_summary(sweep_id: SweepId, store: StoreDep, principal: ReaderDep) -> TrialSummaryOut:
    """Per (parametrization, width, depth, tokens, batch size) group and per value of each swept
    hyperparameter: the best loss over the other hyperparameters' values, the mean, its standard error, and
    the completed and diverged trials there. A continuous search's values are binned (`hps[].bins`), so the
    answer's size does not grow with the number of trials."""
    sweep = store.get_sweep(sweep_id, principal.project)
    axes = summary_axes(sweep.spec)
    groups = store.trial_summary(sweep_id, axes)
    return TrialSummaryOut.model_validate(
        {"sweep_id": sweep_id, "hps": axes, "groups": groups}, from_attributes=True
    )


@router.get("/{trial_id}", response_model=TrialOut, summary="One trial")
def get_trial(sweep_id: SweepId, trial_id: TrialId, store: StoreDep, principal: ReaderDep) -> TrialOut:
    store.get_sweep(sweep_id, principal.project)
    return TrialOut.model_validate(store.get_trial(sweep_id, trial_id))


@router.get("/{trial_id}/metrics", response_model=MetricPage, summary="A trial's per-step metrics")
def trial_metrics(
    sweep_id: SweepId,
    trial_id: TrialId,
    store: StoreDep,
    principal: ReaderDep,
    since_step: SinceStep = None,
    limit: MetricsLimit = 1000,
) -> MetricPage:
    store.get_sweep(sweep_id, principal.project)
    store.get_trial(sweep_id, trial_id)
    rows = store.trial_metrics(trial_id, since_step=since_step, limit=limit)
    items = [MetricOut.model_validate(r) for r in rows]
    return MetricPage(
        trial_id=trial_id,
        items=items,
        next_since_step=items[-1].step if items else since_step,
        has_more=len(items) == limit,
    )
