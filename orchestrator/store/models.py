"""The ORM models: the one schema of the store (migrations in `migrations/versions` must match it).

Types are portable (SQLite and PostgreSQL): JSON via `sqlalchemy.JSON`, timestamps timezone-aware
in UTC (SQLite drops the zone, so `UTCDateTime` puts it back on read). Status values are plain
strings checked in Python (`orchestrator/status.py`) so adding a state needs no migration.
Child rows cascade in the database (`ondelete="CASCADE"`): deleting a sweep removes its trials and
metrics in one statement, without loading them.
"""

from __future__ import annotations

import math
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Text,
    TypeDecorator,
    UniqueConstraint,
    false,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

from orchestrator.status import EventLevel, SweepStatus, TargetStatus, TrialStatus

# Deterministic constraint names, so migrations can drop/alter them on every backend.
NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

DEFAULT_PROJECT = "default"


def utcnow() -> datetime:
    return datetime.now(UTC)


def finite_or_none(value: float | None) -> float | None:
    """NaN/inf cannot be stored portably (SQLite turns NaN into NULL, JSON rejects both): store None.

    A diverged trial is recorded by its `diverged` flag, not by an infinite loss.
    """
    if value is None:
        return None
    value = float(value)
    return value if math.isfinite(value) else None


class UTCDateTime(TypeDecorator[datetime]):
    """A timezone-aware UTC timestamp on every backend (SQLite returns naive values: we add UTC)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError(f"naive datetime {value!r}: pass a timezone-aware UTC time (utcnow())")
        return value.astimezone(UTC)

    def process_result_value(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)
    type_annotation_map = {datetime: UTCDateTime(), dict[str, Any]: JSON, list[Any]: JSON}


class Project(Base):
    """Every sweep belongs to a project; API tokens are scoped to one."""

    __tablename__ = "projects"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(100), unique=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class Sweep(Base):
    __tablename__ = "sweeps"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    project_id: Mapped[int] = mapped_column(ForeignKey("projects.id", ondelete="RESTRICT"), index=True)
    name: Mapped[str] = mapped_column(String(200), index=True)
    status: Mapped[str] = mapped_column(String(32), index=True, default=SweepStatus.QUEUED.value)
    spec: Mapped[dict[str, Any]] = mapped_column(JSON)
    spec_version: Mapped[int] = mapped_column(Integer)
    tags: Mapped[list[Any]] = mapped_column(JSON, default=list)
    total_trials: Mapped[int] = mapped_column(Integer, default=0)
    cancel_requested: Mapped[bool] = mapped_column(Boolean, default=False)
    error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(default=utcnow, index=True)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)
    started_at: Mapped[datetime | None] = mapped_column()
    finished_at: Mapped[datetime | None] = mapped_column()

    project: Mapped[Project] = relationship(lazy="joined")  # loaded with the sweep: read after detaching
    tag_rows: Mapped[list[SweepTag]] = relationship(cascade="all, delete-orphan", passive_deletes=True)


class SweepTag(Base):
    """One row per (sweep, tag): the index that makes `?tag=` filtering portable (`Sweep.tags` is the copy
    shown to users; both are written once, at creation)."""

    __tablename__ = "sweep_tags"

    sweep_id: Mapped[int] = mapped_column(ForeignKey("sweeps.id", ondelete="CASCADE"), primary_key=True)
    tag: Mapped[str] = mapped_column(String(64), primary_key=True, index=True)


class Trial(Base):
    """One proxy training run. `trial_key` (e.g. `mup-w64-d2-i3-s0`) is unique per sweep, so a resumed
    sweep finds the trials it already has instead of creating duplicates."""

    __tablename__ = "trials"
    __table_args__ = (
        UniqueConstraint("sweep_id", "trial_key"),
        Index("ix_trials_sweep_id_status", "sweep_id", "status"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    sweep_id: Mapped[int] = mapped_column(ForeignKey("sweeps.id", ondelete="CASCADE"), index=True)
    trial_key: Mapped[str] = mapped_column(String(200))
    parametrization: Mapped[str] = mapped_column(String(32))
    width: Mapped[int] = mapped_column(Integer)
    depth: Mapped[int] = mapped_column(Integer)
    seed: Mapped[int] = mapped_column(Integer, default=0)
    search_index: Mapped[int] = mapped_column(Integer, default=0)
    hparams: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    status: Mapped[str] = mapped_column(String(32), default=TrialStatus.PENDING.value)
    final_loss: Mapped[float | None] = mapped_column(Float)
    best_loss: Mapped[float | None] = mapped_column(Float)
    final_val_loss: Mapped[float | None] = mapped_column(Float)
    diverged: Mapped[bool] = mapped_column(Boolean, default=False)
    steps_done: Mapped[int] = mapped_column(Integer, default=0)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    error: Mapped[str | None] = mapped_column(Text)
    worker_node: Mapped[str | None] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    started_at: Mapped[datetime | None] = mapped_column()
    finished_at: Mapped[datetime | None] = mapped_column()
    duration_s: Mapped[float | None] = mapped_column(Float)
    # what determines the trial's result (orchestrator/reuse.py); a later sweep's equal trial reuses it
    fingerprint: Mapped[str | None] = mapped_column(String(64), index=True)
    reused_from_sweep: Mapped[int | None] = mapped_column(Integer)  # no foreign key: the copy outlives it
    reused_from_trial: Mapped[int | None] = mapped_column(Integer)
    # a token or batch scan's budget (SweepSpec.searches); None: the sweep's base budget
    tokens: Mapped[int | None] = mapped_column(BigInteger)
    batch_size: Mapped[int | None] = mapped_column(Integer)
    # an imported run (orchestrator/imported.py): its non-embedding parameters, and the rest of its row
    # (the file's line, tokens trained, context length, batch in tokens) as the file gave them
    n_params: Mapped[int | None] = mapped_column(BigInteger)
    imported: Mapped[dict[str, Any] | None] = mapped_column(JSON)


class TrialMetric(Base):
    """One reported step of a trial. UNIQUE(trial_id, step): a re-delivered batch is ignored, not doubled."""

    __tablename__ = "trial_metrics"
    __table_args__ = (UniqueConstraint("trial_id", "step"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    trial_id: Mapped[int] = mapped_column(ForeignKey("trials.id", ondelete="CASCADE"), index=True)
    step: Mapped[int] = mapped_column(Integer)
    train_loss: Mapped[float | None] = mapped_column(Float)
    val_loss: Mapped[float | None] = mapped_column(Float)
    lr: Mapped[float | None] = mapped_column(Float)
    grad_norm: Mapped[float | None] = mapped_column(Float)
    tokens: Mapped[int | None] = mapped_column(Integer)
    wall_time: Mapped[float | None] = mapped_column(Float, doc="seconds since the trial started")


class CoordCheckResult(Base):
    __tablename__ = "coord_check_results"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    sweep_id: Mapped[int] = mapped_column(ForeignKey("sweeps.id", ondelete="CASCADE"), index=True)
    parametrization: Mapped[str] = mapped_column(String(32))
    passed: Mapped[bool] = mapped_column(Boolean)
    data: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class TransferPlan(Base):
    """The planner's output; a new version each time it is refitted (plans are never overwritten)."""

    __tablename__ = "transfer_plans"
    __table_args__ = (UniqueConstraint("sweep_id", "version"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    sweep_id: Mapped[int] = mapped_column(ForeignKey("sweeps.id", ondelete="CASCADE"), index=True)
    version: Mapped[int] = mapped_column(Integer)
    plan: Mapped[dict[str, Any]] = mapped_column(JSON)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class TargetRun(Base):
    __tablename__ = "target_runs"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    sweep_id: Mapped[int] = mapped_column(ForeignKey("sweeps.id", ondelete="CASCADE"), index=True)
    plan_version: Mapped[int] = mapped_column(Integer)
    status: Mapped[str] = mapped_column(String(32), default=TargetStatus.PENDING.value)
    hparams: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    predicted_loss: Mapped[float | None] = mapped_column(Float)
    predicted_low: Mapped[float | None] = mapped_column(Float)
    predicted_high: Mapped[float | None] = mapped_column(Float)
    realized_loss: Mapped[float | None] = mapped_column(Float)
    within_interval: Mapped[bool | None] = mapped_column(Boolean)
    steps_done: Mapped[int] = mapped_column(Integer, default=0)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    checkpoint_path: Mapped[str | None] = mapped_column(Text)
    error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    started_at: Mapped[datetime | None] = mapped_column()
    finished_at: Mapped[datetime | None] = mapped_column()


class TargetMetric(Base):
    """Per-step metrics of a target run: the same columns as `TrialMetric`, its own table so that each
    metrics table has one non-null parent and one uniqueness rule."""

    __tablename__ = "target_metrics"
    __table_args__ = (UniqueConstraint("target_run_id", "step"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    target_run_id: Mapped[int] = mapped_column(ForeignKey("target_runs.id", ondelete="CASCADE"), index=True)
    step: Mapped[int] = mapped_column(Integer)
    train_loss: Mapped[float | None] = mapped_column(Float)
    val_loss: Mapped[float | None] = mapped_column(Float)
    lr: Mapped[float | None] = mapped_column(Float)
    grad_norm: Mapped[float | None] = mapped_column(Float)
    tokens: Mapped[int | None] = mapped_column(Integer)
    wall_time: Mapped[float | None] = mapped_column(Float)


class SweepEvent(Base):
    """The sweep's event log (state changes, preflight failures, retries), shown by the API and UI."""

    __tablename__ = "sweep_events"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    sweep_id: Mapped[int] = mapped_column(ForeignKey("sweeps.id", ondelete="CASCADE"), index=True)
    ts: Mapped[datetime] = mapped_column(default=utcnow)
    level: Mapped[str] = mapped_column(String(16), default=EventLevel.INFO.value)
    kind: Mapped[str] = mapped_column(String(64))
    message: Mapped[str] = mapped_column(Text)
    data: Mapped[dict[str, Any] | None] = mapped_column(JSON)


class ApiToken(Base):
    """Bearer tokens scoped to a project; only the hash is stored."""

    __tablename__ = "api_tokens"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    project_id: Mapped[int] = mapped_column(ForeignKey("projects.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(100))
    token_hash: Mapped[str] = mapped_column(String(128), unique=True)
    read_only: Mapped[bool] = mapped_column(Boolean, default=False)
    # may upload model code that workers import and run (docs/external-models.md, "Running your code")
    can_run_code: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    revoked_at: Mapped[datetime | None] = mapped_column()


class CodeArchive(Base):
    """An uploaded model code directory, as the zip its digest names (workers/code_archive.py). Kept in the
    database, beside the sweeps that name it, so every service replica and every restart finds it. Not scoped
    to a project: a digest names its content, and only who holds the bytes can know it."""

    __tablename__ = "code_archives"

    digest: Mapped[str] = mapped_column(String(71), primary_key=True)  # "sha256:" + 64 hex digits
    size: Mapped[int] = mapped_column(Integer)
    data: Mapped[bytes] = mapped_column(LargeBinary)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class Webhook(Base):
    """A project's subscription: events of its sweeps POSTed, signed, to `url` (orchestrator/webhooks.py).
    `last_event_id` is how far the dispatcher has read the event log for it: a new webhook starts at the
    newest event, so it receives what happens from then on."""

    __tablename__ = "webhooks"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    project_id: Mapped[int] = mapped_column(ForeignKey("projects.id", ondelete="CASCADE"), index=True)
    url: Mapped[str] = mapped_column(String(2000))
    secret: Mapped[str] = mapped_column(String(200))  # the signing key: kept, as the receiver's copy is
    events: Mapped[list[Any]] = mapped_column(JSON)
    last_event_id: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class WebhookDelivery(Base):
    """One event for one webhook, and every attempt at delivering it."""

    __tablename__ = "webhook_deliveries"
    __table_args__ = (UniqueConstraint("webhook_id", "event_id", "event_type"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    webhook_id: Mapped[int] = mapped_column(ForeignKey("webhooks.id", ondelete="CASCADE"), index=True)
    event_id: Mapped[int] = mapped_column(Integer)
    event_type: Mapped[str] = mapped_column(String(64))
    payload: Mapped[dict[str, Any]] = mapped_column(JSON)
    status: Mapped[str] = mapped_column(String(16), default="pending", index=True)  # delivered | failed
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    last_status_code: Mapped[int | None] = mapped_column(Integer)
    last_error: Mapped[str | None] = mapped_column(Text)
    next_attempt_at: Mapped[datetime] = mapped_column(default=utcnow, index=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    delivered_at: Mapped[datetime | None] = mapped_column()
