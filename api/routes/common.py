"""Parameter types shared by routes: ids and pages bounded so no value can overflow a database column."""

from __future__ import annotations

from typing import Annotated

from fastapi import Path, Query

MAX_ID = 2**31 - 1  # 32-bit INTEGER columns on PostgreSQL
MAX_PAGE = 1000

SweepId = Annotated[int, Path(ge=1, le=MAX_ID, description="sweep id")]
TrialId = Annotated[int, Path(ge=1, le=MAX_ID, description="trial id")]
Limit = Annotated[int, Query(ge=1, le=MAX_PAGE, description=f"page size (at most {MAX_PAGE})")]
Offset = Annotated[int, Query(ge=0, le=MAX_ID, description="rows to skip")]
MAX_METRICS_PAGE = 10_000
SinceStep = Annotated[
    int | None, Query(ge=-1, le=MAX_ID, description="only steps after this one (the last step you have)")
]
MetricsLimit = Annotated[int, Query(ge=1, le=MAX_METRICS_PAGE, description="rows per page")]
