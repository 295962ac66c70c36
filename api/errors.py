"""Every error leaves the API as JSON `{"detail": "..."}` with a message that says what to fix.

Bad input is a 4xx (422 names each invalid field), a missing or foreign resource a 404, a state
conflict a 409, an unreachable database a 503 (retry later, nothing was lost), and only a bug a 500.
"""

from __future__ import annotations

import logging
import re

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from api.schemas import ErrorOut
from orchestrator.rejected import Rejected
from orchestrator.status import IllegalTransition
from orchestrator.store import Conflict, NotFound, StoreError
from orchestrator.store.errors import UNAVAILABLE, connection_lost
from orchestrator.user_code import UserCodeRefused

log = logging.getLogger(__name__)
HTTP_METHODS = frozenset({"get", "put", "post", "delete", "options", "head", "patch", "trace"})

# Documented on every route so that clients (and the contract test, tests/api/test_contract.py) know the
# error shape.
ERROR_RESPONSES: dict[int | str, dict] = {
    code: {"model": ErrorOut, "description": text}
    for code, text in {
        400: "malformed request",
        401: "missing, malformed, unknown or revoked API token",
        403: "read-only credentials",
        404: "no such resource (or not in your project)",
        409: "the resource is in a state that does not allow this",
        413: "request body too large",
        415: "unsupported content type",
        422: "invalid input: `errors` lists each field and what to fix",
        503: "database unavailable: retry shortly",
        504: "the request took too long and was abandoned",
    }.items()
}


class ApiError(Exception):
    """An error with its HTTP status, raised by routes for conditions the store does not know about."""

    def __init__(self, status_code: int, detail: str, errors: list[str] | None = None):
        super().__init__(detail)
        self.status_code = status_code
        self.detail = detail
        self.errors = errors


def error_response(status_code: int, detail: str, errors: list[str] | None = None) -> JSONResponse:
    body = ErrorOut(detail=detail, errors=errors).model_dump(exclude_none=True)
    return JSONResponse(status_code=status_code, content=body)


def _location(loc: tuple) -> str:
    return ".".join(str(part) for part in loc if part != "body") or "request"


async def _request_validation(request: Request, exc: RequestValidationError) -> JSONResponse:
    allowed = allowed_methods(request)
    if allowed and request.method not in allowed:
        # e.g. GET /sweeps/validate: the router tried /sweeps/{sweep_id}, but the literal resource is
        # /sweeps/validate, which takes POST only
        return _method_not_allowed(request, allowed)
    errors = [f"{_location(tuple(e['loc']))}: {e['msg']}" for e in exc.errors()]
    return error_response(422, "invalid request: " + "; ".join(errors), errors)


async def _http_exception(request: Request, exc: StarletteHTTPException) -> JSONResponse:
    detail = str(exc.detail)
    if exc.status_code == 404 and detail == "Not Found":  # the router's own: no route matched
        detail = (
            f"no such endpoint: {request.method} {request.url.path} (the API is under /api/v1; see /docs)"
        )
    elif exc.status_code == 405:
        return _method_not_allowed(request, allowed_methods(request))
    response = error_response(exc.status_code, detail)
    for name, value in (exc.headers or {}).items():
        response.headers[name] = value
    return response


def _method_not_allowed(request: Request, allowed: list[str]) -> JSONResponse:
    detail = f"{request.method} is not allowed on {request.url.path}; it takes {', '.join(allowed)}"
    response = error_response(405, detail)
    response.headers["Allow"] = ", ".join(allowed)
    return response


def allowed_methods(request: Request) -> list[str]:
    """The methods the OpenAPI document gives the requested resource. Starlette answers 405 with the methods
    of the first route whose path matched, which leaves out a DELETE or POST declared on a sibling route of
    the same path; and a literal path (`/sweeps/validate`) is its own resource, not an instance of
    `/sweeps/{sweep_id}`."""
    paths: dict[str, dict] = request.app.openapi().get("paths", {})
    path = request.url.path
    if path not in paths:
        matching = [t for t in paths if re.fullmatch(re.sub(r"\{[^/}]+\}", "[^/]+", t), path)]
        # the template with the most literal segments is the resource (as the router prefers it)
        path = max(matching, key=lambda t: sum(not seg.startswith("{") for seg in t.split("/")), default="")
    return sorted(m.upper() for m in paths.get(path, {}) if m in HTTP_METHODS)


async def _api_error(_: Request, exc: ApiError) -> JSONResponse:
    return error_response(exc.status_code, exc.detail, exc.errors)


async def _store_error(_: Request, exc: StoreError | IllegalTransition) -> JSONResponse:
    status = (
        404 if isinstance(exc, NotFound) else 409 if isinstance(exc, Conflict | IllegalTransition) else 400
    )
    return error_response(status, str(exc))


async def _user_code_refused(_: Request, exc: UserCodeRefused) -> JSONResponse:
    return error_response(403, str(exc))


async def _rejected(_: Request, exc: Rejected) -> JSONResponse:
    return error_response(exc.status, str(exc))


async def _database_unavailable(_: Request, exc: Exception) -> JSONResponse:
    if not connection_lost(exc):
        return await _unexpected(_, exc)
    log.warning("database unavailable: %s", exc.__class__.__name__)
    response = error_response(503, "database unavailable; retry in a few seconds (nothing was lost)")
    response.headers["Retry-After"] = "5"
    return response


async def _unexpected(_: Request, exc: Exception) -> JSONResponse:
    log.exception("unhandled error", exc_info=exc)
    return error_response(500, f"internal error ({exc.__class__.__name__}); it has been logged")


def install_error_handlers(app: FastAPI) -> None:
    app.add_exception_handler(RequestValidationError, _request_validation)
    app.add_exception_handler(StarletteHTTPException, _http_exception)
    app.add_exception_handler(ApiError, _api_error)
    app.add_exception_handler(StoreError, _store_error)
    app.add_exception_handler(IllegalTransition, _store_error)
    app.add_exception_handler(UserCodeRefused, _user_code_refused)
    app.add_exception_handler(Rejected, _rejected)
    for db_error in UNAVAILABLE:
        app.add_exception_handler(db_error, _database_unavailable)
    app.add_exception_handler(Exception, _unexpected)
