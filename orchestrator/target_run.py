"""The sweep after its proxies: plan, then the target run on Ray, then realized vs predicted loss.

`TargetPhase` is the runner's `after_proxies` hook, and the runner also hands it sweeps found in
`planning` or `target_running` (interrupted by a restart, or launched through the API):

    running/planning -> planning (new plan version) -> target_running -> completed
                                                   \\-> awaiting_approval (target.auto_launch false)
                                                   \\-> completed, no target (nothing launchable: event)
    awaiting_approval/completed/failed --POST .../target-run (`launch_target`)--> target_running

The target trains on the executor (`Executor.run_target`: Ray, its own resources), checkpointing under
`<data_dir>/targets/`; a dead worker is retried from the last checkpoint, and a restarted service finds
the sweep `target_running` and continues the same run from its checkpoint. Its records are written here,
on the driver (`TargetIngest`): workers never open the database. On completion the realized loss (final
validation loss) is stored beside the plan's prediction with `within_interval`.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from orchestrator.executor.base import StopCheck
from orchestrator.executor.target import CANCELLED, INTERRUPTED, TargetOutcome, TargetRequest
from orchestrator.planning import TargetChoice, get_plan, make_plan
from orchestrator.spec import SweepSpec
from orchestrator.store.models import (
    EventLevel,
    Sweep,
    SweepEvent,
    SweepStatus,
    TargetMetric,
    TargetRun,
    TargetStatus,
    finite_or_none,
    utcnow,
)
from orchestrator.store.repository import Conflict, NotFound, SweepStore
from orchestrator.trial_config import trial_config

log = logging.getLogger(__name__)

METRIC_COLUMNS = ("train_loss", "val_loss", "lr", "grad_norm", "tokens", "wall_time")
UNFINISHED = (TargetStatus.PENDING.value, TargetStatus.RUNNING.value)
# Sweep states from which a target may be (re)launched through the API.
LAUNCHABLE = (SweepStatus.AWAITING_APPROVAL.value, SweepStatus.COMPLETED.value, SweepStatus.FAILED.value)
CHECKPOINTS_PER_RUN = 20  # a killed target loses at most 1/20 of its steps


# --- configuration ---------------------------------------------------------------------------------------
def target_steps(spec: SweepSpec) -> int:
    """The target's steps: `target.steps`, else `target.tokens` over batch × context, else the proxies'."""
    model = spec.target.model or spec.model
    if spec.target.steps is not None:
        return spec.target.steps
    if spec.target.tokens is not None:
        return max(1, math.ceil(spec.target.tokens / (spec.proxy.batch_size * model.context_length)))
    return spec.proxy.resolved_steps(spec.model.context_length)


def target_resources(spec: SweepSpec) -> tuple[float, float]:
    """(CPUs, GPUs) of the target: `resources.target_cpus/target_gpus`, else a trial's."""
    res = spec.resources
    cpus = res.target_cpus if res.target_cpus is not None else res.cpus_per_trial
    gpus = res.target_gpus if res.target_gpus is not None else res.gpus_per_trial
    return cpus, gpus


def target_request(spec: SweepSpec, run: TargetRun, choice: TargetChoice) -> TargetRequest:
    """The worker config of the target: the proxies' config mapping at the target's size and budget."""
    model_spec = spec if spec.target.model is None else spec.model_copy(update={"model": spec.target.model})
    cpus, gpus = target_resources(spec)
    steps = target_steps(spec)
    config = trial_config(
        model_spec,
        parametrization=choice.parametrization,
        width=spec.target.width,
        depth=spec.target.depth or model_spec.model.depth,
        seed=spec.proxy.seeds[0],
        hparams=choice.hparams,
        steps=steps,
        threads=max(1, int(cpus)),
    )
    config.checkpoint_dir = run.checkpoint_path
    config.checkpoint_every = max(1, steps // CHECKPOINTS_PER_RUN)
    return TargetRequest(target_run_id=run.id, config=config.to_dict(), cpus=cpus, gpus=gpus)


def checkpoint_dir(data_dir: Path, sweep_id: int, target_run_id: int) -> Path:
    return Path(data_dir).resolve() / "targets" / f"sweep-{sweep_id}" / f"target-{target_run_id}"


# --- rows ------------------------------------------------------------------------------------------------
def latest_target_run(store: SweepStore, sweep_id: int) -> TargetRun:
    with store.session() as session:
        row = session.scalar(
            select(TargetRun).where(TargetRun.sweep_id == sweep_id).order_by(TargetRun.id.desc()).limit(1)
        )
    if row is None:
        raise NotFound(
            f"sweep {sweep_id} has no target run yet: it starts after planning when target.auto_launch is "
            "true, else POST to this URL to launch it"
        )
    return row


def target_metrics(
    store: SweepStore, target_run_id: int, since_step: int | None = None, limit: int = 1000
) -> list[TargetMetric]:
    """Metrics with step > `since_step`, in step order (poll with the last step seen)."""
    query = select(TargetMetric).where(TargetMetric.target_run_id == target_run_id)
    if since_step is not None:
        query = query.where(TargetMetric.step > since_step)
    with store.session() as session:
        return list(session.scalars(query.order_by(TargetMetric.step).limit(limit)).all())


def _create_target_run(
    session: Session, sweep_id: int, version: int, choice: TargetChoice, data_dir: Path
) -> int:
    run = TargetRun(
        sweep_id=sweep_id,
        plan_version=version,
        status=TargetStatus.PENDING.value,
        hparams=dict(choice.hparams),
        predicted_loss=finite_or_none(choice.predicted_loss),
        predicted_low=finite_or_none(choice.predicted_low),
        predicted_high=finite_or_none(choice.predicted_high),
        steps_done=0,
        attempts=0,
    )
    session.add(run)
    session.flush()
    run.checkpoint_path = str(checkpoint_dir(data_dir, sweep_id, run.id))
    session.add(
        SweepEvent(
            sweep_id=sweep_id,
            kind="target_created",
            message=(
                f"target run {run.id} ({choice.parametrization}, plan v{version}) with "
                + ", ".join(f"{k}={v:.4g}" for k, v in choice.hparams.items())
                + (" [fallback: no parametrization was recommended]" if choice.fallback else "")
            ),
            data={
                "target_run_id": run.id,
                "parametrization": choice.parametrization,
                "plan_version": version,
            },
        )
    )
    return run.id


def _choice_of(store: SweepStore, sweep_id: int, version: int | None = None) -> tuple[int, TargetChoice]:
    try:
        row = get_plan(store, sweep_id, version)
    except NotFound as exc:
        raise Conflict(str(exc)) from exc
    choice = row.plan.get("target_choice")
    if not choice:
        raise Conflict(
            f"plan v{row.version} of sweep {sweep_id} has nothing to launch: {_no_target(row.plan)}"
        )
    return row.version, TargetChoice(**choice)


def launch_target(store: SweepStore, sweep_id: int, data_dir: Path, project: str | None = None) -> TargetRun:
    """Create a pending target run from the latest plan and hand the sweep to the runner.

    `Conflict` (HTTP 409) unless the sweep is awaiting approval, completed or failed, has a launchable plan
    and no unfinished target run. The check-and-set is one conditional UPDATE, so two concurrent launches
    cannot both win.
    """
    sweep = store.get_sweep(sweep_id, project)
    if sweep.status not in LAUNCHABLE:
        raise Conflict(
            f"sweep {sweep_id} is {sweep.status}: a target run can be launched only when the sweep is "
            f"{', '.join(LAUNCHABLE)}"
        )
    version, choice = _choice_of(store, sweep_id)
    with store.session() as session:
        claimed = session.execute(
            update(Sweep)
            .where(Sweep.id == sweep_id, Sweep.status.in_(LAUNCHABLE))
            .values(
                status=SweepStatus.TARGET_RUNNING.value, finished_at=None, error=None, updated_at=utcnow()
            )
        )
        if not claimed.rowcount:
            raise Conflict(f"sweep {sweep_id} changed state meanwhile; reload it and try again")
        session.add(
            SweepEvent(
                sweep_id=sweep_id,
                kind="status",
                message=f"status {sweep.status} -> target_running (target launched)",
                data={"from": sweep.status, "to": SweepStatus.TARGET_RUNNING.value},
            )
        )
        run_id = _create_target_run(session, sweep_id, version, choice, data_dir)
    with store.session() as session:
        return session.get_one(TargetRun, run_id)


# --- driver-side persistence -----------------------------------------------------------------------------
class TargetIngest:
    """`TargetEvents` on the store: attempts, per-step metrics (upserted on UNIQUE(target_run_id, step), so
    steps repeated after a resume overwrite rather than duplicate) and failures as sweep events."""

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
        rows = {int(r["step"]): _metric_row(self.target_run_id, r) for r in records}
        if not rows:
            return
        if self._first_batch and min(rows) > 1:  # the worker restored a checkpoint: say from where
            self._resumed(min(rows) - 1)
        self._first_batch = False
        with self.store.session() as session:
            _upsert(session, list(rows.values()))
            session.execute(
                update(TargetRun)
                .where(TargetRun.id == self.target_run_id, TargetRun.steps_done < max(rows))
                .values(steps_done=max(rows))
            )

    def _resumed(self, from_step: int) -> None:
        with self.store.session() as session:
            recorded = session.get_one(TargetRun, self.target_run_id).steps_done
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


def _metric_row(target_run_id: int, record: Mapping[str, Any]) -> dict[str, Any]:
    row: dict[str, Any] = {"target_run_id": target_run_id, "step": int(record["step"])}
    for name in METRIC_COLUMNS:
        value = record.get(name)
        row[name] = None if value is None else int(value) if name == "tokens" else finite_or_none(value)
    return row


def _upsert(session: Session, rows: list[dict[str, Any]]) -> None:
    """INSERT ... ON CONFLICT (target_run_id, step) DO UPDATE on SQLite and PostgreSQL."""
    dialect = session.get_bind().dialect.name
    if dialect == "sqlite":
        from sqlalchemy.dialects.sqlite import insert
    elif dialect == "postgresql":
        from sqlalchemy.dialects.postgresql import insert
    else:
        raise RuntimeError(f"unsupported database {dialect!r}: mutransfer supports SQLite and PostgreSQL")
    stmt = insert(TargetMetric).values(rows)
    stmt = stmt.on_conflict_do_update(
        index_elements=["target_run_id", "step"], set_={c: stmt.excluded[c] for c in METRIC_COLUMNS}
    )
    session.execute(stmt)


# --- the runner's hook -----------------------------------------------------------------------------------
class TargetPhase:
    """The runner's `after_proxies(sweep_id)`: plan, then wait for approval or run the target (module doc).

    `stop_check(sweep_id)` is the runner's: it says when the sweep was cancelled or the service stops.
    """

    def __init__(
        self,
        store: SweepStore,
        executor: Any,
        data_dir: Path,
        stop_check: Callable[[int], StopCheck],
    ) -> None:
        self.store, self.executor, self.data_dir, self.stop_check = (
            store,
            executor,
            Path(data_dir),
            stop_check,
        )

    def __call__(self, sweep_id: int) -> None:
        sweep = self.store.get_sweep(sweep_id)
        spec = SweepSpec.model_validate(sweep.spec)
        if sweep.status in (SweepStatus.RUNNING.value, SweepStatus.PLANNING.value):
            if not self._plan(sweep_id, spec):
                return
        self._run(sweep_id, spec)

    def _plan(self, sweep_id: int, spec: SweepSpec) -> bool:
        """Plan; True when the target should start now."""
        self.store.set_sweep_status(sweep_id, SweepStatus.PLANNING)
        try:
            row = make_plan(self.store, sweep_id)
        except Conflict as exc:
            self.store.set_sweep_status(sweep_id, SweepStatus.FAILED, error=str(exc))
            return False
        plan = row.plan
        self.store.add_event(
            sweep_id,
            "planned",
            f"plan v{row.version}: {plan.get('recommendation')}",
            level=EventLevel.INFO if plan.get("recommended") else EventLevel.WARNING,
            data={"version": row.version, "recommended": plan.get("recommended")},
        )
        if not plan.get("target_choice"):  # the plan itself is the result: it says why nothing transfers
            self.store.add_event(
                sweep_id,
                "no_target",
                f"plan v{row.version} stored; no target run: {_no_target(plan)}",
                level=EventLevel.WARNING,
            )
            self.store.set_sweep_status(sweep_id, SweepStatus.COMPLETED)
            return False
        if not spec.target.auto_launch:
            self.store.set_sweep_status(sweep_id, SweepStatus.AWAITING_APPROVAL)
            self.store.add_event(
                sweep_id,
                "awaiting_approval",
                f"plan v{row.version} is ready; target.auto_launch is false: review the plan, then "
                f"POST /api/v1/sweeps/{sweep_id}/target-run to launch the target",
            )
            return False
        with self.store.session() as session:
            _create_target_run(
                session, sweep_id, row.version, TargetChoice(**plan["target_choice"]), self.data_dir
            )
        self.store.set_sweep_status(sweep_id, SweepStatus.TARGET_RUNNING)
        return True

    def _run(self, sweep_id: int, spec: SweepSpec) -> None:
        try:
            run = latest_target_run(self.store, sweep_id)
        except NotFound:
            run = None
        if run is None or run.status not in UNFINISHED:
            self.store.set_sweep_status(
                sweep_id,
                SweepStatus.FAILED,
                error="the sweep was target_running without an unfinished target run",
            )
            return
        try:
            _, choice = _choice_of(self.store, sweep_id, run.plan_version)
            request = target_request(spec, run, choice)
            outcome = self.executor.run_target(
                request, TargetIngest(self.store, sweep_id, run.id), self.stop_check(sweep_id)
            )
        except Exception as exc:  # record it on the target row too, then let the runner fail the sweep
            self._finish_row(run.id, TargetStatus.FAILED.value, error=f"{type(exc).__name__}: {exc}")
            raise
        self._record(sweep_id, run, outcome)

    def _record(self, sweep_id: int, run: TargetRun, outcome: TargetOutcome) -> None:
        if outcome.status == INTERRUPTED:
            return  # stays running: the next start of the service continues it from its checkpoint
        if outcome.status == CANCELLED:
            self._finish_row(run.id, TargetStatus.CANCELLED.value)
            self.store.set_sweep_status(sweep_id, SweepStatus.CANCELLED)
            self.store.add_event(sweep_id, "cancelled", f"sweep cancelled; target run {run.id} stopped")
            return
        if outcome.status not in (TargetStatus.COMPLETED.value, TargetStatus.DIVERGED.value):
            self._finish_row(run.id, TargetStatus.FAILED.value, error=outcome.error)
            self.store.set_sweep_status(
                sweep_id, SweepStatus.FAILED, error=f"target run {run.id} failed: {outcome.error}"
            )
            return
        realized = finite_or_none(outcome.final_val_loss) if outcome.status == "completed" else None
        within = None
        if realized is not None and run.predicted_low is not None and run.predicted_high is not None:
            within = run.predicted_low <= realized <= run.predicted_high
        self._finish_row(run.id, outcome.status, realized=realized, within=within, steps=outcome.steps_done)
        predicted = "n/a" if run.predicted_loss is None else f"{run.predicted_loss:.4f}"
        band = (
            "no interval"
            if run.predicted_low is None or run.predicted_high is None
            else f"[{run.predicted_low:.4f}, {run.predicted_high:.4f}]"
        )
        if realized is None:
            message = f"target run {run.id} diverged at step {outcome.steps_done} (predicted {predicted})"
        else:
            message = (
                f"target run {run.id} finished: realized loss {realized:.4f} vs predicted {predicted} {band}"
                + ("" if within is None else " (inside)" if within else " (outside)")
            )
        self.store.add_event(
            sweep_id,
            "target_finished",
            message,
            level=EventLevel.INFO if realized is not None else EventLevel.WARNING,
            data={"realized_loss": realized, "predicted_loss": run.predicted_loss, "within_interval": within},
        )
        self.store.set_sweep_status(sweep_id, SweepStatus.COMPLETED)

    def _finish_row(
        self,
        run_id: int,
        status: str,
        *,
        error: str | None = None,
        realized: float | None = None,
        within: bool | None = None,
        steps: int | None = None,
    ) -> None:
        values: dict[str, Any] = {"status": status, "finished_at": utcnow(), "realized_loss": realized}
        values["within_interval"] = within
        if error is not None:
            values["error"] = error[:4000]
        if steps:
            values["steps_done"] = steps
        with self.store.session() as session:
            session.execute(update(TargetRun).where(TargetRun.id == run_id).values(**values))


def _no_target(plan: dict[str, Any]) -> str:
    problems = [w["message"] for w in plan.get("warnings", []) if w.get("code") == "no_target"]
    return problems[0] if problems else "the plan has no target choice"
