"""Tune callback that turns Tune's trial events into `TrialEvents` calls on the driver.

Tune delivers every worker report to the driver; this callback forwards them to the sink, which
batches writes. Status is decided here, once: the final record's status (completed/diverged), a
trial stopped without one is pruned (ASHA) or cancelled (the sweep was cancelled), and a trial
that failed after all retries is failed with its error text.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from ray.tune import Callback
from ray.tune.experiment import Trial

from orchestrator.executor.interface import CANCEL, SHUTDOWN, DriverOnly, StopCheck, TrialEvents, TrialOutcome
from orchestrator.executor.search import classify

MAX_ERROR_CHARS = 4000


def trial_error_text(trial: Trial) -> str:
    """The last failure Tune recorded for a trial (its error file), trimmed for the store."""
    path = trial.error_file
    if path and Path(path).exists():
        text = Path(path).read_text(errors="replace").strip()
        return text[-MAX_ERROR_CHARS:] if text else "the trial failed without an error message"
    return "the trial's worker failed (no error file was written)"


def outcome_from(result: dict[str, Any] | None, status: str, error: str | None = None) -> TrialOutcome:
    """A `TrialOutcome` from a trial's last reported record."""
    result = result or {}
    final_loss = result.get("final_train_loss", result.get("train_loss"))
    return TrialOutcome(
        status=status,
        final_loss=final_loss,
        best_loss=result.get("best_val_loss"),
        final_val_loss=result.get("final_val_loss"),
        objective=result.get("objective"),
        steps_done=int(result.get("step") or 0),
        error=error,
    )


class StoreCallback(DriverOnly, Callback):
    """Forwards trial starts, per-step records and endings to `events`; flushes on a timer."""

    def __init__(self, events: TrialEvents, should_stop: StopCheck, flush_every_s: float = 0.5) -> None:
        self._events = events
        self._should_stop = should_stop
        self._driver_only = ("_events", "_should_stop")
        self._flush_every_s = flush_every_s
        self._last_flush = time.monotonic()
        self._nodes: dict[str, str] = {}
        self.open: set[str] = set()  # trials started and not yet finished (the runner closes the rest)

    @staticmethod
    def _key(trial: Trial) -> str:
        return str(trial.config["trial_key"])

    def on_trial_start(self, iteration: int, trials: list[Trial], trial: Trial, **info: Any) -> None:
        key = self._key(trial)
        self.open.add(key)
        self._events.trial_started(key, None)

    def on_trial_result(
        self, iteration: int, trials: list[Trial], trial: Trial, result: dict, **info: Any
    ) -> None:
        key = self._key(trial)
        node = result.get("node_id")
        if node:
            where = f"{node} ({result.get('node_ip', '?')}, pid {result.get('pid', '?')})"
            if self._nodes.get(key) != where:  # first result of each attempt (a retry runs elsewhere)
                self._nodes[key] = where
                self._events.trial_node(key, where)
        self._events.trial_metrics(key, result)

    def on_trial_complete(self, iteration: int, trials: list[Trial], trial: Trial, **info: Any) -> None:
        key = self._key(trial)
        status, _ = classify(trial.last_result, error=False)
        if status == "pruned":
            reason = self._should_stop()
            if reason == SHUTDOWN:
                return  # left unfinished on purpose: the resumed sweep runs it again
            if reason == CANCEL:
                status = "cancelled"
        self._finish(key, outcome_from(trial.last_result, status))
        self._forget_analysis(trial)

    def on_trial_recover(self, iteration: int, trials: list[Trial], trial: Trial, **info: Any) -> None:
        key = self._key(trial)
        self._events.event(
            "trial_retry",
            f"trial {key} failed (failure {trial.num_failures}); retrying",
            level="warning",
            data={"trial_key": key, "error": trial_error_text(trial)[-500:]},
        )

    def on_trial_error(self, iteration: int, trials: list[Trial], trial: Trial, **info: Any) -> None:
        key = self._key(trial)
        reason = self._should_stop()
        if reason == SHUTDOWN:
            return
        status = "cancelled" if reason == CANCEL else "failed"
        self._finish(key, outcome_from(trial.last_result, status, error=trial_error_text(trial)))
        self._forget_analysis(trial)

    def on_step_end(self, iteration: int, trials: list[Trial], **info: Any) -> None:
        now = time.monotonic()
        if now - self._last_flush >= self._flush_every_s:
            self._last_flush = now
            self._events.flush()

    def on_experiment_end(self, trials: list[Trial], **info: Any) -> None:
        self._events.flush()

    def _finish(self, key: str, outcome: TrialOutcome) -> None:
        self.open.discard(key)
        self._nodes.pop(key, None)
        self._events.trial_finished(key, outcome)

    @staticmethod
    def _forget_analysis(trial: Trial) -> None:
        """Drop Tune's running statistics of a finished trial (min/max/avg and last-n windows of every
        numeric metric, tens of KB per trial): they feed Tune's console and result analysis, which this
        service does not use (the store has every step), and would otherwise grow the driver per trial."""
        trial.run_metadata.metric_analysis = {}
        trial.run_metadata.metric_n_steps = {}
        trial.run_metadata.invalidate_cache()
