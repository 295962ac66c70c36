"""The FastAPI application: `create_app(settings)` wires the service, routes, limits and error handlers.

The app's lifespan starts the `Service` (schema upgrade, sweep runner) and stops it on shutdown, so
`uvicorn`, the CLI's `serve`/`demo` and tests all run the same start-up path.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI
from fastapi.middleware.gzip import GZipMiddleware
from fastapi.openapi.utils import get_openapi

from api.auth import check_auth_mode
from api.errors import install_error_handlers
from api.limits import BodySizeLimitMiddleware, RequestTimeoutMiddleware
from api.metrics import install_metrics
from api.routes import (
    auth,
    code,
    health,
    imports,
    outputs,
    plans,
    statuses,
    sweeps,
    trials,
    validation,
    webhooks,
)
from api.ui import mount_ui
from orchestrator.service import Service
from orchestrator.settings import Settings
from orchestrator.spec import SweepSpec

API_PREFIX = "/api/v1"


def create_app(settings: Settings | None = None, service: Service | None = None) -> FastAPI:
    """An app over `service` (default: a new `Service(settings)`), which the app starts and stops."""
    settings = settings or Settings.load()
    check_auth_mode(settings)
    service = service or Service(settings)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        service.start()
        try:
            yield
        finally:
            service.stop()

    app = FastAPI(
        title="mutransfer",
        summary="Push-button μP hyperparameter transfer: sweep proxies on Ray, fit, launch the target run.",
        version="1",
        lifespan=lifespan,
        docs_url="/docs",
        openapi_url=f"{API_PREFIX}/openapi.json",
    )
    app.state.service = service
    app.state.settings = settings
    app.add_middleware(
        BodySizeLimitMiddleware,
        max_bytes=settings.max_body_bytes,
        larger={f"{API_PREFIX}/code": (settings.max_code_bytes, "MUTRANSFER_MAX_CODE_BYTES")},
    )
    app.add_middleware(RequestTimeoutMiddleware, seconds=settings.request_timeout_s)
    # JSON pages of thousands of trials shrink ~10×; level 5 costs a few ms per MB. A response that is
    # already encoded (Chart.js, api/ui/assets.py) passes through untouched.
    app.add_middleware(GZipMiddleware, minimum_size=1024, compresslevel=5)
    install_error_handlers(app)
    install_metrics(app)
    for module in (
        health,
        statuses,
        auth,
        sweeps,
        code,
        webhooks,
        validation,
        trials,
        outputs,
        plans,
        imports,
    ):
        app.include_router(module.router, prefix=API_PREFIX)
    mount_ui(app)
    app.openapi = lambda: _openapi_with_spec_schema(app)  # type: ignore[method-assign]
    return app


def _openapi_with_spec_schema(app: FastAPI) -> dict[str, Any]:
    """The OpenAPI document, with `SweepSpec` (the POST /sweeps body, validated in the route under the
    service's configurable limits rather than by FastAPI) and `BacktestIn` (read in its route after the
    study is found, so another project's study is a 404 whatever the body) added to its components."""
    if app.openapi_schema is None:
        schema = get_openapi(title=app.title, version=app.version, summary=app.summary, routes=app.routes)
        spec_schema = SweepSpec.model_json_schema(ref_template="#/components/schemas/{model}")
        components = schema.setdefault("components", {}).setdefault("schemas", {})
        components.update(spec_schema.pop("$defs", {}))
        components["SweepSpec"] = spec_schema
        components["BacktestIn"] = imports.BacktestIn.model_json_schema()  # read in the route, like the spec
        app.openapi_schema = schema
    return app.openapi_schema
