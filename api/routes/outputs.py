"""What a sweep has produced beyond its trials: coordinate check, transfer plan, target run (read-only).

`GET .../outputs` says which of these exist so far (coordinate check, plan version, target run), so a
client polling a sweep asks only for what is there instead of collecting 404s for what is not yet made.
Making plans and launching target runs (POST) belong to the planner glue, not to this module.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Query
from pydantic import BaseModel, ConfigDict, Field, computed_field

from api.deps import ReaderDep, StoreDep
from api.errors import ERROR_RESPONSES
from api.routes.common import MAX_ID, MetricsLimit, SinceStep, SweepId
from api.schemas import CoordSlopeOut, MetricOut
from orchestrator.store import NotFound

router = APIRouter(prefix="/sweeps/{sweep_id}", tags=["outputs"], responses=ERROR_RESPONSES)


class CoordCheckOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    parametrization: str
    passed: bool
    data: dict[str, Any] = Field(description="the check as the worker reported it (widths, steps, stats)")
    created_at: datetime

    @computed_field(description="predicted and measured slope per module, statistic and step")
    @property
    def slopes(self) -> list[CoordSlopeOut]:
        return coord_slopes(self.data)


def coord_slopes(data: dict[str, Any]) -> list[CoordSlopeOut]:
    """The report's `slopes` and `predicted` (`[module][stat][step]`) as one row per module and statistic; a
    row is failing when the report's `failing` list names it. Reports stored before predictions were
    recorded have none: every step reads as not judged."""
    predicted = data.get("predicted") or {}
    failing = {(f.get("module"), f.get("stat")) for f in data.get("failing") or [] if isinstance(f, dict)}
    rows = []
    for module, per_stat in (data.get("slopes") or {}).items():
        for stat, measured in per_stat.items():
            expected = (predicted.get(module) or {}).get(stat) or [None] * len(measured)
            passed = (module, stat) not in failing
            rows.append(
                CoordSlopeOut(module=module, stat=stat, predicted=expected, measured=measured, passed=passed)
            )
    return rows


class CoordCheckList(BaseModel):
    items: list[CoordCheckOut] = Field(description="latest result per parametrization (empty: not run yet)")


class TargetRunRef(BaseModel):
    id: int
    status: str


class OutputsOut(BaseModel):
    coord_checks: int = Field(description="parametrizations with a stored coordinate check")
    plan_version: int | None = Field(description="the latest transfer plan's version (None: no plan yet)")
    target_run: TargetRunRef | None = Field(description="the latest target run (None: not launched)")


class PlanOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    version: int
    created_at: datetime
    plan: dict[str, Any] = Field(description="the planner's document (orchestrator.planner.Plan.to_dict)")


class TargetRunOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    plan_version: int
    status: str
    hparams: dict[str, Any]
    predicted_loss: float | None
    predicted_low: float | None
    predicted_high: float | None
    realized_loss: float | None
    within_interval: bool | None
    steps_done: int
    attempts: int
    error: str | None
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None


class TargetMetricPage(BaseModel):
    target_run_id: int
    items: list[MetricOut]
    next_since_step: int | None = Field(description="pass as since_step to get only newer rows")
    has_more: bool = Field(description="true when the page was full: ask again right away")


@router.get("/coord-check", response_model=CoordCheckList, summary="The coordinate check of a sweep")
def get_coord_check(sweep_id: SweepId, store: StoreDep, principal: ReaderDep) -> CoordCheckList:
    store.get_sweep(sweep_id, principal.project)
    return CoordCheckList(
        items=[CoordCheckOut.model_validate(r) for r in store.coord_checks.latest(sweep_id)]
    )


@router.get("/outputs", response_model=OutputsOut, summary="Which outputs of a sweep exist so far")
def get_outputs(sweep_id: SweepId, store: StoreDep, principal: ReaderDep) -> OutputsOut:
    store.get_sweep(sweep_id, principal.project)
    versions = store.plans.versions(sweep_id)
    try:
        run = store.targets.latest(sweep_id)
    except NotFound:
        run = None
    return OutputsOut(
        coord_checks=len(store.coord_checks.checked(sweep_id)),
        plan_version=versions[-1] if versions else None,
        target_run=TargetRunRef(id=run.id, status=run.status) if run else None,
    )


@router.get("/plan", response_model=PlanOut, summary="The sweep's transfer plan (latest, or one version)")
def get_plan(
    sweep_id: SweepId,
    store: StoreDep,
    principal: ReaderDep,
    version: Annotated[int | None, Query(ge=1, le=MAX_ID, description="default: the latest")] = None,
) -> PlanOut:
    store.get_sweep(sweep_id, principal.project)
    return PlanOut.model_validate(store.plans.get(sweep_id, version))


@router.get("/target-run", response_model=TargetRunOut, summary="The sweep's latest target run")
def get_target_run(sweep_id: SweepId, store: StoreDep, principal: ReaderDep) -> TargetRunOut:
    store.get_sweep(sweep_id, principal.project)
    return TargetRunOut.model_validate(store.targets.latest(sweep_id))


@router.get("/target-run/metrics", response_model=TargetMetricPage, summary="The target run's metrics")
def get_target_metrics(
    sweep_id: SweepId,
    store: StoreDep,
    principal: ReaderDep,
    since_step: SinceStep = None,
    limit: MetricsLimit = 1000,
) -> TargetMetricPage:
    store.get_sweep(sweep_id, principal.project)
    run = store.targets.latest(sweep_id)
    items = [MetricOut.model_validate(r) for r in store.targets.metrics(run.id, since_step, limit)]
    return TargetMetricPage(
        target_run_id=run.id,
        items=items,
        next_since_step=items[-1].step if items else since_step,
        has_more=len(items) == limit,
    )
