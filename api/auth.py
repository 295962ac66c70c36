"""Who is asking: the bearer token of a request becomes a `Principal` (a project, or every project).

A project token sees and changes only its project's sweeps; routes scope every query by
`principal.project`, and a sweep of another project is answered like one that does not exist (404).
A read-only token (dashboards) gets 403 on every write. `MUTRANSFER_ADMIN_TOKEN`, when set, is an
admin token (every project) from the first start, so automation needs no database step.

Auth is on by default. It can be switched off only explicitly (`serve --no-auth`, `MUTRANSFER_AUTH=off`)
for local single-user work such as the demo: the service then warns loudly and refuses to listen on
anything but a loopback address, so "off" can never be reachable from the network by accident.
"""

from __future__ import annotations

import hmac
import ipaddress
import logging
from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, HTTPException, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from orchestrator.settings import Settings, SettingsError
from orchestrator.store import DEFAULT_PROJECT
from orchestrator.tokens import lookup_token

log = logging.getLogger(__name__)

AUTH_OFF_WARNING = (
    "AUTH IS OFF: every client that can reach this service can read, change and delete every sweep. "
    "Use this only for local single-user work; remove --no-auth / MUTRANSFER_AUTH=off for anything shared."
)
TOKEN_HINT = (
    "create one with `mutransfer token create --project NAME` and send `Authorization: Bearer <token>`"
)

bearer = HTTPBearer(
    auto_error=False,
    scheme_name="ApiToken",
    description="a project token from `mutransfer token create`, or the admin token $MUTRANSFER_ADMIN_TOKEN",
)


@dataclass(frozen=True)
class Principal:
    """The caller: `project` None means every project (an admin token, or auth off)."""

    project: str | None = None
    read_only: bool = False
    can_run_code: bool = True  # may upload model code (admin and auth off: yes; a project token: if granted)

    @property
    def project_for_new_sweeps(self) -> str:
        return self.project or DEFAULT_PROJECT


def is_loopback(host: str) -> bool:
    """True for addresses only this machine can reach (127.0.0.0/8, ::1, `localhost`)."""
    if host.strip().lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:  # a host name other than localhost may resolve to anything: not loopback
        return False


def check_auth_mode(settings: Settings) -> None:
    """Refuse auth off on a non-loopback address; warn loudly when auth is off on loopback."""
    if settings.auth:
        return
    if not is_loopback(settings.host):
        raise SettingsError(
            f"refusing to serve {settings.host} with auth off: anyone on the network could change every "
            "sweep. Bind 127.0.0.1 (--host / $MUTRANSFER_HOST) or turn auth on (drop --no-auth, unset "
            f"MUTRANSFER_AUTH=off) and {TOKEN_HINT}"
        )
    log.warning(AUTH_OFF_WARNING)


def _unauthorized(detail: str) -> HTTPException:
    return HTTPException(401, detail, headers={"WWW-Authenticate": "Bearer"})


def _same_secret(given: str, expected: str) -> bool:
    return hmac.compare_digest(given.encode("utf-8"), expected.encode("utf-8"))


def get_principal(
    request: Request, credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)]
) -> Principal:
    """The principal of a request; 401, saying what to do, for a missing, malformed, unknown or revoked
    token."""
    settings: Settings = request.app.state.settings
    if not settings.auth:
        return Principal()
    if credentials is None:
        if request.headers.get("authorization"):
            raise _unauthorized("malformed Authorization header: send `Authorization: Bearer <token>`")
        raise _unauthorized(f"this API needs a token: {TOKEN_HINT}")
    token = credentials.credentials.strip()
    if settings.admin_token is not None and _same_secret(token, settings.admin_token.get_secret_value()):
        return Principal()
    info = lookup_token(request.app.state.service.store, token)
    if info is None:
        raise _unauthorized(f"the token is not valid (unknown, revoked or mistyped): {TOKEN_HINT}")
    return Principal(project=info.project, read_only=info.read_only, can_run_code=info.can_run_code)


def require_writer(principal: Annotated[Principal, Depends(get_principal)]) -> Principal:
    if principal.read_only:
        raise HTTPException(403, "this token is read-only; use a read-write token to change sweeps")
    return principal
