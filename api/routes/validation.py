"""Dry-run validation of a sweep spec: the same parsing and checks as `POST /sweeps`, nothing stored.

A report, not an error: any mapping of fields (a draft) answers 200, with `valid: false` and one line per
problem when it is not a valid spec, so an editor (the web UI's form, a CI lint step) can check a draft
without producing failed requests. What is not a draft at all (no body, unparsable, not a mapping) is a
4xx, as the documented request body (a JSON object) says.
"""

from __future__ import annotations

from fastapi import APIRouter, Request
from pydantic import BaseModel, Field, ValidationError

from api.deps import ReaderDep, ServiceDep
from api.errors import ERROR_RESPONSES, ApiError
from api.routes.sweeps import parse_body
from orchestrator.spec import validation_messages

router = APIRouter(prefix="/sweeps", tags=["sweeps"], responses=ERROR_RESPONSES)


class ValidationReport(BaseModel):
    valid: bool
    errors: list[str] = Field(description="one line per problem: `field.path: what is wrong`")
    name: str | None = None
    total_trials: int | None = Field(None, description="proxy trials the sweep would run (valid specs only)")


@router.post(
    "/validate",
    response_model=ValidationReport,
    summary="Validate a sweep spec without submitting it",
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {
                "application/json": {
                    "schema": {"type": "object", "description": "a draft sweep spec (see SweepSpec)"}
                }
            },
        }
    },
)
async def validate_sweep(request: Request, service: ServiceDep, principal: ReaderDep) -> ValidationReport:
    """JSON or YAML body, as for `POST /sweeps`: 422 without a body or for one that is not a mapping,
    415/413 for a wrong type or size, 200 with the report otherwise."""
    data = parse_body(await request.body(), request.headers.get("content-type", ""))
    if not isinstance(data, dict):
        raise ApiError(422, f"the spec must be a mapping of fields, got {type(data).__name__}")
    try:
        spec = service.validate(data)
    except ValidationError as exc:
        return ValidationReport(valid=False, errors=validation_messages(exc))
    return ValidationReport(valid=True, errors=[], name=spec.name, total_trials=spec.total_trials())
