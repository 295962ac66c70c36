"""Dry-run validation of a sweep spec: the same parsing and checks as `POST /sweeps`, nothing stored.

A report, not an error: a draft answers 200, with `valid: false` and one line per problem when it is not a
valid spec, so an editor (the web UI's form, a CI lint step) can check a draft without producing failed
requests. A draft is YAML text (anything, even text that does not parse: the report says where) or a JSON
object, as the documented request body says; no body, or JSON that is not an object, is a 422.
"""

from __future__ import annotations

from fastapi import APIRouter, Request
from pydantic import BaseModel, Field, ValidationError

from api.deps import ReaderDep, ServiceDep
from api.errors import ERROR_RESPONSES, ApiError
from api.routes.sweeps import YAML_TYPES, parse_body
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
                },
                # YAML is text: any draft, even one that does not parse, gets a report
                "application/yaml": {"schema": {"description": "a draft sweep spec in YAML (see SweepSpec)"}},
            },
        }
    },
)
async def validate_sweep(request: Request, service: ServiceDep, principal: ReaderDep) -> ValidationReport:
    """JSON or YAML body, as for `POST /sweeps`: 422 without a body or for JSON that is not an object,
    415/413 for a wrong type or size, 200 with the report otherwise."""
    raw = await request.body()
    content_type = request.headers.get("content-type", "")
    yaml_draft = raw.strip() and content_type.split(";")[0].strip().lower() in YAML_TYPES
    try:
        data = parse_body(raw, content_type)
    except ApiError as exc:
        if exc.status_code != 422 or not yaml_draft:
            raise
        return ValidationReport(valid=False, errors=[exc.detail])
    if not isinstance(data, dict):
        problem = f"the spec must be a mapping of fields, got {type(data).__name__}"
        if not yaml_draft:
            raise ApiError(422, problem)
        return ValidationReport(valid=False, errors=[problem])
    try:
        spec = service.validate(data)
    except ValidationError as exc:
        return ValidationReport(valid=False, errors=validation_messages(exc))
    return ValidationReport(valid=True, errors=[], name=spec.name, total_trials=spec.total_trials())
