"""A sweep's proxy trials and their per-step metrics (incremental: poll with `since_step`)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from api.deps import ReaderDep, StoreDep
from api.errors import ERROR_RESPONSES
from api.routes.common import Limit, MetricsLimit, Offset, SinceStep, SweepId, TrialId
from api.schemas import MetricOut, MetricPage, TrialOut, TrialPage
from orchestrator.status import TrialStatus

router = APIRouter(prefix="/sweeps/{sweep_id}/trials", tags=["trials"], responses=ERROR_RESPONSES)


@router.get("", response_model=TrialPage, summary="A sweep's trials, in creation order")
def list_trials(
    sweep_id: SweepId,
    store: StoreDep,
    principal: ReaderDep,
    status: Annotated[TrialStatus | None, Query(description="only trials in this status")] = None,
    limit: Limit = 100,
    offset: Offset = 0,
) -> TrialPage:
    store.get_sweep(sweep_id, principal.project)
    trials, total = store.list_trials(sweep_id, status.value if status else None, limit=limit, offset=offset)
    return TrialPage(
        items=[TrialOut.model_validate(t) for t in trials], total=total, limit=limit, offset=offset
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
