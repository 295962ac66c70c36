"""`POST /code`: upload a model's code directory, as the zip `mutransfer submit --code DIR` packs, before a
sweep whose `model.code` names it by digest (docs/external-models.md)."""

from __future__ import annotations

from fastapi import APIRouter, Request, Response
from pydantic import BaseModel, Field
from starlette.concurrency import run_in_threadpool

from api.deps import ServiceDep, WriterDep
from api.errors import ERROR_RESPONSES

router = APIRouter(prefix="/code", tags=["code"], responses=ERROR_RESPONSES)

DIGEST_HEADER = "X-Content-SHA256"


class CodeUploaded(BaseModel):
    digest: str = Field(description="sha256:<hex>, what the spec's model.code names")
    size: int
    created: bool = Field(description="false: the same archive was already stored")


@router.post(
    "",
    status_code=201,
    response_model=CodeUploaded,
    summary="Upload model code (a zip of the directory holding the model's package)",
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {"application/octet-stream": {"schema": {"type": "string", "format": "binary"}}},
        },
        "parameters": [
            {
                "name": DIGEST_HEADER,
                "in": "header",
                "required": True,
                "schema": {"type": "string", "pattern": "^sha256:[0-9a-f]{64}$"},
                "description": "the archive's sha256 as the client computed it; a mismatch is refused",
            }
        ],
    },
)
async def upload_code(
    request: Request, response: Response, service: ServiceDep, principal: WriterDep
) -> CodeUploaded:
    """Needs MUTRANSFER_ALLOW_USER_CODE on the service and a token with the code permission (else 403).
    Too large: 413; bytes that do not hash to the header's digest: 400; an unusable archive: 422."""
    data = await request.body()
    claimed = request.headers.get(DIGEST_HEADER)
    digest, created = await run_in_threadpool(service.upload_code, data, claimed, principal.can_run_code)
    if not created:
        response.status_code = 200
    return CodeUploaded(digest=digest, size=len(data), created=created)
