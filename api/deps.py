"""Dependencies handed to routes: the service, its store, and who is asking.

Who is asking (`get_principal`, `require_writer`) is decided in `api.auth` from the request's bearer
token: the caller's project (None: every project, as for an admin or with auth off) and
whether the caller may write. Routes scope every query by `principal.project`.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from api.auth import Principal, get_principal, require_writer
from orchestrator.service import Service
from orchestrator.store import SweepStore

__all__ = ["Principal", "ReaderDep", "ServiceDep", "StoreDep", "WriterDep", "get_principal", "require_writer"]


def get_service(request: Request) -> Service:
    return request.app.state.service


def get_store(service: Annotated[Service, Depends(get_service)]) -> SweepStore:
    return service.store


ServiceDep = Annotated[Service, Depends(get_service)]
StoreDep = Annotated[SweepStore, Depends(get_store)]
ReaderDep = Annotated[Principal, Depends(get_principal)]
WriterDep = Annotated[Principal, Depends(require_writer)]
