"""Limits that keep one request from exhausting the service: a body size cap, enforced while the body
streams in (a lying or absent Content-Length does not get around it), and a per-request time limit.

Caps on a sweep's size live in the spec (`orchestrator.spec.Limits`), caps on pages in `api.routes.common`.
"""

from __future__ import annotations

import asyncio
import logging

from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from api.errors import error_response

log = logging.getLogger(__name__)


class BodySizeLimitMiddleware:
    """`max_bytes` for every path, except the paths in `larger` (path -> (limit, the variable that sets it)):
    a code archive may be larger than a spec."""

    def __init__(self, app: ASGIApp, max_bytes: int, larger: dict[str, tuple[int, str]] | None = None):
        self.app = app
        self.max_bytes = max_bytes
        self.larger = larger or {}

    def _too_large(self, limit: int, variable: str) -> str:
        return f"request body exceeds the limit of {limit} bytes ({variable})"

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        limit, variable = self.larger.get(
            scope.get("path", ""), (self.max_bytes, "MUTRANSFER_MAX_BODY_BYTES")
        )
        declared = dict(scope["headers"]).get(b"content-length")
        if declared is not None:
            try:
                length = int(declared)
            except ValueError:
                await error_response(400, "Content-Length is not an integer")(scope, receive, send)
                return
            if length > limit:
                await error_response(413, self._too_large(limit, variable))(scope, receive, send)
                return
        received = 0

        async def limited_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    raise HTTPException(413, self._too_large(limit, variable))
            return message

        await self.app(scope, limited_receive, send)


class RequestTimeoutMiddleware:
    """Answers 504 when a request runs longer than `seconds`, so a slow query cannot hold a client (or a
    proxy's connection) forever. What it bounds is the wait: a synchronous route already running in the
    thread pool finishes its current statement in the background; the pagination caps bound that work."""

    def __init__(self, app: ASGIApp, seconds: float):
        self.app = app
        self.seconds = seconds

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = False

        async def tracking_send(message: Message) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        deadline = asyncio.timeout(self.seconds)
        try:
            async with deadline:
                await self.app(scope, receive, tracking_send)
        except TimeoutError:
            if not deadline.expired():
                raise
            log.warning("request %s %s timed out after %s s", scope["method"], scope["path"], self.seconds)
            if started:  # headers already sent: all that is left is to end the response
                return
            detail = (
                f"the request took longer than {self.seconds:g} s (MUTRANSFER_REQUEST_TIMEOUT_S) and was "
                "abandoned; ask for less (a smaller page, a since_step) or retry"
            )
            await error_response(504, detail)(scope, receive, send)
