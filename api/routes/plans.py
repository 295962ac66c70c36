"""Making plans and launching target runs (the writes; the reads live in `api/routes/outputs.py`).

- `POST /sweeps/{id}/plan`: plan again from the stored trials -> a new version (201; the old versions
  stay readable at `GET .../plan?version=n`);
- `POST /sweeps/{id}/target-run`: launch (or relaunch) the target from the latest plan (202; the runner
  trains it on Ray, `GET .../target-run` and `.../target-run/metrics` follow it).

409 when the sweep's state does not allow it, with the reason; 404 for a missing or foreign sweep.
"""

from __future__ import annotations

from fastapi import APIRouter, status
from starlette.concurrency import run_in_threadpool

from api.deps import ServiceDep, StoreDep, WriterDep
from api.errors import ERROR_RESPONSES
from api.routes.common import SweepId
from api.routes.outputs import PlanOut, TargetRunOut
from orchestrator.planning import make_plan
from orchestrator.status import BEFORE_PLANNING
from orchestrator.store import Conflict

router = APIRouter(prefix="/sweeps/{sweep_id}", tags=["outputs"], responses=ERROR_RESPONSES)


@router.post(
    "/plan",
    response_model=PlanOut,
    status_code=status.HTTP_201_CREATED,
    summary="Plan again from the stored trials (a new version)",
)
async def replan(sweep_id: SweepId, store: StoreDep, principal: WriterDep) -> PlanOut:
    sweep = store.get_sweep(sweep_id, principal.project)
    if sweep.status in BEFORE_PLANNING:
        raise Conflict(
            f"sweep {sweep_id} is {sweep.status}: its proxy trials are not finished; it is planned "
            "automatically when they are"
        )
    row = await run_in_threadpool(make_plan, store, sweep_id)  # bootstrap fits take a moment: off the loop
    return PlanOut.model_validate(row)


@router.post(
    "/target-run",
    response_model=TargetRunOut,
    status_code=status.HTTP_202_ACCEPTED,
    summary="Launch (or relaunch) the target run from the latest plan",
)
def post_target_run(sweep_id: SweepId, service: ServiceDep, principal: WriterDep) -> TargetRunOut:
    return TargetRunOut.model_validate(service.launch_target(sweep_id, principal.project))
