"""Imported studies and backtests (docs/import.md).

- `POST /imports?name=&hps=&axes=&format=&target=&diverged_above=`: the body is a CSV or JSON-lines file of
  finished runs; 201 with the new study's id and its first plan. A bad file is one 422 whose `errors` list
  every bad line and column; nothing is stored.
- `POST /sweeps/{id}/backtest` `{"hold_out": "n_params >= 1e9", "level": 0.9}`: plan from the other runs and
  score every held-out cell (an imported study, or a trained sweep's own runs).
- `GET /sweeps/{id}/runs`: the study's runs in the import format (CSV), to import elsewhere or back-test.
"""

from __future__ import annotations

import io
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request, Response
from pydantic import BaseModel, Field, ValidationError
from starlette.concurrency import run_in_threadpool

from api.deps import ReaderDep, StoreDep, WriterDep
from api.errors import ERROR_RESPONSES, ApiError
from api.routes.common import SweepId
from orchestrator.backtest import BacktestError
from orchestrator.holdout import HoldOutError
from orchestrator.imported import DesignError, Target
from orchestrator.importing import backtest_study, export_rows, import_study
from orchestrator.run_table import RunTableError, parse_runs, write_runs
from orchestrator.spec import validation_messages

router = APIRouter(tags=["imports"], responses=ERROR_RESPONSES)

FORMATS_BY_TYPE = {
    "text/csv": "csv",
    "application/csv": "csv",
    "application/x-ndjson": "jsonl",
    "application/jsonl": "jsonl",
    "application/json": "jsonl",
}


class ImportCreated(BaseModel):
    id: int
    name: str
    status: str
    runs: int
    diverged: int
    cells: int
    axes: list[str]
    hps: list[str]
    ignored_columns: list[str]
    plan_version: int | None = Field(None, description="the first plan's version (null: nothing to plan)")


class BacktestIn(BaseModel):
    hold_out: str = Field(..., min_length=1, max_length=500, examples=["n_params >= 1e9", "width == 1024"])
    level: float = Field(0.9, gt=0.5, lt=1.0, description="the intervals' two-sided level")


def _names(text: str | None) -> list[str] | None:
    return [n.strip() for n in text.split(",") if n.strip()] if text else None


@router.post(
    "/imports",
    status_code=201,
    response_model=ImportCreated,
    summary="Import finished runs",
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {
                "text/csv": {"schema": {"type": "string"}},
                "application/x-ndjson": {"schema": {"type": "string"}},
            },
        }
    },
)
async def create_import(
    request: Request,
    response: Response,
    store: StoreDep,
    principal: WriterDep,
    name: Annotated[str | None, Query(max_length=200, description="the study's name")] = None,
    hps: Annotated[str | None, Query(max_length=500, description="swept HP columns, comma-separated")] = None,
    axes: Annotated[str | None, Query(max_length=500, description="axis columns, comma-separated")] = None,
    format: Annotated[str | None, Query(pattern="^(csv|jsonl)$", description="csv or jsonl")] = None,
    target: Annotated[
        str | None, Query(max_length=500, description="the target, e.g. width=4096,tokens=2e11")
    ] = None,
    diverged_above: Annotated[float, Query(gt=0, description="a larger loss is a diverged run")] = 100.0,
) -> ImportCreated:
    raw = await request.body()
    media = request.headers.get("content-type", "").split(";")[0].strip().lower()
    chosen = format or FORMATS_BY_TYPE.get(media)
    try:
        table = parse_runs(
            raw,
            source=name or "upload",
            format=chosen,
            hps=_names(hps),
            axes=_names(axes),
            diverged_above=diverged_above,
        )
        planned_for = Target.parse(target)
        sweep_id, plan = await run_in_threadpool(
            import_study,
            store,
            table,
            name=name,
            project=principal.project_for_new_sweeps,
            target=planned_for,
        )
    except RunTableError as exc:
        raise ApiError(422, str(exc).splitlines()[0], [str(p) for p in exc.problems]) from None
    except DesignError as exc:
        raise ApiError(422, str(exc)) from None
    response.headers["Location"] = f"{request.url.path.rsplit('/imports', 1)[0]}/sweeps/{sweep_id}"
    summary = table.to_dict()
    return ImportCreated(
        id=sweep_id,
        name=name or table.source,
        status="imported",
        runs=summary["n_runs"],
        diverged=summary["n_diverged"],
        cells=summary["n_cells"],
        axes=table.axes,
        hps=table.hps,
        ignored_columns=table.ignored_columns,
        plan_version=plan.version if plan is not None else None,
    )


@router.post(
    "/sweeps/{sweep_id}/backtest",
    summary="Back-test the planner on held-out runs",
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {"application/json": {"schema": {"$ref": "#/components/schemas/BacktestIn"}}},
        }
    },
)
async def post_backtest(
    sweep_id: SweepId, request: Request, store: StoreDep, principal: ReaderDep
) -> dict[str, Any]:
    # the study first: another project's (or a missing) one is a 404 whatever the body holds
    store.get_sweep(sweep_id, principal.project)
    try:
        body = BacktestIn.model_validate_json(await request.body() or b"{}")
    except ValidationError as exc:
        errors = validation_messages(exc)
        raise ApiError(422, "invalid backtest request: " + "; ".join(errors), errors) from None
    try:
        result = await run_in_threadpool(backtest_study, store, sweep_id, body.hold_out, level=body.level)
    except (HoldOutError, BacktestError, DesignError, RunTableError) as exc:
        raise ApiError(422, str(exc)) from None
    return result.to_dict()


@router.get(
    "/sweeps/{sweep_id}/runs",
    summary="The study's runs in the import format (CSV)",
    response_class=Response,
    responses={200: {"content": {"text/csv": {"schema": {"type": "string"}}}, "description": "CSV"}},
)
def get_runs(sweep_id: SweepId, store: StoreDep, principal: ReaderDep) -> Response:
    store.get_sweep(sweep_id, principal.project)
    buffer = io.StringIO()
    write_runs(export_rows(store, sweep_id), buffer)
    return Response(buffer.getvalue(), media_type="text/csv")
