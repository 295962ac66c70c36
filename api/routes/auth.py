"""`GET /auth/whoami`: what the caller's token grants, so a client (the web UI's token prompt, a script)
can check a token before using it, and learn whether the service asks for one at all."""

from __future__ import annotations

from fastapi import APIRouter, Request
from pydantic import BaseModel, Field

from api.deps import ReaderDep
from api.errors import ERROR_RESPONSES

router = APIRouter(
    prefix="/auth", tags=["auth"], responses={401: ERROR_RESPONSES[401], 503: ERROR_RESPONSES[503]}
)


class WhoAmI(BaseModel):
    auth: bool = Field(description="whether the service requires tokens (false: local single-user mode)")
    project: str | None = Field(description="the token's project; null: every project (admin, or auth off)")
    read_only: bool
    can_run_code: bool = Field(
        description="whether this caller may upload model code (family: custom) here: the token's permission "
        "and the service's MUTRANSFER_ALLOW_USER_CODE"
    )


@router.get("/whoami", response_model=WhoAmI, summary="What the caller's token grants")
def whoami(request: Request, principal: ReaderDep) -> WhoAmI:
    return WhoAmI(
        auth=request.app.state.settings.auth,
        project=principal.project,
        read_only=principal.read_only,
        can_run_code=principal.can_run_code and request.app.state.settings.user_code_allowed,
    )
