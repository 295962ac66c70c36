"""What a sweep has produced beyond its trials: the coordinate check, and an index of its outputs.

`GET .../outputs` says which later-stage documents exist (coordinate check, plan version, target run), so
a client polling a sweep asks only for what is there instead of collecting 404s for what is not yet made.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from fastapi import APIRouter
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import func, select

from api.deps import ReaderDep, StoreDep
from api.errors import ERROR_RESPONSES
from api.routes.common import SweepId
from orchestrator.store.models import CoordCheckResult, TargetRun, TransferPlan

router = APIRouter(prefix="/sweeps/{sweep_id}", tags=["outputs"], responses=ERROR_RESPONSES)


class CoordCheckOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    parametrization: str
    passed: bool
    data: dict[str, Any] = Field(description="the check as the worker reported it (widths, steps, stats)")
    created_at: datetime


class CoordCheckList(BaseModel):
    items: list[CoordCheckOut] = Field(description="latest result per parametrization (empty: not run yet)")


class TargetRunRef(BaseModel):
    id: int
    status: str


class OutputsOut(BaseModel):
    coord_checks: int = Field(description="parametrizations with a stored coordinate check")
    plan_version: int | None = Field(description="the latest transfer plan's version (None: no plan yet)")
    target_run: TargetRunRef | None = Field(description="the latest target run (None: not launched)")


@router.get("/coord-check", response_model=CoordCheckList, summary="The coordinate check of a sweep")
def get_coord_check(sweep_id: SweepId, store: StoreDep, principal: ReaderDep) -> CoordCheckList:
    store.get_sweep(sweep_id, principal.project)
    with store.session() as session:
        query = select(CoordCheckResult).where(CoordCheckResult.sweep_id == sweep_id)
        rows = session.scalars(query.order_by(CoordCheckResult.id)).all()
        latest = {row.parametrization: CoordCheckOut.model_validate(row) for row in rows}
    return CoordCheckList(items=list(latest.values()))


@router.get("/outputs", response_model=OutputsOut, summary="Which outputs of a sweep exist so far")
def get_outputs(sweep_id: SweepId, store: StoreDep, principal: ReaderDep) -> OutputsOut:
    store.get_sweep(sweep_id, principal.project)
    with store.session() as session:
        checks = session.scalar(
            select(func.count(func.distinct(CoordCheckResult.parametrization))).where(
                CoordCheckResult.sweep_id == sweep_id
            )
        )
        latest_plan = select(func.max(TransferPlan.version)).where(TransferPlan.sweep_id == sweep_id)
        version = session.scalar(latest_plan)
        run = session.execute(
            select(TargetRun.id, TargetRun.status)
            .where(TargetRun.sweep_id == sweep_id)
            .order_by(TargetRun.id.desc())
            .limit(1)
        ).first()
    return OutputsOut(
        coord_checks=int(checks or 0),
        plan_version=version,
        target_run=TargetRunRef(id=run.id, status=run.status) if run else None,
    )
