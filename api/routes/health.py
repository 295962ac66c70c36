"""Liveness (the process answers) and readiness (the database answers too)."""

from __future__ import annotations

from importlib.metadata import PackageNotFoundError, version

from fastapi import APIRouter

from api.deps import ServiceDep
from api.errors import ERROR_RESPONSES, ApiError
from api.schemas import HealthOut, ReadyOut

router = APIRouter(tags=["health"], responses={503: ERROR_RESPONSES[503]})


def _version() -> str:
    try:
        return version("mutransfer")
    except PackageNotFoundError:
        return "unknown"


@router.get("/health", response_model=HealthOut, summary="Liveness")
def health() -> HealthOut:
    return HealthOut(status="ok", version=_version())


@router.get("/ready", response_model=ReadyOut, summary="Readiness: the database answers")
def ready(service: ServiceDep) -> ReadyOut:
    try:
        service.store.ping()
    except Exception as exc:  # any failure to reach the database means: not ready
        raise ApiError(503, f"not ready: database unreachable ({exc.__class__.__name__})") from None
    return ReadyOut(status="ready", database="ok", runner=service.runs_sweeps)
