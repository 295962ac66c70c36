"""Sweeps: submit, list, inspect, cancel, delete; and a sweep's event log."""

from __future__ import annotations

import json
from typing import Annotated, Any

import yaml
from fastapi import APIRouter, Query, Request, Response
from pydantic import ValidationError
from starlette.concurrency import run_in_threadpool

from api.deps import ReaderDep, ServiceDep, StoreDep, WriterDep
from api.errors import ERROR_RESPONSES, ApiError
from api.routes.common import MAX_ID, Limit, Offset, SweepId
from api.schemas import EventOut, EventPage, ProgressOut, SweepCreated, SweepDetail, SweepPage, SweepSummary
from orchestrator import budget
from orchestrator.importing import is_imported
from orchestrator.spec import stored_spec, validation_messages
from orchestrator.status import SweepStatus
from orchestrator.store import Progress, Sweep, SweepFilter

router = APIRouter(prefix="/sweeps", tags=["sweeps"], responses=ERROR_RESPONSES)

JSON_TYPES = ("application/json",)
YAML_TYPES = ("application/yaml", "application/x-yaml", "text/yaml", "text/x-yaml")


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a valid number in a sweep spec")


def parse_body(raw: bytes, content_type: str) -> Any:
    """Decode a JSON (or YAML, for `curl --data-binary @spec.yaml`) body; errors become 4xx messages."""
    media_type = content_type.split(";")[0].strip().lower()
    if not raw.strip():
        raise ApiError(422, "the request body is empty: send a sweep spec as JSON (see examples/*.yaml)")
    if media_type in YAML_TYPES:
        try:
            return yaml.safe_load(raw)
        except yaml.YAMLError as exc:
            raise ApiError(422, f"the body is not valid YAML: {exc}") from None
    if media_type and media_type not in JSON_TYPES:
        raise ApiError(
            415, f"unsupported content type {media_type!r}: send application/json or application/yaml"
        )
    try:
        return json.loads(raw, parse_constant=_reject_constant)
    except UnicodeDecodeError:
        raise ApiError(422, "the body is not UTF-8 text") from None
    except ValueError as exc:
        raise ApiError(422, f"the body is not valid JSON: {exc}") from None
    except RecursionError:
        raise ApiError(422, "the body is nested too deeply") from None


def summary_fields(sweep: Sweep, progress: Progress) -> dict[str, Any]:
    simple = set(SweepSummary.model_fields) - {"project", "tags", "progress"}
    return {
        **{name: getattr(sweep, name) for name in simple},
        "project": sweep.project.name,
        "tags": list(sweep.tags or []),
        "progress": ProgressOut(**progress.__dict__),
    }


@router.post(
    "",
    status_code=201,
    response_model=SweepCreated,
    summary="Submit a sweep",
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {"application/json": {"schema": {"$ref": "#/components/schemas/SweepSpec"}}},
        }
    },
)
async def create_sweep(
    request: Request, response: Response, service: ServiceDep, principal: WriterDep
) -> SweepCreated:
    """Validate the spec under the service's limits and queue it; the body is the spec itself."""
    data = parse_body(await request.body(), request.headers.get("content-type", ""))
    if not isinstance(data, dict):
        raise ApiError(422, f"the body must be a JSON object (a sweep spec), got {type(data).__name__}")
    try:
        # In the thread pool: a slow or locked database must not stall the event loop (every request).
        sweep = await run_in_threadpool(
            service.submit, data, principal.project_for_new_sweeps, principal.can_run_code
        )
    except ValidationError as exc:
        errors = validation_messages(exc)
        raise ApiError(422, "invalid sweep spec: " + "; ".join(errors), errors) from None
    response.headers["Location"] = f"{request.url.path}/{sweep.id}"
    return SweepCreated(id=sweep.id, name=sweep.name, status=sweep.status, total_trials=sweep.total_trials)


@router.get("", response_model=SweepPage, summary="List sweeps, newest first")
def list_sweeps(
    store: StoreDep,
    principal: ReaderDep,
    status: Annotated[SweepStatus | None, Query(description="only sweeps in this status")] = None,
    name: Annotated[str | None, Query(max_length=200, description="name contains (case-insensitive)")] = None,
    tag: Annotated[str | None, Query(max_length=64, description="only sweeps with this tag")] = None,
    limit: Limit = 50,
    offset: Offset = 0,
) -> SweepPage:
    filters = SweepFilter(
        status=status.value if status else None, name=name, tag=tag, project=principal.project
    )
    sweeps, total = store.list_sweeps(filters, limit=limit, offset=offset)
    progress = store.progress_many([s.id for s in sweeps])
    items = [SweepSummary(**summary_fields(s, progress[s.id])) for s in sweeps]
    return SweepPage(items=items, total=total, limit=limit, offset=offset)


@router.get("/{sweep_id}", response_model=SweepDetail, summary="One sweep: spec, status, progress")
def get_sweep(sweep_id: SweepId, store: StoreDep, principal: ReaderDep) -> SweepDetail:
    sweep = store.get_sweep(sweep_id, principal.project)
    fields = summary_fields(sweep, store.progress(sweep_id))
    # an imported study's runs were trained elsewhere: it has no budget (orchestrator/importing.py)
    spent = None if is_imported(sweep.spec) else budget.describe(store, sweep_id, stored_spec(sweep.spec))
    return SweepDetail(**fields, spec=sweep.spec, spec_version=sweep.spec_version, budget=spent)


@router.post("/{sweep_id}/cancel", response_model=SweepSummary, summary="Cancel a sweep")
def cancel_sweep(sweep_id: SweepId, service: ServiceDep, principal: WriterDep) -> SweepSummary:
    """A queued sweep is cancelled at once; a running one stops its trials within seconds."""
    sweep = service.cancel(sweep_id, principal.project)
    progress = service.store.progress(sweep_id)
    return SweepSummary(**summary_fields(sweep, progress))


@router.delete("/{sweep_id}", status_code=204, summary="Delete a sweep and all its results")
def delete_sweep(
    sweep_id: SweepId,
    store: StoreDep,
    principal: WriterDep,
    force: Annotated[bool, Query(description="delete even while it runs")] = False,
) -> Response:
    store.delete_sweep(sweep_id, force=force, project=principal.project)
    return Response(status_code=204)


@router.get("/{sweep_id}/events", response_model=EventPage, summary="A sweep's event log")
def list_events(
    sweep_id: SweepId,
    store: StoreDep,
    principal: ReaderDep,
    after_id: Annotated[int | None, Query(ge=0, le=MAX_ID, description="only events after this id")] = None,
    limit: Limit = 200,
) -> EventPage:
    store.get_sweep(sweep_id, principal.project)
    events = store.list_events(sweep_id, after_id=after_id, limit=limit)
    items = [EventOut.model_validate(e) for e in events]
    return EventPage(items=items, next_after_id=items[-1].id if items else after_id)
