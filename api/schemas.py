"""Request/response models of the REST API, kept apart from the ORM (the wire format is a contract;
the tables may change behind it). Field names are the store's and the spec's names."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field


class ErrorOut(BaseModel):
    """Every error response: `detail` says what was wrong and how to fix it."""

    detail: str
    errors: list[str] | None = Field(None, description="one line per invalid field (422 only)")


class ProgressOut(BaseModel):
    counts: dict[str, int] = Field(description="trials per status, every status listed")
    done: int
    total: int
    fraction: float
    eta_s: float | None = Field(None, description="estimated seconds left, from the observed pace")
    best_loss: float | None = Field(
        None, description="lowest final validation loss (the planner's objective) of completed proxy trials"
    )


class SweepCreated(BaseModel):
    id: int
    name: str
    status: str
    total_trials: int


class SweepSummary(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    name: str
    project: str
    status: str
    tags: list[str]
    total_trials: int
    cancel_requested: bool
    error: str | None
    created_at: datetime
    updated_at: datetime
    started_at: datetime | None
    finished_at: datetime | None
    progress: ProgressOut


class BudgetOut(BaseModel):
    limits: dict[str, float | None] = Field(description="the spec's budget: max_wall_time (s), ...")
    used: dict[str, float] = Field(description="wall_time (s), trial_hours, proxy_flops used so far")
    reached: str | None = Field(description="the limit reached, in words; null while every limit holds")


class SweepDetail(SweepSummary):
    spec_version: int
    spec: dict[str, Any]
    budget: BudgetOut | None = Field(None, description="the proxies' budget and its use (null: no budget)")


class SweepPage(BaseModel):
    items: list[SweepSummary]
    total: int
    limit: int
    offset: int


class TrialOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    sweep_id: int
    trial_key: str
    parametrization: str
    width: int
    depth: int
    seed: int
    search_index: int
    hparams: dict[str, Any]
    status: str
    final_loss: float | None
    best_loss: float | None
    final_val_loss: float | None
    diverged: bool
    steps_done: int
    attempts: int
    error: str | None
    worker_node: str | None
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None
    duration_s: float | None
    reused_from_sweep: int | None = Field(None, description="the sweep whose identical trial this result is")
    reused_from_trial: int | None = Field(None, description="that trial's id")
    tokens: int | None = Field(None, description="a token scan's tokens per trial; null: the base budget")
    batch_size: int | None = Field(None, description="a batch scan's batch size; null: the base batch size")


class TrialPage(BaseModel):
    items: list[TrialOut]
    total: int
    limit: int
    offset: int


class MetricOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    step: int
    train_loss: float | None
    val_loss: float | None
    lr: float | None
    grad_norm: float | None
    tokens: int | None
    wall_time: float | None


class MetricPage(BaseModel):
    trial_id: int
    items: list[MetricOut]
    next_since_step: int | None = Field(description="pass as since_step to get only newer rows")
    has_more: bool = Field(description="true when the page was full: ask again right away")


class CoordSlopeOut(BaseModel):
    """One module's statistic in a coordinate check: the slope of log2(stat) against log2(width) (or depth)
    at each step, as its parametrization predicts it and as measured (docs/coordinate-check.md)."""

    module: str
    stat: str = Field(description="rms, delta_rms (the change since step 0) or l1 (plotted, never judged)")
    predicted: list[float | None] = Field(description="per step; null: not judged at this step")
    measured: list[float | None] = Field(description="per step; null: nothing moved, or not finite")
    passed: bool = Field(description="every judged step lies within the check's tolerance of its prediction")


class EventOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    ts: datetime
    level: str
    kind: str
    message: str
    data: dict[str, Any] | None


class EventPage(BaseModel):
    items: list[EventOut]
    next_after_id: int | None = Field(description="pass as after_id to get only newer events")


class HealthOut(BaseModel):
    status: str
    version: str


class ReadyOut(BaseModel):
    status: str
    database: str
    runner: bool = Field(description="whether queued sweeps are being executed")
