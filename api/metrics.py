"""`GET /metrics`: the service in Prometheus' text format (docs/operations.md, "Prometheus").

Three sources, one page:
- read from the store at scrape time: sweeps and trials per status, the queue (sweeps waiting to run);
- the executor's cluster: CPUs and GPUs, and how many are in use;
- counted where things happen: trials finished and ingest rows and latency (`orchestrator/telemetry.py`),
  and, here, HTTP request latency per route template (`/api/v1/sweeps/{sweep_id}`, never the raw path, so
  the label set stays bounded).

The page tells how busy the service is and how many sweeps and trials each project holds, so it needs a token
like any read, unless the operator makes it public (`MUTRANSFER_METRICS_PUBLIC=1`) for a scraper inside a
trusted network.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Annotated

from fastapi import APIRouter, Depends, FastAPI, Request, Response
from fastapi.security import HTTPAuthorizationCredentials
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Histogram, generate_latest
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from api.auth import bearer, get_principal
from api.errors import ERROR_RESPONSES
from orchestrator import telemetry
from orchestrator.status import SweepStatus

router = APIRouter(tags=["health"])


class ServiceCollector(Collector):
    """Gauges read when Prometheus scrapes: nothing to keep in step with the database."""

    def __init__(self, app: FastAPI) -> None:
        self.app = app

    def collect(self) -> Iterator[Metric]:
        service = self.app.state.service
        sweeps, trials = service.store.status_counts()
        by_status = GaugeMetricFamily("mutransfer_sweeps", "Sweeps per status", labels=["status"])
        for status, n in sorted(sweeps.items()):
            by_status.add_metric([status], n)
        yield by_status
        trial_gauge = GaugeMetricFamily("mutransfer_trials", "Proxy trials per status", labels=["status"])
        for status, n in sorted(trials.items()):
            trial_gauge.add_metric([status], n)
        yield trial_gauge
        yield GaugeMetricFamily(
            "mutransfer_queue_depth",
            "Sweeps waiting for the runner (queued)",
            value=sweeps.get(SweepStatus.QUEUED.value, 0),
        )
        usage = service.cluster_usage() or {}
        for name in ("cpus", "gpus"):
            help_text = f"{name.upper()[:-1]}s of the Ray cluster, and in use by trials and tasks"
            gauge = GaugeMetricFamily(f"mutransfer_cluster_{name}", help_text, labels=["state"])
            if usage:
                gauge.add_metric(["total"], usage[name])
                gauge.add_metric(["in_use"], usage[f"{name}_in_use"])
            yield gauge


class _Process(Collector):
    def collect(self) -> Iterator[Metric]:
        yield from telemetry.REGISTRY.collect()


class RequestLatency:
    """ASGI middleware: the latency of every HTTP request, labelled by method, route template and status."""

    def __init__(self, app: ASGIApp, histogram: Histogram) -> None:
        self.app = app
        self.histogram = histogram

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500

        async def record_status(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
            await send(message)

        try:
            await self.app(scope, receive, record_status)
        finally:
            template = route_template(scope)
            self.histogram.labels(scope["method"], template, str(status)).observe(
                time.perf_counter() - started
            )


def route_template(scope: Scope) -> str:
    """The matched route's template with every prefix it was included under: `/api/v1/sweeps/{sweep_id}`
    (a route knows only its own router's prefix; the rest is what the request path has before it)."""
    route = getattr(scope.get("route"), "path_format", None)
    if not route:
        return "(unmatched)"
    params = {name: str(value) for name, value in (scope.get("path_params") or {}).items()}
    try:
        concrete = route.format(**params)
    except (KeyError, IndexError, ValueError):
        return route
    path = scope.get("path", "")
    return path[: len(path) - len(concrete)] + route if path.endswith(concrete) else route


def install_metrics(app: FastAPI) -> None:
    """A registry for this app (the HTTP histogram, the store's gauges, the process counters), the latency
    middleware and the `/metrics` route."""
    # auto_describe off: registering must not scrape (the store's tables may not exist before start-up)
    registry = CollectorRegistry(auto_describe=False)
    latency = Histogram(
        "mutransfer_http_request_duration_seconds",
        "HTTP request latency by method, route template and status",
        ["method", "route", "status"],
        registry=registry,
    )
    registry.register(ServiceCollector(app))
    registry.register(_Process())
    app.state.metrics_registry = registry
    app.add_middleware(RequestLatency, histogram=latency)
    app.include_router(router)


def _allowed(
    request: Request, credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)]
) -> None:
    if not request.app.state.settings.metrics_public:
        get_principal(request, credentials)  # 401 without a valid token, as for any read


@router.get(
    "/metrics",
    summary="Prometheus metrics (a token, unless MUTRANSFER_METRICS_PUBLIC=1)",
    response_class=Response,
    responses={
        200: {"content": {CONTENT_TYPE_LATEST: {}}, "description": "Prometheus text format"},
        401: ERROR_RESPONSES[401],
        503: ERROR_RESPONSES[503],
    },
    dependencies=[Depends(_allowed)],
)
def metrics(request: Request) -> Response:
    return Response(generate_latest(request.app.state.metrics_registry), media_type=CONTENT_TYPE_LATEST)
