"""Driver-side persistence of running trials and target runs: the sinks the executor reports to.

`Ingest` is the `TrialEvents` sink of a sweep's proxy trials, `TargetIngest` the `TargetEvents` sink of its
target run (`orchestrator/executor/interface.py`). Both write metrics through one upsert on the same
columns (`METRIC_COLUMNS`), into `trial_metrics` and `target_metrics`.

Why buffered: a sweep reports one record per optimizer step per trial; one transaction per record
would make the database the bottleneck (and SQLite's single writer a lock the API waits on). Events
are kept in memory and written in one transaction per `flush()` (the executor flushes on a timer,
~2 per second, and at the end). Metrics are upserted on UNIQUE(trial_id, step), so a retried trial
or a resumed sweep that reports a step again overwrites it instead of adding a duplicate.
Workers never see this module: only the driver opens the database.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from orchestrator.executor.interface import KnownTrial, TrialOutcome, TrialRequest, diverged_loss
from orchestrator.status import EventLevel, TargetStatus, TrialStatus
from orchestrator.store.models import (
    Sweep,
    TargetMetric,
    TargetRun,
    Trial,
    TrialMetric,
    finite_or_none,
    utcnow,
)
from orchestrator.store.repository import SweepStore
from orchestrator.store.retry import retry_transient
from orchestrator.telemetry import INGEST_ROWS, INGEST_SECONDS, TRIALS_FINISHED
from workers.config import TrialConfig

log = logging.getLogger(__name__)

METRIC_COLUMNS = ("train_loss", "val_loss", "lr", "grad_norm", "tokens", "wall_time")
MAX_BUFFERED_METRICS = 5000
UPSERT_CHUNK = 500  # rows per INSERT (SQLite caps bound parameters per statement)


@dataclass
class _Pending:
    """Changes to one trial row not yet written."""

    request: TrialRequest | None = None
    values: dict[str, Any] = field(default_factory=dict)
    attempts: int = 0
    metrics: dict[int, dict[str, Any]] = field(default_factory=dict)


class Ingest:
    """Buffers trial events of one sweep and writes them in batches (see module docstring)."""

    def __init__(
        self,
        store: SweepStore,
        sweep_id: int,
        max_buffered: int = MAX_BUFFERED_METRICS,
        fingerprint: Callable[[TrialRequest], str] | None = None,
    ) -> None:
        self.store = store
        self.sweep_id = sweep_id
        self.max_buffered = max_buffered
        self.fingerprint = (
            fingerprint  # each new trial row's (orchestrator/reuse.py), so later sweeps find it
        )
        self._ids: dict[str, int] = {}
        self._pending: dict[str, _Pending] = {}
        self._buffered = 0
        self._started: dict[str, float] = {}
        self._lock = threading.Lock()
        self._flush_lock = threading.Lock()
        self.rows_written = 0

    # TrialEvents ---------------------------------------------------------------------------------
    def trial_created(self, request: TrialRequest) -> None:
        with self._lock:
            pending = self._pending.setdefault(request.key, _Pending())
            pending.request = request
            pending.values["status"] = TrialStatus.PENDING.value

    def trial_started(self, key: str, node: str | None) -> None:
        with self._lock:
            pending = self._pending.setdefault(key, _Pending())
            pending.attempts += 1
            pending.values.update(status=TrialStatus.RUNNING.value, started_at=utcnow(), error=None)
            if node:
                pending.values["worker_node"] = node
            self._started.setdefault(key, time.monotonic())

    def trial_node(self, key: str, node: str) -> None:
        with self._lock:
            self._pending.setdefault(key, _Pending()).values["worker_node"] = node[:200]

    def trial_metrics(self, key: str, record: Mapping[str, Any]) -> None:
        step = record.get("step")
        if step is None:
            return
        row = _metric_row(record)
        with self._lock:
            pending = self._pending.setdefault(key, _Pending())
            if int(step) not in pending.metrics:
                self._buffered += 1
            pending.metrics[int(step)] = row
            steps = pending.values.get("steps_done", 0)
            pending.values["steps_done"] = max(int(steps), int(step))
            full = self._buffered >= self.max_buffered
        if full:
            self.flush()

    def trial_finished(self, key: str, outcome: TrialOutcome) -> None:
        TRIALS_FINISHED.labels(outcome.status).inc()
        started = self._started.pop(key, None)
        with self._lock:
            pending = self._pending.setdefault(key, _Pending())
            pending.values.update(
                status=outcome.status,
                final_loss=finite_or_none(outcome.final_loss),
                best_loss=finite_or_none(outcome.best_loss),
                final_val_loss=finite_or_none(outcome.final_val_loss),
                diverged=outcome.status == TrialStatus.DIVERGED.value,
                error=outcome.error,
                finished_at=utcnow(),
            )
            if outcome.steps_done:
                pending.values["steps_done"] = outcome.steps_done
            if started is not None:
                pending.values["duration_s"] = time.monotonic() - started

    def event(self, kind: str, message: str, level: str = "info", data: dict[str, Any] | None = None) -> None:
        retry_transient(lambda: self.store.add_event(self.sweep_id, kind, message, level=level, data=data))

    def flush(self) -> None:
        """Write everything buffered in one transaction; one flush at a time keeps rows before metrics."""
        with self._flush_lock:
            self._flush()

    def _flush(self) -> None:
        with self._lock:
            pending, self._pending = self._pending, {}
            self._buffered = 0
        if not pending:
            return
        try:  # a brief outage (a database restart) is waited out; see orchestrator/store/retry.py
            with INGEST_SECONDS.time():
                written = retry_transient(lambda: self._write(pending))
        except Exception:
            self._requeue(pending)  # nothing reported is dropped: the next flush retries it
            raise
        self.rows_written += written
        INGEST_ROWS.inc(written)

    def _requeue(self, failed: dict[str, _Pending]) -> None:
        """Merge a batch that could not be written back under anything buffered since (newer wins)."""
        with self._lock:
            for key, old in failed.items():
                new = self._pending.get(key)
                if new is None:
                    self._pending[key] = old
                    self._buffered += len(old.metrics)
                    continue
                new.request = new.request or old.request
                new.values = {**old.values, **new.values}
                new.attempts += old.attempts
                added = {step: row for step, row in old.metrics.items() if step not in new.metrics}
                new.metrics.update(added)
                self._buffered += len(added)

    def _write(self, pending: dict[str, _Pending]) -> int:
        with self.store.session() as session:
            ids = self._ensure_rows(session, pending)
            metrics: list[dict[str, Any]] = []
            for key, change in pending.items():
                trial_id = ids[key]
                values = dict(change.values)
                if change.attempts:
                    values["attempts"] = Trial.attempts + change.attempts
                if values:
                    session.execute(update(Trial).where(Trial.id == trial_id).values(**values))
                metrics.extend(
                    {"trial_id": trial_id, "step": step, **row} for step, row in change.metrics.items()
                )
            upsert_metrics(session, TrialMetric, "trial_id", metrics)
        # Only now: ids of rows created by a rolled-back transaction must not be kept. A finished trial's id
        # is dropped (the sweep's memory would otherwise grow by a key per trial); a late event for it finds
        # the row again by its key.
        finished = TrialStatus.finished()  # StrEnum members: a stored status string is found in it
        for key, change in pending.items():
            if change.values.get("status") in finished:
                ids.pop(key, None)
        self._ids = ids
        return len(metrics)

    # helpers -------------------------------------------------------------------------------------
    def _ensure_rows(self, session: Session, pending: dict[str, _Pending]) -> dict[str, int]:
        """Ids of every key's trial row, found or created (creating needs the request that named it)."""
        ids = dict(self._ids)
        missing = [key for key in pending if key not in ids]
        if not missing:
            return ids
        found = session.execute(
            select(Trial.trial_key, Trial.id).where(
                Trial.sweep_id == self.sweep_id, Trial.trial_key.in_(missing)
            )
        ).all()
        ids.update({key: trial_id for key, trial_id in found})
        for key in missing:
            if key in ids:
                continue
            request = pending[key].request
            if request is None:
                raise RuntimeError(
                    f"trial {key} reported before it was created; this is a bug in the executor"
                )
            fingerprint = self.fingerprint(request) if self.fingerprint else None
            trial = trial_row(
                self.sweep_id, request, status=TrialStatus.PENDING.value, fingerprint=fingerprint
            )
            session.add(trial)
            session.flush()
            ids[key] = trial.id
        return ids


def _clean(name: str, value: Any) -> Any:
    if value is None:
        return None
    if name == "tokens":
        return int(value)
    return finite_or_none(float(value))


def upsert_metrics(
    session: Session, table: type[TrialMetric | TargetMetric], owner: str, rows: list[dict[str, Any]]
) -> None:
    """INSERT ... ON CONFLICT (owner, step) DO UPDATE, on SQLite and PostgreSQL alike: a step reported again
    (a retried trial, a resumed target) overwrites its row instead of adding a duplicate."""
    if not rows:
        return
    dialect = session.get_bind().dialect.name
    if dialect == "sqlite":
        from sqlalchemy.dialects.sqlite import insert
    elif dialect == "postgresql":
        from sqlalchemy.dialects.postgresql import insert
    else:
        raise RuntimeError(f"unsupported database {dialect!r}: mutransfer supports SQLite and PostgreSQL")
    # One executemany over the Core table: building an ORM multi-VALUES statement per chunk cost
    # ~15x more per row (0.31 s vs 0.02 s for 1,250 rows, measured with bench/load.py).
    stmt = insert(table.__table__)
    stmt = stmt.on_conflict_do_update(
        index_elements=[owner, "step"], set_={c: stmt.excluded[c] for c in METRIC_COLUMNS}
    )
    for start in range(0, len(rows), UPSERT_CHUNK):
        session.connection().execute(stmt, rows[start : start + UPSERT_CHUNK])


def known_trials(store: SweepStore, sweep_id: int) -> list[KnownTrial]:
    """Every stored trial of a sweep, as the executor needs them to resume it."""
    with store.session() as session:
        rows = session.scalars(select(Trial).where(Trial.sweep_id == sweep_id).order_by(Trial.id)).all()
        diverged = [row.id for row in rows if row.status == TrialStatus.DIVERGED.value]
        first_loss = dict(
            session.execute(
                select(TrialMetric.trial_id, TrialMetric.train_loss).where(
                    TrialMetric.trial_id.in_(diverged), TrialMetric.step == 1
                )
            ).all()
        )
        return [
            KnownTrial(
                request=TrialRequest(
                    key=row.trial_key,
                    parametrization=row.parametrization,
                    width=row.width,
                    depth=row.depth,
                    index=row.search_index,
                    seed=row.seed,
                    hparams={k: float(v) for k, v in (row.hparams or {}).items()},
                    tokens=row.tokens,
                    batch_size=row.batch_size,
                ),
                status=row.status,
                objective=_objective(row, first_loss.get(row.id)),
            )
            for row in rows
        ]


def _objective(row: Trial, first_loss: float | None) -> float | None:
    """What the sampler was told for a stored trial (the trainable's rule, rebuilt from the rows)."""
    if row.status == TrialStatus.COMPLETED.value:
        return row.final_val_loss if row.final_val_loss is not None else row.final_loss
    if row.status == TrialStatus.DIVERGED.value:
        return diverged_loss(first_loss, TrialConfig.divergence_factor)
    return None


def close_unfinished(store: SweepStore, sweep_id: int, status: str, error: str | None = None) -> int:
    """Mark every trial of the sweep that is not finished (pending/running) as `status`; returns the count."""
    unfinished = [TrialStatus.PENDING.value, TrialStatus.RUNNING.value]
    with store.session() as session:
        result = session.execute(
            update(Trial)
            .where(Trial.sweep_id == sweep_id, Trial.status.in_(unfinished))
            .values(status=status, error=error, finished_at=utcnow())
        )
        return int(result.rowcount or 0)


class TargetIngest:
    """The `TargetEvents` sink of one target run: attempts, per-step metrics (steps repeated after a resume
    overwrite rather than duplicate) and failures as sweep events. A target reports in batches of records
    (`orchestrator/executor/target.py`), so each batch is one transaction: no buffer is needed."""

    def __init__(self, store: SweepStore, sweep_id: int, target_run_id: int) -> None:
        self.store, self.sweep_id, self.target_run_id = store, sweep_id, target_run_id
        self._first_batch = True

    def attempt_started(self, attempt: int) -> None:
        now = utcnow()
        with self.store.session() as session:
            run = session.get_one(TargetRun, self.target_run_id)
            run.attempts += 1
            run.status = TargetStatus.RUNNING.value
            run.started_at = run.started_at or now
            run.error = None
            resumed = run.steps_done
        self._first_batch = True
        message = f"target run {self.target_run_id} attempt {attempt} started" + (
            f", resuming after step {resumed} from its latest checkpoint" if resumed else ""
        )
        self.store.add_event(self.sweep_id, "target_started", message, data={"attempt": attempt})

    def metrics(self, records: list[dict[str, Any]]) -> None:
        rows = {
            int(r["step"]): {"target_run_id": self.target_run_id, "step": int(r["step"]), **_metric_row(r)}
            for r in records
        }
        if not rows:
            return
        if self._first_batch and min(rows) > 1:  # the worker restored a checkpoint: say from where
            self._resumed(min(rows) - 1)
        self._first_batch = False
        with self.store.session() as session:
            upsert_metrics(session, TargetMetric, "target_run_id", list(rows.values()))
            session.execute(
                update(TargetRun)
                .where(TargetRun.id == self.target_run_id, TargetRun.steps_done < max(rows))
                .values(steps_done=max(rows))
            )

    def _resumed(self, from_step: int) -> None:
        recorded = self.store.targets.get(self.target_run_id).steps_done
        lost = (
            f"; steps {recorded + 1}-{from_step} were lost with the killed worker"
            if recorded < from_step
            else ""
        )
        self.store.add_event(
            self.sweep_id,
            "target_resumed",
            f"target run {self.target_run_id} resumed from its checkpoint at step {from_step}{lost}",
            level=EventLevel.WARNING if lost else EventLevel.INFO,
            data={"from_step": from_step, "recorded_steps": recorded},
        )

    def attempt_failed(self, attempt: int, error: str, will_retry: bool) -> None:
        with self.store.session() as session:
            session.execute(update(TargetRun).where(TargetRun.id == self.target_run_id).values(error=error))
        self.store.add_event(
            self.sweep_id,
            "target_retry" if will_retry else "target_error",
            error + ("; retrying from the latest checkpoint" if will_retry else ""),
            level=EventLevel.WARNING if will_retry else EventLevel.ERROR,
            data={"attempt": attempt},
        )


def _metric_row(record: Mapping[str, Any]) -> dict[str, Any]:
    """The metric columns of one worker record, cleaned for storage (missing ones None)."""
    return {name: _clean(name, record.get(name)) for name in METRIC_COLUMNS}


REUSABLE = (TrialStatus.COMPLETED.value, TrialStatus.DIVERGED.value)


def trial_row(sweep_id: int, request: TrialRequest, **values: Any) -> Trial:
    """A new trial row for `request` in `sweep_id` (not added to any session), with `values` on top."""
    return Trial(
        sweep_id=sweep_id,
        trial_key=request.key,
        parametrization=request.parametrization,
        width=request.width,
        depth=request.depth,
        seed=request.seed,
        search_index=request.index,
        hparams=dict(request.hparams),
        tokens=request.tokens,
        batch_size=request.batch_size,
        attempts=0,
        **values,
    )


def copy_trial(
    store: SweepStore, sweep_id: int, request: TrialRequest, fingerprint: str
) -> tuple[str, float | None] | None:
    """Copy the newest finished trial of the same project with this fingerprint (from another sweep) into
    `sweep_id` as `request`'s trial, metrics included, marked with where it came from; returns its
    (status, objective) for the sampler, or None when there is none to reuse."""
    with store.session() as session:
        project_id = session.execute(select(Sweep.project_id).where(Sweep.id == sweep_id)).scalar_one()
        source = session.scalars(
            select(Trial)
            .join(Sweep, Sweep.id == Trial.sweep_id)
            .where(
                Trial.fingerprint == fingerprint,
                Trial.status.in_(REUSABLE),
                Trial.sweep_id != sweep_id,
                Sweep.project_id == project_id,
            )
            .order_by(Trial.id.desc())
            .limit(1)
        ).first()
        if source is None:
            return None
        copied = trial_row(
            sweep_id,
            request,
            status=source.status,
            final_loss=source.final_loss,
            best_loss=source.best_loss,
            final_val_loss=source.final_val_loss,
            diverged=source.diverged,
            steps_done=source.steps_done,
            worker_node=source.worker_node,
            started_at=source.started_at,
            finished_at=source.finished_at,
            duration_s=source.duration_s,
            fingerprint=fingerprint,
            reused_from_sweep=source.sweep_id,
            reused_from_trial=source.id,
        )
        session.add(copied)
        session.flush()
        rows = session.scalars(select(TrialMetric).where(TrialMetric.trial_id == source.id)).all()
        session.add_all(
            TrialMetric(trial_id=copied.id, step=r.step, **{c: getattr(r, c) for c in METRIC_COLUMNS})
            for r in rows
        )
        first = next((r.train_loss for r in rows if r.step == 1), None)
        return source.status, _objective(source, first)
