"""Dependencies handed to routes: the service, its store, and who is asking.

`get_principal` is the seam for API tokens (issue 6): it returns the caller's project (None: every
project, as for an admin or with auth off) and whether the caller may write. Routes scope every
query by `principal.project`, so swapping in token auth changes this function only.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, HTTPException, Request

from orchestrator.service import Service
from orchestrator.store.models import DEFAULT_PROJECT
from orchestrator.store.repository import SweepStore


@dataclass(frozen=True)
class Principal:
    project: str | None = None
    read_only: bool = False

    @property
    def project_for_new_sweeps(self) -> str:
        return self.project or DEFAULT_PROJECT


def get_service(request: Request) -> Service:
    return request.app.state.service


def get_store(service: Annotated[Service, Depends(get_service)]) -> SweepStore:
    return service.store


def get_principal() -> Principal:
    return Principal()


def require_writer(principal: Annotated[Principal, Depends(get_principal)]) -> Principal:
    if principal.read_only:
        raise HTTPException(403, "this token is read-only; use a read-write token to change sweeps")
    return principal


ServiceDep = Annotated[Service, Depends(get_service)]
StoreDep = Annotated[SweepStore, Depends(get_store)]
ReaderDep = Annotated[Principal, Depends(get_principal)]
WriterDep = Annotated[Principal, Depends(require_writer)]
