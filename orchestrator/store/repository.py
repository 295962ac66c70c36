"""`SweepStore`: everything the API and the orchestrator ask of the database, in one class.

Like Optuna's storage, the SQL stays behind these methods. Each method is its own short transaction
(`session()`), so the store can be shared by API requests and runner threads, and SQLite's WAL never
sees a long-lived reader. Returned ORM objects are detached snapshots (`expire_on_commit=False`): read
them freely, change the database only through the store. Ingestion of trial metrics and trial status
transitions by the runner lives beside this file (`ingest.py`) on the same models.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any

from sqlalchemy import Engine, delete, func, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from orchestrator.spec import SweepSpec
from orchestrator.status import EventLevel, SweepStatus, TrialStatus
from orchestrator.store import sweep_status
from orchestrator.store.code import CodeArchives
from orchestrator.store.db import Database, make_session_factory
from orchestrator.store.errors import Conflict, NotFound
from orchestrator.store.models import (
    DEFAULT_PROJECT,
    Project,
    Sweep,
    SweepEvent,
    SweepTag,
    Trial,
    TrialMetric,
    utcnow,
)
from orchestrator.store.plans import CoordChecks, Plans
from orchestrator.store.summary import HpAxis, SummaryCache, SummaryGroup
from orchestrator.store.targets import TargetRuns
from orchestrator.store.tokens import Tokens
from orchestrator.store.trial_query import TrialFilter, filtered_trials, ordered
from orchestrator.store.webhooks import Webhooks

# States in which no runner works on a sweep: a cancel request ends them at once.
IDLE = (SweepStatus.QUEUED, SweepStatus.AWAITING_APPROVAL)


@dataclass(frozen=True)
class Progress:
    """Trial counts of one sweep: `counts` has every trial status (zeros too), `done` the finished ones."""

    counts: dict[str, int]
    done: int
    total: int
    eta_s: float | None = None
    # lowest objective (final validation loss, else final train loss) among completed trials (the sweeps list)
    best_loss: float | None = None
    fraction: float = field(init=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "fraction", min(1.0, self.done / self.total) if self.total else 0.0)


@dataclass(frozen=True)
class BudgetRow:
    width: int
    depth: int
    duration_s: float | None  # measured by the runner; None while it runs (or timed by an earlier process)
    started_at: datetime
    finished_at: datetime | None
    steps: int
    batch_size: int | None = None  # a batch scan's; None: the sweep's base batch size


@dataclass(frozen=True)
class SweepFilter:
    status: str | None = None
    name: str | None = None  # case-insensitive substring
    tag: str | None = None
    project: str | None = None  # None: every project (admin view)


class SweepStore(Database):
    """Sweeps, their trials, events and progress here; plans, coordinate checks, target runs and tokens in
    their own repositories, reached as attributes (`store.plans`, `store.targets`, ...)."""

    def __init__(self, session_factory: sessionmaker[Session]):
        super().__init__(session_factory)
        self.plans = Plans(self)
        self.coord_checks = CoordChecks(self)
        self.targets = TargetRuns(self)
        self.tokens = Tokens(self)
        self.code = CodeArchives(self)
        self.webhooks = Webhooks(self)
        self._summaries = SummaryCache()

    @classmethod
    def from_engine(cls, engine: Engine) -> SweepStore:
        return cls(make_session_factory(engine))

    def ping(self) -> None:
        """Raise if the database cannot answer (the readiness probe)."""
        with self.session() as session:
            session.execute(select(1))

    # projects ------------------------------------------------------------------------------------
    def ensure_project(self, name: str = DEFAULT_PROJECT) -> Project:
        with self.session() as session:
            project = session.scalar(select(Project).where(Project.name == name))
            if project is not None:
                return project
        try:
            with self.session() as session:
                project = Project(name=name)
                session.add(project)
                return project
        except IntegrityError:  # created concurrently by another process: read the winner
            with self.session() as session:
                return session.scalars(select(Project).where(Project.name == name)).one()

    # sweeps --------------------------------------------------------------------------------------
    def create_sweep(self, spec: SweepSpec, project: str = DEFAULT_PROJECT) -> Sweep:
        """Store a validated spec as a queued sweep (with its `submitted` event) and return it."""
        project_row = self.ensure_project(project)
        with self.session() as session:
            sweep = Sweep(
                project_id=project_row.id,
                name=spec.name,
                status=SweepStatus.QUEUED.value,
                spec=spec.model_dump(mode="json"),
                spec_version=spec.spec_version,
                tags=list(spec.tags),
                total_trials=spec.total_trials(),
                cancel_requested=False,
            )
            sweep.tag_rows = [SweepTag(tag=tag) for tag in dict.fromkeys(spec.tags)]
            session.add(sweep)
            session.flush()
            session.add(
                SweepEvent(
                    sweep_id=sweep.id,
                    kind="submitted",
                    message=f"sweep '{spec.name}' queued with {sweep.total_trials} proxy trials",
                    data={"total_trials": sweep.total_trials, "project": project},
                )
            )
        return self.get_sweep(sweep.id)

    def create_imported(
        self,
        name: str,
        view: dict[str, Any],
        trials: Sequence[dict[str, Any]],
        project: str = DEFAULT_PROJECT,
        tags: Sequence[str] = (),
    ) -> Sweep:
        """Store an imported study (orchestrator/importing.py): the sweep, `imported` from the start, every
        run as a finished trial and its `imported` event, in ONE transaction, so a failure stores nothing.

        `view` is what readers of a sweep's spec see (its name, parametrizations, sizes, swept HPs and the
        import's own record under `imported`); each trial dict holds the `Trial` columns."""
        project_row = self.ensure_project(project)
        now = utcnow()
        with self.session() as session:
            sweep = Sweep(
                project_id=project_row.id,
                name=name,
                status=SweepStatus.IMPORTED.value,
                spec=view,
                spec_version=0,
                tags=list(tags),
                total_trials=len(trials),
                cancel_requested=False,
                started_at=now,
                finished_at=now,
            )
            sweep.tag_rows = [SweepTag(tag=tag) for tag in dict.fromkeys(tags)]
            session.add(sweep)
            session.flush()
            session.add_all(
                Trial(sweep_id=sweep.id, created_at=now, started_at=now, finished_at=now, **row)
                for row in trials
            )
            diverged = sum(bool(row.get("diverged")) for row in trials)
            session.add(
                SweepEvent(
                    sweep_id=sweep.id,
                    kind="imported",
                    message=(
                        f"imported {len(trials)} runs ({diverged} diverged) from "
                        f"{view.get('imported', {}).get('source', 'a file')}"
                    ),
                    data={"runs": len(trials), "diverged": diverged, "project": project},
                )
            )
        return self.get_sweep(sweep.id)

    def get_sweep(self, sweep_id: int, project: str | None = None) -> Sweep:
        """The sweep, or `NotFound` (also for another project's sweep: existence is not revealed)."""
        with self.session() as session:
            query = select(Sweep).where(Sweep.id == sweep_id)
            if project is not None:
                query = query.join(Project).where(Project.name == project)
            sweep = session.scalar(query)
            if sweep is None:
                raise NotFound(f"sweep {sweep_id} not found")
            return sweep

    def list_sweeps(
        self, filters: SweepFilter | None = None, limit: int = 50, offset: int = 0
    ) -> tuple[list[Sweep], int]:
        """A page of sweeps, newest first, and the total matching the filters."""
        filters = filters or SweepFilter()
        query = select(Sweep)
        if filters.project is not None:
            query = query.join(Project).where(Project.name == filters.project)
        if filters.status is not None:
            query = query.where(Sweep.status == filters.status)
        if filters.name:
            escaped = filters.name.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
            query = query.where(func.lower(Sweep.name).like(f"%{escaped.lower()}%", escape="\\"))
        if filters.tag is not None:
            query = query.where(Sweep.id.in_(select(SweepTag.sweep_id).where(SweepTag.tag == filters.tag)))
        with self.session() as session:
            total = session.scalar(select(func.count()).select_from(query.subquery())) or 0
            rows = session.scalars(query.order_by(Sweep.id.desc()).limit(limit).offset(offset)).all()
            return list(rows), int(total)

    def sweeps_with_status(self, statuses: Sequence[str]) -> list[Sweep]:
        """Sweeps in any of `statuses`, oldest first (the runner picks up queued and interrupted ones)."""
        with self.session() as session:
            query = select(Sweep).where(Sweep.status.in_(list(statuses))).order_by(Sweep.id)
            return list(session.scalars(query).all())

    def set_sweep_status(self, sweep_id: int, status: SweepStatus | str, error: str | None = None) -> Sweep:
        """Move a sweep to `status`: `IllegalTransition` unless `orchestrator/status.py`'s table allows it."""
        with self.session() as session:
            return sweep_status.move(session, sweep_id, SweepStatus(status), error)

    def claim_status(
        self, sweep_id: int, expected: Sequence[SweepStatus], status: SweepStatus, why: str = ""
    ) -> str | None:
        """Move the sweep to `status` if it is still in one of `expected` (`sweep_status.claim`)."""
        with self.session() as session:
            return sweep_status.claim(session, sweep_id, expected, status, why)

    def request_cancel(self, sweep_id: int, project: str | None = None) -> Sweep:
        """Ask a sweep to stop. A queued sweep is cancelled at once; an active one is flagged for the
        runner, which marks its trials cancelled and sets the final status. A finished sweep: `Conflict`."""
        sweep = self.get_sweep(sweep_id, project)
        status = SweepStatus(sweep.status)
        if status in SweepStatus.terminal():
            raise Conflict(f"sweep {sweep_id} is already {status.value}; nothing to cancel")
        with self.session() as session:
            session.execute(
                update(Sweep).where(Sweep.id == sweep_id).values(cancel_requested=True, updated_at=utcnow())
            )
            session.add(SweepEvent(sweep_id=sweep_id, kind="cancel_requested", message="cancel requested"))
        # A sweep no runner works on (queued, or waiting for approval) is cancelled here and now, unless the
        # runner picked it up meanwhile (then the runner sees the flag).
        self.claim_status(sweep_id, IDLE, SweepStatus.CANCELLED, why="")
        return self.get_sweep(sweep_id)

    def is_cancel_requested(self, sweep_id: int) -> bool:
        with self.session() as session:
            return bool(session.scalar(select(Sweep.cancel_requested).where(Sweep.id == sweep_id)))

    def delete_sweep(self, sweep_id: int, force: bool = False, project: str | None = None) -> None:
        """Delete a sweep and (by database cascade) everything under it. An active sweep needs `force`."""
        sweep = self.get_sweep(sweep_id, project)
        if SweepStatus(sweep.status) in SweepStatus.active() and not force:
            raise Conflict(
                f"sweep {sweep_id} is {sweep.status}; cancel it first, or delete with force=true "
                "(its running trials are then abandoned)"
            )
        with self.session() as session:
            session.execute(delete(Sweep).where(Sweep.id == sweep_id))

    # progress ------------------------------------------------------------------------------------
    def status_counts(self) -> tuple[dict[str, int], dict[str, int]]:
        """(sweeps per status, trials per status) over every project: the service's gauges. Every status
        is present, 0 when none has it, so a gauge drops to 0 instead of vanishing."""
        with self.session() as session:
            sweeps = session.execute(select(Sweep.status, func.count()).group_by(Sweep.status)).all()
            trials = session.execute(select(Trial.status, func.count()).group_by(Trial.status)).all()
        sweep_counts = {s.value: 0 for s in SweepStatus} | {status: int(n) for status, n in sweeps}
        trial_counts = {s.value: 0 for s in TrialStatus} | {status: int(n) for status, n in trials}
        return sweep_counts, trial_counts

    def budget_rows(self, sweep_id: int) -> tuple[datetime | None, list[BudgetRow]]:
        """(the sweep's start, every trial that ran or runs: its size, time and steps so far), what
        `orchestrator/budget.py` sums. Steps are the latest stored metric's: a running trial's so far, and a
        stopped one's, which spent them too."""
        with self.session() as session:
            started = session.execute(select(Sweep.started_at).where(Sweep.id == sweep_id)).scalar()
            latest = (
                select(TrialMetric.trial_id, func.max(TrialMetric.step).label("step"))
                .join(Trial, Trial.id == TrialMetric.trial_id)
                .where(Trial.sweep_id == sweep_id)
                .group_by(TrialMetric.trial_id)
                .subquery()
            )
            rows = session.execute(
                select(
                    Trial.width,
                    Trial.depth,
                    Trial.duration_s,
                    Trial.started_at,
                    Trial.finished_at,
                    Trial.steps_done,
                    latest.c.step,
                    Trial.batch_size,
                )
                .outerjoin(latest, latest.c.trial_id == Trial.id)
                .where(Trial.sweep_id == sweep_id, Trial.started_at.is_not(None))
            ).all()
        return started, [
            BudgetRow(
                width, depth, duration, started_at, finished_at, max(int(done or 0), int(step or 0)), batch
            )
            for width, depth, duration, started_at, finished_at, done, step, batch in rows
        ]

    def last_event(self, sweep_id: int, kind: str) -> SweepEvent | None:
        with self.session() as session:
            query = select(SweepEvent).where(SweepEvent.sweep_id == sweep_id, SweepEvent.kind == kind)
            return session.scalars(query.order_by(SweepEvent.id.desc()).limit(1)).first()

    def progress(self, sweep_id: int) -> Progress:
        return self.progress_many([sweep_id])[sweep_id]

    def progress_many(self, sweep_ids: Sequence[int]) -> dict[int, Progress]:
        """Progress of several sweeps in three queries (the list endpoint shows a page at once)."""
        ids = list(sweep_ids)
        if not ids:
            return {}
        with self.session() as session:
            sweeps = {s.id: s for s in session.scalars(select(Sweep).where(Sweep.id.in_(ids)))}
            rows = session.execute(
                select(Trial.sweep_id, Trial.status, func.count())
                .where(Trial.sweep_id.in_(ids))
                .group_by(Trial.sweep_id, Trial.status)
            ).all()
            best_rows = session.execute(
                select(Trial.sweep_id, func.min(func.coalesce(Trial.final_val_loss, Trial.final_loss)))
                .where(Trial.sweep_id.in_(ids), Trial.status == TrialStatus.COMPLETED.value)
                .group_by(Trial.sweep_id)
            ).all()
        best = {sweep_id: loss for sweep_id, loss in best_rows}
        counts: dict[int, dict[str, int]] = {i: {s.value: 0 for s in TrialStatus} for i in ids}
        for sweep_id, status, n in rows:
            counts[sweep_id][status] = counts[sweep_id].get(status, 0) + int(n)
        finished = {s.value for s in TrialStatus.finished()}
        now = utcnow()
        result: dict[int, Progress] = {}
        for sweep_id in ids:
            sweep = sweeps.get(sweep_id)
            if sweep is None:
                continue
            done = sum(n for status, n in counts[sweep_id].items() if status in finished)
            total = max(sweep.total_trials, sum(counts[sweep_id].values()))
            eta = None
            if sweep.started_at is not None and 0 < done < total and sweep.finished_at is None:
                elapsed = (now - sweep.started_at).total_seconds()
                eta = elapsed / done * (total - done)
            result[sweep_id] = Progress(
                counts=counts[sweep_id], done=done, total=total, eta_s=eta, best_loss=best.get(sweep_id)
            )
        return result

    # trials and metrics --------------------------------------------------------------------------
    def list_trials(
        self,
        sweep_id: int,
        status: str | None = None,
        limit: int = 100,
        offset: int = 0,
        *,
        filters: TrialFilter | None = None,
        sort: str = "id",
        descending: bool = False,
    ) -> tuple[list[Trial], int]:
        """A page of the sweep's trials matching `filters` (and `status`), sorted by one of
        `TRIAL_SORT_KEYS` (missing values last), and how many match in all."""
        filters = filters or TrialFilter()
        if status is not None:
            filters = replace(filters, status=status)
        query = filtered_trials(sweep_id, filters)
        with self.session() as session:
            total = session.scalar(select(func.count()).select_from(query.subquery())) or 0
            rows = session.scalars(ordered(query, sort, descending).limit(limit).offset(offset)).all()
            return list(rows), int(total)

    def trial_summary(self, sweep_id: int, axes: Sequence[HpAxis]) -> list[SummaryGroup]:
        """The μTransfer plot's points, aggregated in the database (`summary.trial_summary`); an unchanged
        sweep's are answered from memory (`summary.SummaryCache`)."""
        with self.session() as session:
            return self._summaries.summary(session, sweep_id, axes)

    def all_trials(self, sweep_id: int) -> list[Trial]:
        """Every trial of the sweep in creation order (the planner's input)."""
        with self.session() as session:
            return list(session.scalars(select(Trial).where(Trial.sweep_id == sweep_id).order_by(Trial.id)))

    def get_trial(self, sweep_id: int, trial_id: int) -> Trial:
        with self.session() as session:
            trial = session.scalar(select(Trial).where(Trial.id == trial_id, Trial.sweep_id == sweep_id))
            if trial is None:
                raise NotFound(f"trial {trial_id} not found in sweep {sweep_id}")
            return trial

    def trial_metrics(
        self, trial_id: int, since_step: int | None = None, limit: int = 1000
    ) -> list[TrialMetric]:
        """Metrics with step > `since_step`, in step order: poll with the last step seen for new rows."""
        query = select(TrialMetric).where(TrialMetric.trial_id == trial_id)
        if since_step is not None:
            query = query.where(TrialMetric.step > since_step)
        with self.session() as session:
            return list(session.scalars(query.order_by(TrialMetric.step).limit(limit)).all())

    # events --------------------------------------------------------------------------------------
    def add_event(
        self,
        sweep_id: int,
        kind: str,
        message: str,
        level: EventLevel | str = EventLevel.INFO,
        data: dict[str, Any] | None = None,
    ) -> SweepEvent:
        with self.session() as session:
            event = SweepEvent(
                sweep_id=sweep_id, kind=kind, message=message, level=EventLevel(level).value, data=data
            )
            session.add(event)
            return event

    def list_events(self, sweep_id: int, after_id: int | None = None, limit: int = 200) -> list[SweepEvent]:
        """Events in order; pass the last id seen as `after_id` to get only newer ones."""
        query = select(SweepEvent).where(SweepEvent.sweep_id == sweep_id)
        if after_id is not None:
            query = query.where(SweepEvent.id > after_id)
        with self.session() as session:
            return list(session.scalars(query.order_by(SweepEvent.id).limit(limit)).all())
