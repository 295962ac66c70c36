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
    n_params: int | None = Field(
        None, description="an imported run's non-embedding parameters, as its file gave"
    )


class TrialPage(BaseModel):
    items: list[TrialOut]
    total: int
    limit: int
    offset: int


class SummaryPointOut(BaseModel):
    """One value of a swept hyperparameter in one group (a bin of values for a continuous search)."""

    model_config = ConfigDict(from_attributes=True)

    value: float = Field(
        description="the hyperparameter's value; for a bin, its centre (geometric on a log scale)"
    )
    low: float | None = Field(None, description="a bin's lower edge; null: an exact value")
    high: float | None = Field(None, description="a bin's upper edge; null: an exact value")
    best: float | None = Field(
        description="lowest loss over the other swept hyperparameters' values, each configuration averaged "
        "over its seeds first; null: no completed trial here"
    )
    mean: float | None = Field(description="mean loss of the completed trials here")
    sem: float | None = Field(description="standard error of that mean; null below two trials")
    count: int = Field(
        description="completed trials here (their loss: final validation loss, else final train loss)"
    )
    diverged: int = Field(description="diverged trials here")


class SummaryGroupOut(BaseModel):
    """The trials of one proxy size and budget: a token or batch scan's group has `tokens` or `batch_size`."""

    model_config = ConfigDict(from_attributes=True)

    parametrization: str
    width: int
    depth: int
    tokens: int | None = Field(description="a token scan's tokens per trial; null: the base budget")
    batch_size: int | None = Field(description="a batch scan's batch size; null: the base batch size")
    points: dict[str, list[SummaryPointOut]] = Field(
        description="per swept hyperparameter, by ascending value"
    )


class SummaryAxisOut(BaseModel):
    """How one swept hyperparameter is summarized: exact values, or `bins` bins over [low, high]."""

    model_config = ConfigDict(from_attributes=True)

    name: str
    bins: int | None = Field(description="null: one point per distinct value (a grid or a list of choices)")
    low: float | None
    high: float | None
    log: bool = Field(description="bins are equal in log2 (and the plot's axis is log2)")


class TrialSummaryOut(BaseModel):
    """What the μTransfer plot draws, aggregated over the trials in the database: bounded by groups × values
    (or bins), not by the number of trials."""

    sweep_id: int
    hps: list[SummaryAxisOut]
    groups: list[SummaryGroupOut] = Field(description="groups with at least one completed or diverged trial")


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
