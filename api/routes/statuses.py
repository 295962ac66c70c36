"""The status table (`orchestrator/status.py`) as data, so the web UI and other clients read the one table
instead of keeping their own copy of which states are final, launchable or settled."""

from __future__ import annotations

from fastapi import APIRouter
from pydantic import BaseModel, Field

from orchestrator.status import LAUNCHABLE, SETTLED, SWEEP_TRANSITIONS, TERMINAL, TargetStatus

router = APIRouter(tags=["health"])


class StatusTableOut(BaseModel):
    transitions: dict[str, list[str]] = Field(description="each sweep status and the statuses it may move to")
    terminal: list[str] = Field(description="sweep statuses the runner never leaves")
    launchable: list[str] = Field(description="sweep statuses from which POST .../target-run launches")
    settled: list[str] = Field(description="terminal, or waiting for a launch: nothing runs on its own")
    target_unfinished: list[str] = Field(description="target-run statuses that are still training")


@router.get("/statuses", response_model=StatusTableOut, summary="The sweep status table")
def statuses() -> StatusTableOut:
    return StatusTableOut(
        transitions={s.value: sorted(t.value for t in to) for s, to in SWEEP_TRANSITIONS.items()},
        terminal=sorted(s.value for s in TERMINAL),
        launchable=sorted(s.value for s in LAUNCHABLE),
        settled=sorted(s.value for s in SETTLED),
        target_unfinished=sorted(s.value for s in TargetStatus.unfinished()),
    )
