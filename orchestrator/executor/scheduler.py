"""ASHA per search: trials are only compared with trials of the same (parametrization, width, depth).

One Tune run holds every search of a sweep; a single `AsyncHyperBandScheduler` would compare a width-32
SP trial with a width-128 μP one at its rungs and prune by model size, not by hyperparameters. This
scheduler keeps one ASHA per search and routes each trial to its own.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ray.tune.schedulers import AsyncHyperBandScheduler, FIFOScheduler, TrialScheduler

from orchestrator.executor.interface import STEP_LOSS
from orchestrator.spec import EarlyStoppingSpec

if TYPE_CHECKING:
    from ray.tune.experiment import Trial

SEARCH_CONFIG_KEY = "search_key"


class PerSearchASHA(FIFOScheduler):
    """`AsyncHyperBandScheduler` on the per-step loss, one instance per search, keyed by the trial's
    `config["search_key"]`; the time axis is the optimizer step (`max_t` = the proxy's steps)."""

    def __init__(self, settings: EarlyStoppingSpec, max_steps: int) -> None:
        super().__init__()
        self._settings = settings
        self._max_t = max_steps
        self._grace = min(settings.grace_period, max_steps)
        self._by_search: dict[str, AsyncHyperBandScheduler] = {}
        self._metric, self._mode = STEP_LOSS, "min"

    def set_search_properties(self, metric: str | None, mode: str | None, **spec: object) -> bool:
        return True

    def _asha(self, trial: Trial) -> AsyncHyperBandScheduler:
        key = str(trial.config.get(SEARCH_CONFIG_KEY, ""))
        if key not in self._by_search:
            self._by_search[key] = AsyncHyperBandScheduler(
                time_attr="step",
                metric=STEP_LOSS,
                mode="min",
                max_t=self._max_t,
                grace_period=self._grace,
                reduction_factor=self._settings.reduction_factor,
                brackets=self._settings.brackets,
                # The final step is the trial's own end: never "stop" a trial for reaching it, or a
                # completed trial would be indistinguishable from a pruned one.
                stop_last_trials=False,
            )
        return self._by_search[key]

    def on_trial_add(self, tune_controller: object, trial: Trial) -> None:
        self._asha(trial).on_trial_add(tune_controller, trial)  # type: ignore[arg-type]

    def on_trial_result(self, tune_controller: object, trial: Trial, result: dict) -> str:
        asha = self._asha(trial)
        if trial.trial_id not in asha._trial_info:  # noqa: SLF001 - a retried trial rejoins its bracket
            asha.on_trial_add(tune_controller, trial)  # type: ignore[arg-type]
        return asha.on_trial_result(tune_controller, trial, result)  # type: ignore[arg-type]

    def on_trial_complete(self, tune_controller: object, trial: Trial, result: dict) -> None:
        asha = self._asha(trial)
        if trial.trial_id in asha._trial_info:  # noqa: SLF001 - ASHA forgets a trial once it completes
            asha.on_trial_complete(tune_controller, trial, result)  # type: ignore[arg-type]

    def on_trial_remove(self, tune_controller: object, trial: Trial) -> None:
        asha = self._asha(trial)
        if trial.trial_id in asha._trial_info:  # noqa: SLF001
            asha.on_trial_remove(tune_controller, trial)  # type: ignore[arg-type]

    def debug_string(self) -> str:
        stopped = sum(a._num_stopped for a in self._by_search.values())  # noqa: SLF001
        return f"PerSearchASHA: {len(self._by_search)} searches, {stopped} trials stopped"


class FirstInFirstOut(FIFOScheduler):
    """Tune's FIFO scheduler, reusable across the Tune runs of one sweep (Tune refuses a scheduler whose
    metric was already set by an earlier run; FIFO never reads it)."""

    def set_search_properties(self, metric: str | None, mode: str | None, **spec: object) -> bool:
        return True


def make_scheduler(early_stopping: EarlyStoppingSpec | None, max_steps: int) -> TrialScheduler:
    """FIFO without early stopping; per-search ASHA when the spec asks for `asha`."""
    if early_stopping is None:
        return FirstInFirstOut()
    return PerSearchASHA(early_stopping, max_steps)
