"""A sweep's life, top to bottom: preflight → proxies → planning → approval → target → the end.

    queued ─ preflight ─ running ─ planning ─┬─ target_running ─ completed
                 │                           ├─ awaiting_approval ──(POST .../target-run)──┘
                 └─ preflight_failed         └─ completed (the plan is the result: nothing to launch)
    any active state ─ failed (an error) | cancelled (a cancel request)

1. **Preflight**: the coordinate check of every parametrization, each judged by its own predicted slopes
   (`docs/coordinate-check.md`); a failure stops the sweep (`preflight_failed`) unless `preflight: warn`.
2. **Proxies**: the executor runs every trial not yet finished; the store's `Ingest` records them.
3. **Planning**: the planner fits the stored trials into a new plan version (`docs/planner.md`).
4. **Approval**: with `target.auto_launch: false` the sweep waits in `awaiting_approval` for a launch.
5. **Target**: the executor trains the target from the plan's choice, checkpointing; its realized loss is
   stored beside the predicted interval.

Every status write goes through the store, which checks it against `orchestrator/status.py`'s table
(docs/architecture.md, "The status table"). A
service that dies mid-sweep finds the sweep in an active state at the next start and `advance` resumes it
where it was: finished trials are kept, an interrupted target continues from its checkpoint. A cancel
request stops running trials (or the target) and ends the sweep `cancelled`; a service shutdown stops
them too but leaves the sweep active, to be resumed.
"""

from __future__ import annotations

import functools
import logging
import math
import threading
import time
import traceback
from dataclasses import asdict
from pathlib import Path

from orchestrator import budget, user_code
from orchestrator.executor.interface import (
    BUDGET,
    CANCEL,
    CANCELLED,
    INTERRUPTED,
    SHUTDOWN,
    Executor,
    StopCheck,
    SweepRun,
    TargetOutcome,
    TargetRequest,
)
from orchestrator.planning import launchable_choice, make_plan, no_target_reason
from orchestrator.reuse import fingerprint, reuse
from orchestrator.spec import SweepSpec, stored_spec
from orchestrator.status import LAUNCHABLE, EventLevel, SweepStatus, TargetStatus, TrialStatus
from orchestrator.store import Conflict, NotFound, Sweep, SweepStore, TargetRun
from orchestrator.store.ingest import Ingest, TargetIngest, close_unfinished, known_trials
from orchestrator.trial_config import target_config, target_resources

log = logging.getLogger(__name__)

CANCEL_CHECK_S = 0.5
BUDGET_CHECK_S = 1.0
S = SweepStatus


class Lifecycle:
    """Moves one sweep from its current status to the next state that needs no compute from us (a terminal
    state, `awaiting_approval`), or until the service stops. `stopping` is set when the service shuts down."""

    def __init__(self, store: SweepStore, executor: Executor, data_dir: Path, stopping: threading.Event):
        self.store = store
        self.executor = executor
        self.data_dir = Path(data_dir)
        self.stopping = stopping

    def advance(self, sweep_id: int) -> None:
        """Run the sweep on from wherever it is; an unexpected error fails it (with the message)."""
        try:
            self._advance(sweep_id)
        except Exception as exc:  # a bug or an infrastructure failure: the sweep fails, the service goes on
            log.exception("sweep %s failed", sweep_id)
            if not self.stopping.is_set():
                self.fail(sweep_id, exc)

    def _advance(self, sweep_id: int) -> None:
        sweep = self.store.get_sweep(sweep_id)
        spec = stored_spec(sweep.spec)
        if spec.model.code:  # the planner builds the model here too (its size, the target's table)
            user_code.ensure_installed(self.store, spec.model.code)
        stop = self.stop_check(sweep_id)
        status = S(sweep.status)
        if status in (S.QUEUED, S.PREFLIGHT, S.RUNNING):
            if stop() == CANCEL:
                self._cancelled(sweep_id)
                return
            if status is not S.RUNNING and not self._preflight(sweep, spec):
                return
            if not self._proxies(sweep_id, spec, stop):
                return
            status = S.RUNNING
        if status in (S.RUNNING, S.PLANNING):
            if not self._plan(sweep_id, spec, status):
                return
        self._target(sweep_id, spec, stop)

    # 1. preflight --------------------------------------------------------------------------------
    def _preflight(self, sweep: Sweep, spec: SweepSpec) -> bool:
        """Coordinate check of every parametrization not yet checked; False when the sweep must stop."""
        todo = [p for p in spec.parametrizations if p not in self.store.coord_checks.checked(sweep.id)]
        if spec.preflight == "off" or not todo:
            return True
        if sweep.status != S.PREFLIGHT:
            self.store.set_sweep_status(sweep.id, S.PREFLIGHT)
        failures: dict[str, str] = {}
        for parametrization in todo:
            started = time.monotonic()
            outcome = self.executor.preflight(spec, parametrization)
            self.store.coord_checks.add(sweep.id, parametrization, outcome.passed, outcome.report)
            verdict = "passed" if outcome.passed else f"failed ({', '.join(outcome.failing_modules)})"
            self.store.add_event(
                sweep.id,
                "coord_check",
                f"coordinate check of {parametrization} {verdict} in {time.monotonic() - started:.1f}s",
                level=EventLevel.INFO if outcome.passed else EventLevel.WARNING,
                data={"parametrization": parametrization, "failing_modules": outcome.failing_modules},
            )
            if not outcome.passed:
                modules = ", ".join(outcome.failing_modules) or "unknown modules"
                failures[parametrization] = f"{modules} ({outcome.detail})" if outcome.detail else modules
        if failures and spec.preflight == "enforce":
            detail = "; ".join(f"{p}: {why}" for p, why in failures.items())
            self.store.set_sweep_status(
                sweep.id,
                S.PREFLIGHT_FAILED,
                error=f"coordinate check failed for {detail} (set `preflight: warn` to run anyway)",
            )
            return False
        return True

    # 2. proxies ----------------------------------------------------------------------------------
    def _proxies(self, sweep_id: int, spec: SweepSpec, stop: StopCheck) -> bool:
        """Run every proxy trial not yet finished; False when the sweep stops here (cancel, shutdown)."""
        if self.store.get_sweep(sweep_id).status != S.RUNNING:
            self.store.set_sweep_status(sweep_id, S.RUNNING)
        known = known_trials(self.store, sweep_id)
        if known:
            finished = sum(1 for t in known if t.status in {s.value for s in TrialStatus.finished()})
            self.store.add_event(
                sweep_id, "resumed", f"resuming: {finished} finished trials kept, the rest run again"
            )
        cut: list[str] = []  # the limit reached, in words, as the check found it
        stop = self._within_budget(sweep_id, spec, stop, cut)
        if stop() != BUDGET:  # a budget already spent (a resumed sweep) starts nothing
            lookup = functools.partial(reuse, self.store, sweep_id, spec) if spec.reuse else None
            ingest = Ingest(self.store, sweep_id, fingerprint=functools.partial(fingerprint, spec))
            self.executor.run(SweepRun(sweep_id, spec, known, lookup), ingest, stop)
        reason = stop()
        if reason == SHUTDOWN:
            return False  # stays `running`: the next start resumes it
        if reason == CANCEL:
            self._cancelled(sweep_id)
            return False
        if reason == BUDGET:
            why = cut[0]
            stopped = close_unfinished(self.store, sweep_id, TrialStatus.CANCELLED.value, f"not run: {why}")
            self.store.add_event(
                sweep_id,
                "budget_reached",
                f"{why}: no new proxy trial starts, running ones were stopped (recorded cancelled), "
                f"{stopped} never started; planning from the trials that finished",
                level=EventLevel.WARNING,
                data={"reason": why},
            )
            return True
        leftover = close_unfinished(
            self.store, sweep_id, TrialStatus.FAILED.value, "the executor never ran it"
        )
        if leftover:
            self.store.add_event(
                sweep_id, "trials_not_run", f"{leftover} trials never ran", level=EventLevel.WARNING
            )
        return True

    # 3. planning and 4. approval -----------------------------------------------------------------
    def _plan(self, sweep_id: int, spec: SweepSpec, status: SweepStatus) -> bool:
        """A new plan version; True when the target should start now."""
        if status is not S.PLANNING:
            self.store.set_sweep_status(sweep_id, S.PLANNING)
        try:
            row = make_plan(self.store, sweep_id)
        except Conflict as exc:
            cut = self.store.last_event(sweep_id, "budget_reached")
            error = f"{exc}; the proxies stopped early: {cut.message}" if cut is not None else str(exc)
            self.store.set_sweep_status(sweep_id, S.FAILED, error=error)
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
                f"plan v{row.version} stored; no target run: {no_target_reason(plan)}",
                level=EventLevel.WARNING,
            )
            self.store.set_sweep_status(sweep_id, S.COMPLETED)
            return False
        if not spec.target.auto_launch:
            self.store.set_sweep_status(sweep_id, S.AWAITING_APPROVAL)
            self.store.add_event(
                sweep_id,
                "awaiting_approval",
                f"plan v{row.version} is ready; target.auto_launch is false: review the plan, then "
                f"POST /api/v1/sweeps/{sweep_id}/target-run to launch the target",
            )
            return False
        self.store.targets.create(
            sweep_id, row.version, plan["target_choice"], checkpoint_root(self.data_dir)
        )
        self.store.set_sweep_status(sweep_id, S.TARGET_RUNNING)
        return True

    # 5. target -----------------------------------------------------------------------------------
    def _target(self, sweep_id: int, spec: SweepSpec, stop: StopCheck) -> None:
        try:
            run = self.store.targets.latest(sweep_id)
        except NotFound:
            run = None
        if run is None or run.status not in TargetStatus.unfinished():
            self.store.set_sweep_status(
                sweep_id, S.FAILED, error="the sweep was target_running without an unfinished target run"
            )
            return
        try:
            _, choice = launchable_choice(self.store, sweep_id, run.plan_version)
            config = target_config(
                spec,
                parametrization=choice.parametrization,
                hparams=choice.hparams,
                checkpoint_dir=str(run.checkpoint_path),
            )
            cpus, gpus = target_resources(spec)
            request = TargetRequest(target_run_id=run.id, config=config.to_dict(), cpus=cpus, gpus=gpus)
            outcome = self.executor.run_target(request, TargetIngest(self.store, sweep_id, run.id), stop)
        except Exception as exc:  # record it on the target row too, then fail the sweep (`advance`)
            self.store.targets.finish(run.id, TargetStatus.FAILED, error=f"{type(exc).__name__}: {exc}")
            raise
        self._target_finished(sweep_id, run, outcome)

    def _target_finished(self, sweep_id: int, run: TargetRun, outcome: TargetOutcome) -> None:
        if outcome.status == INTERRUPTED:
            return  # stays running: the next start of the service continues it from its checkpoint
        if outcome.status == CANCELLED:
            self.store.targets.finish(run.id, TargetStatus.CANCELLED)
            self.store.set_sweep_status(sweep_id, S.CANCELLED)
            self.store.add_event(sweep_id, "cancelled", f"sweep cancelled; target run {run.id} stopped")
            return
        if outcome.status not in (TargetStatus.COMPLETED.value, TargetStatus.DIVERGED.value):
            self.store.targets.finish(run.id, TargetStatus.FAILED, error=outcome.error)
            self.store.set_sweep_status(
                sweep_id, S.FAILED, error=f"target run {run.id} failed: {outcome.error}"
            )
            return
        realized = outcome.final_val_loss if outcome.status == TargetStatus.COMPLETED.value else None
        if realized is not None and not math.isfinite(realized):
            realized = None
        within = None
        if realized is not None and run.predicted_low is not None and run.predicted_high is not None:
            within = run.predicted_low <= realized <= run.predicted_high
        self.store.targets.finish(
            run.id, outcome.status, realized=realized, within=within, steps=outcome.steps_done
        )
        finished = self.store.targets.get(run.id)
        self.store.add_event(
            sweep_id,
            "target_finished",
            _target_message(finished, outcome.steps_done),
            level=EventLevel.INFO if finished.realized_loss is not None else EventLevel.WARNING,
            data={
                "realized_loss": finished.realized_loss,
                "predicted_loss": finished.predicted_loss,
                "within_interval": finished.within_interval,
            },
        )
        self.store.set_sweep_status(sweep_id, S.COMPLETED)

    # stopping and failing ------------------------------------------------------------------------
    def stop_check(self, sweep_id: int) -> StopCheck:
        """Why the sweep should stop now, if it should; reads the cancel flag at most every 0.5 s."""
        last = [0.0, False]

        def check() -> str | None:
            if self.stopping.is_set():
                return SHUTDOWN
            now = time.monotonic()
            if not last[1] and now - float(last[0]) >= CANCEL_CHECK_S:
                last[0], last[1] = now, self.store.is_cancel_requested(sweep_id)
            return CANCEL if last[1] else None

        return check

    def _within_budget(self, sweep_id: int, spec: SweepSpec, stop: StopCheck, cut: list[str]) -> StopCheck:
        """`stop`, and BUDGET once a limit of `spec.budget` is reached (checked at most every
        BUDGET_CHECK_S: it sums the trials in the database); the limit, in words, goes into `cut`."""
        if spec.budget is None:
            return stop
        last = [-math.inf]

        def check() -> str | None:
            reason = stop()
            if reason is not None:
                return reason
            now = time.monotonic()
            if not cut and now - last[0] >= BUDGET_CHECK_S:
                last[0] = now
                why = budget.reached(spec.budget, budget.use(self.store, sweep_id, spec))
                if why is not None:
                    cut.append(why)
            return BUDGET if cut else None

        return check

    def _cancelled(self, sweep_id: int) -> None:
        n = close_unfinished(self.store, sweep_id, TrialStatus.CANCELLED.value)
        self.store.set_sweep_status(sweep_id, S.CANCELLED)
        self.store.add_event(sweep_id, "cancelled", f"sweep cancelled; {n} unfinished trials cancelled")

    def fail(self, sweep_id: int, exc: Exception) -> None:
        detail = "".join(traceback.format_exception_only(type(exc), exc)).strip()
        try:
            close_unfinished(self.store, sweep_id, TrialStatus.FAILED.value, detail)
            self.store.set_sweep_status(sweep_id, S.FAILED, error=detail[:2000])
        except Exception:
            log.exception("could not record the failure of sweep %s", sweep_id)


def launch_target(store: SweepStore, data_dir: Path, sweep_id: int, project: str | None = None) -> TargetRun:
    """Step 4's way out, taken through the API: a pending target run from the latest plan, with the sweep
    claimed from a launchable state in the same transaction (two concurrent launches cannot both win); the
    runner then trains it (step 5).

    `Conflict` (HTTP 409) unless the sweep is awaiting approval, completed or failed and its latest plan has
    something to launch."""
    sweep = store.get_sweep(sweep_id, project)
    if sweep.status not in LAUNCHABLE:
        raise Conflict(
            f"sweep {sweep_id} is {sweep.status}: a target run can be launched only when the sweep is "
            f"{', '.join(sorted(LAUNCHABLE))}"
        )
    version, choice = launchable_choice(store, sweep_id)
    return store.targets.create(sweep_id, version, asdict(choice), checkpoint_root(data_dir), launch=True)


def checkpoint_root(data_dir: Path) -> Path:
    """Where target runs checkpoint: `<data_dir>/targets/sweep-<id>/target-<run id>`."""
    return Path(data_dir) / "targets"


def _target_message(run: TargetRun, steps_done: int) -> str:
    predicted = "n/a" if run.predicted_loss is None else f"{run.predicted_loss:.4f}"
    if run.realized_loss is None:
        return f"target run {run.id} diverged at step {steps_done} (predicted {predicted})"
    band = (
        "no interval"
        if run.predicted_low is None or run.predicted_high is None
        else f"[{run.predicted_low:.4f}, {run.predicted_high:.4f}]"
    )
    inside = "" if run.within_interval is None else " (inside)" if run.within_interval else " (outside)"
    realized = f"realized loss {run.realized_loss:.4f}"
    return f"target run {run.id} finished: {realized} vs predicted {predicted} {band}{inside}"
