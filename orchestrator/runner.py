"""The sweep lifecycle, in a background thread so the API stays responsive while sweeps run.

queued -> preflight (coordinate check of every parametrization, SP included) -> running (proxy trials
on the executor) -> completed, or `after_proxies` (the planner's hook) when one is installed.
Failure paths: a failing coordinate check -> `preflight_failed` (unless `preflight: warn`); a cancel
request -> running trials stopped, unfinished trials `cancelled`, sweep `cancelled`; an unexpected error
-> `failed` with the message. A sweep found in `preflight`/`running` at start was interrupted (the
service died): it is resumed, keeping every finished trial.

One runner per database: sweeps are taken one at a time, oldest first, interrupted ones before new ones.
"""

from __future__ import annotations

import logging
import os
import threading
import time
import traceback
from collections.abc import Callable
from typing import TYPE_CHECKING

from sqlalchemy import select

from orchestrator.executor.base import CANCEL, SHUTDOWN, Executor, StopCheck, SweepRun
from orchestrator.spec import SweepSpec
from orchestrator.store.ingest import Ingest, close_unfinished, known_trials
from orchestrator.store.models import CoordCheckResult, EventLevel, Sweep, SweepStatus, TrialStatus
from orchestrator.store.repository import SweepStore

if TYPE_CHECKING:
    from orchestrator.service import Service

log = logging.getLogger(__name__)

POLL_S = 1.0
CANCEL_CHECK_S = 0.5
# Retries of a trial whose worker died (Tune's FailureConfig.max_failures); then the trial is `failed`.
RETRIES_ENV = "MUTRANSFER_TRIAL_RETRIES"
RESUMABLE = (SweepStatus.PREFLIGHT.value, SweepStatus.RUNNING.value)
# Past the proxies: handed to `after_proxies` (planning interrupted, or a target run launched/interrupted).
AFTER_PROXIES = (SweepStatus.PLANNING.value, SweepStatus.TARGET_RUNNING.value)


class SweepRunner:
    """Takes queued (and interrupted) sweeps from the store and runs them on `executor`.

    `after_proxies(sweep_id)` is called when every proxy trial has finished; it owns the sweep's next
    status (planning, target run). Without it the sweep is `completed` once its proxies are done.
    """

    def __init__(
        self,
        store: SweepStore,
        executor: Executor,
        *,
        after_proxies: Callable[[int], None] | None = None,
        poll_s: float = POLL_S,
    ) -> None:
        self.store = store
        self.executor = executor
        self.after_proxies = after_proxies
        self.poll_s = poll_s
        self._wake = threading.Event()
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None

    # Runner protocol (orchestrator.service) ------------------------------------------------------
    def start(self) -> None:
        if self._thread is not None:
            return
        self._stopping.clear()
        self._thread = threading.Thread(target=self._loop, name="mutransfer-runner", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 60.0) -> None:
        """Stop running trials (they resume at the next start) and wait for the thread."""
        self._stopping.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout)
            self._thread = None
        self.executor.shutdown()

    def wake(self) -> None:
        self._wake.set()

    # the loop ------------------------------------------------------------------------------------
    def _loop(self) -> None:
        while not self._stopping.is_set():
            try:
                sweep = self._next_sweep()
            except Exception:  # e.g. the database is briefly down: try again at the next poll
                log.exception("could not read queued sweeps")
                sweep = None
            if sweep is None:
                self._wake.wait(self.poll_s)
                self._wake.clear()
                continue
            try:
                self.run_sweep(sweep.id)
            except Exception as exc:  # a bug or an infrastructure failure: the sweep fails, the loop goes on
                log.exception("sweep %s failed", sweep.id)
                if not self._stopping.is_set():
                    self._fail(sweep.id, exc)

    def _next_sweep(self) -> Sweep | None:
        statuses = RESUMABLE + (AFTER_PROXIES if self.after_proxies is not None else ())
        interrupted = self.store.sweeps_with_status(statuses)
        if interrupted:
            return interrupted[0]
        queued = self.store.sweeps_with_status([SweepStatus.QUEUED.value])
        return queued[0] if queued else None

    def run_sweep(self, sweep_id: int) -> None:
        """Run one sweep from its current status to a terminal one (or until the runner stops)."""
        sweep = self.store.get_sweep(sweep_id)
        spec = SweepSpec.model_validate(sweep.spec)
        stop = self._stop_check(sweep_id)
        if sweep.status in AFTER_PROXIES and self.after_proxies is not None:
            self.after_proxies(sweep_id)  # it handles cancel and shutdown of its own phase
            return
        if stop() == CANCEL:
            self._cancelled(sweep_id)
            return
        if sweep.status in (SweepStatus.QUEUED.value, SweepStatus.PREFLIGHT.value):
            if not self._preflight(sweep, spec):
                return
        if sweep.status != SweepStatus.RUNNING.value:
            self.store.set_sweep_status(sweep_id, SweepStatus.RUNNING)
        known = known_trials(self.store, sweep_id)
        if known:
            finished = sum(1 for t in known if t.status in {s.value for s in TrialStatus.finished()})
            self.store.add_event(
                sweep_id, "resumed", f"resuming: {finished} finished trials kept, the rest run again"
            )
        self.executor.run(SweepRun(sweep_id, spec, known), Ingest(self.store, sweep_id), stop)
        reason = stop()
        if reason == SHUTDOWN:
            return  # stays `running`: the next start resumes it
        if reason == CANCEL:
            self._cancelled(sweep_id)
            return
        leftover = close_unfinished(
            self.store, sweep_id, TrialStatus.FAILED.value, "the executor never ran it"
        )
        if leftover:
            self.store.add_event(
                sweep_id, "trials_not_run", f"{leftover} trials never ran", level=EventLevel.WARNING
            )
        if self.after_proxies is not None:
            self.after_proxies(sweep_id)
        else:
            self.store.set_sweep_status(sweep_id, SweepStatus.COMPLETED)

    # steps ---------------------------------------------------------------------------------------
    def _preflight(self, sweep: Sweep, spec: SweepSpec) -> bool:
        """Coordinate check of every parametrization, each judged by its own predicted slopes (SP's
        hidden activations grow as SP predicts); False when the sweep must stop."""
        checked = self._checked_parametrizations(sweep.id)
        todo = [p for p in spec.parametrizations if p not in checked]
        if spec.preflight == "off" or not todo:
            return True
        if sweep.status != SweepStatus.PREFLIGHT.value:
            self.store.set_sweep_status(sweep.id, SweepStatus.PREFLIGHT)
        failures: dict[str, str] = {}
        for parametrization in todo:
            started = time.monotonic()
            outcome = self.executor.preflight(spec, parametrization)
            with self.store.session() as session:
                session.add(
                    CoordCheckResult(
                        sweep_id=sweep.id,
                        parametrization=parametrization,
                        passed=outcome.passed,
                        data=outcome.report,
                    )
                )
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
                SweepStatus.PREFLIGHT_FAILED,
                error=f"coordinate check failed for {detail} (set `preflight: warn` to run anyway)",
            )
            return False
        return True

    def _checked_parametrizations(self, sweep_id: int) -> set[str]:
        with self.store.session() as session:
            rows = session.scalars(
                select(CoordCheckResult.parametrization).where(CoordCheckResult.sweep_id == sweep_id)
            )
            return set(rows)

    def _stop_check(self, sweep_id: int) -> StopCheck:
        """Why the sweep should stop now, if it should; reads the cancel flag at most every 0.5 s."""
        last = [0.0, False]

        def check() -> str | None:
            if self._stopping.is_set():
                return SHUTDOWN
            now = time.monotonic()
            if not last[1] and now - float(last[0]) >= CANCEL_CHECK_S:
                last[0], last[1] = now, self.store.is_cancel_requested(sweep_id)
            return CANCEL if last[1] else None

        return check

    def _cancelled(self, sweep_id: int) -> None:
        n = close_unfinished(self.store, sweep_id, TrialStatus.CANCELLED.value)
        self.store.set_sweep_status(sweep_id, SweepStatus.CANCELLED)
        self.store.add_event(sweep_id, "cancelled", f"sweep cancelled; {n} unfinished trials cancelled")

    def _fail(self, sweep_id: int, exc: Exception) -> None:
        detail = "".join(traceback.format_exception_only(type(exc), exc)).strip()
        try:
            close_unfinished(self.store, sweep_id, TrialStatus.FAILED.value, detail)
            self.store.set_sweep_status(sweep_id, SweepStatus.FAILED, error=detail[:2000])
        except Exception:
            log.exception("could not record the failure of sweep %s", sweep_id)


def make_runner(service: Service) -> SweepRunner:
    """The `RunnerFactory` the service uses: Ray (local, or `settings.ray_address`) under the data dir, with
    the plan and target run (`orchestrator.target_run.TargetPhase`) after the proxies."""
    from orchestrator.executor.ray_executor import DEFAULT_MAX_FAILURES, RayExecutor
    from orchestrator.target_run import TargetPhase

    settings = service.settings
    raw = os.environ.get(RETRIES_ENV, "") or str(DEFAULT_MAX_FAILURES)
    if not raw.isdigit():
        raise ValueError(f"${RETRIES_ENV} must be a whole number of retries per trial (e.g. 2), got {raw!r}")
    executor = RayExecutor(settings.data_dir, settings.ray_address, max_failures=int(raw))
    runner = SweepRunner(service.store, executor)
    runner.after_proxies = TargetPhase(service.store, executor, settings.data_dir, runner._stop_check)
    return runner
