"""The executor on Ray Tune: one `Tuner` per sweep run, with the sweep's searcher, scheduler and sink.

- sampling: `SweepSearcher` (an `OptunaSearch` per search, the spec's sampler);
- early stopping: `PerSearchASHA` on the per-step loss when `search.early_stopping` is `asha`;
- resources: `tune.with_resources` with the spec's CPUs/GPUs per trial (fractions allowed); GPUs are
  requested only when the cluster has some, else trials run on CPU (and an event says so);
- concurrency: `max_concurrent_trials` from the spec (with a custom searcher Tune would otherwise run
  one trial at a time). On a 2-core machine one trial with 2 threads beats two trials with 1 each;
- failures: `FailureConfig(max_failures)` retries a trial whose worker died; after that it is failed
  with its error kept and the sweep goes on;
- cancel: a `Stopper` whose `stop_all` follows `should_stop`, so Tune stops every trial within a
  controller step.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import gc
import logging
import time
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

from ray import tune
from ray.tune import Stopper
from ray.util.debug import reset_log_once

from orchestrator.executor.callback import StoreCallback
from orchestrator.executor.cluster import cluster_cpus, cluster_gpus, ensure_ray, shutdown_ray
from orchestrator.executor.interface import (
    BUDGET,
    CANCEL,
    SHUTDOWN,
    STEP_LOSS,
    DriverOnly,
    PreflightOutcome,
    StopCheck,
    SweepRun,
    TargetEvents,
    TargetOutcome,
    TargetRequest,
    TrialEvents,
    TrialOutcome,
    TrialRequest,
)
from orchestrator.executor.preflight import run_preflight
from orchestrator.executor.scheduler import SEARCH_CONFIG_KEY, make_scheduler
from orchestrator.executor.search import SweepSearcher
from orchestrator.executor.target import run_target_on_ray
from orchestrator.executor.trainable import DEFAULT_TRIAL_FN, per_trial, run_trial
from orchestrator.spec import SweepSpec
from orchestrator.status import TrialStatus
from orchestrator.trial_config import trial_config

log = logging.getLogger(__name__)

DEFAULT_MAX_FAILURES = 2

# Tune keeps every trial of a run in the driver until the run ends (the `Trial` with its storage, checkpoint
# and resource objects, Ray's reference to its result: about 25 KB each, measured with bench/overhead.py),
# and saves them all with each experiment checkpoint. A large sweep therefore runs as consecutive Tune runs
# of at most this many trials sharing one searcher, scheduler and callback: the driver's memory stays flat
# however many trials a sweep has. The cost is one drain of the trial slots per part (the next part starts
# when the last trial of this one ends), so parts are large; most sweeps are one part.
TRIALS_PER_TUNE_RUN = 500


def release_freed_memory() -> None:
    """Collect the finished Tune run's objects and hand the freed heap back to the OS (glibc's `malloc_trim`),
    so the driver's RSS falls back between the parts of a large sweep instead of keeping each part's peak.
    `malloc_trim` is a no-op where the C library has none (musl, macOS).

    Also forgets Ray's log-once keys: Tune's experiment checkpoint adds one per trial (the text of each
    trial's storage and checkpoint objects, which it cannot JSON-encode), about 0.7 KB a trial for good.
    A one-time Ray warning may then show once per part instead of once per process."""
    reset_log_once()
    gc.collect()
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        libc.malloc_trim(0)
    except (OSError, AttributeError):
        pass


class _FollowFlag(DriverOnly, Stopper):
    """Stops the whole experiment once `should_stop()` is true (the sweep was cancelled)."""

    def __init__(self, should_stop: StopCheck) -> None:
        self._should_stop = should_stop
        self._driver_only = ("_should_stop",)

    def __call__(self, trial_id: str, result: dict) -> bool:
        return False

    def stop_all(self) -> bool:
        return self._should_stop() is not None


class RayExecutor:
    """`Executor` on Ray Tune (see module docstring). `trial_fn` names the training function run by
    every trial (`workers.train:train`; benchmarks pass a trivial one)."""

    def __init__(
        self,
        data_dir: Path,
        address: str | None = None,
        *,
        num_cpus: int | None = None,
        max_failures: int = DEFAULT_MAX_FAILURES,
        trial_fn: str = DEFAULT_TRIAL_FN,
        code_source: Callable[[str], bytes | None] | None = None,
        trials_per_run: int = TRIALS_PER_TUNE_RUN,
    ) -> None:
        self.trials_per_run = trials_per_run
        self.data_dir = Path(data_dir)
        self.code_source = code_source  # digest -> the uploaded archive (the store's), for external models
        self.address = address
        self.num_cpus = num_cpus
        self.max_failures = max_failures
        self.trial_fn = trial_fn
        self.cluster: str | None = None
        self._owns_ray = False

    def start(self) -> str:
        if self.cluster is None:
            import ray

            self._owns_ray = not ray.is_initialized()
            self.cluster = ensure_ray(self.address, self.data_dir, self.num_cpus)
        return self.cluster

    def cluster_usage(self) -> dict[str, float] | None:
        """CPUs and GPUs of the connected Ray cluster and how many are held by tasks and actors now."""
        if self.cluster is None:
            return None
        import ray

        total, free = ray.cluster_resources(), ray.available_resources()
        usage = {}
        for key, name in (("CPU", "cpus"), ("GPU", "gpus")):
            usage[name] = float(total.get(key, 0.0))
            usage[f"{name}_in_use"] = usage[name] - float(free.get(key, 0.0))
        return usage

    def shutdown(self) -> None:
        """Disconnect from Ray, stopping the local cluster, if this executor started it."""
        if self.cluster is not None and self._owns_ray:
            shutdown_ray()
        self.cluster = None

    def _code(self, digest: str | None) -> bytes | None:
        """The archive a sweep's model.code names, to hand to every trial, check and target run."""
        if not digest:
            return None
        data = self.code_source(digest) if self.code_source is not None else None
        if data is None:
            raise RuntimeError(f"model.code {digest} names no uploaded archive this service can read")
        return data

    def preflight(self, spec: SweepSpec, parametrization: str) -> PreflightOutcome:
        self.start()
        return run_preflight(spec, parametrization, self._code(spec.model.code))

    def run(self, sweep: SweepRun, events: TrialEvents, should_stop: StopCheck) -> None:
        self.start()
        spec = sweep.spec
        finished = {s.value for s in TrialStatus.finished()}
        done_keys = {t.request.key for t in sweep.known if t.status in finished}
        remaining = spec.total_trials() - len(done_keys)
        if remaining <= 0:
            return
        resources = self._resources(spec, events)
        threads = max(1, int(resources["cpu"]))
        steps = max(spec.trial_budget(c.tokens, c.batch_size)[0] for c in spec.searches())

        first = spec.searches()[0]
        base = trial_config(
            spec,
            parametrization=first.parametrization,
            width=first.width,
            depth=first.depth,
            seed=0,
            hparams={},
            threads=threads,
        ).to_dict()

        def config_for(request: TrialRequest) -> dict[str, Any]:
            return {
                "trial_key": request.key,
                SEARCH_CONFIG_KEY: request.search,
                "trial": per_trial(
                    request.parametrization,
                    request.width,
                    request.depth,
                    request.seed,
                    request.hparams,
                    spec.trial_budget(request.tokens, request.batch_size),
                ),
            }

        searcher = SweepSearcher(
            spec, sweep.sweep_id, sweep.known, config_for, events.trial_created, reuse=sweep.reuse
        )
        callback = StoreCallback(events, should_stop)
        # One scheduler for every part, so ASHA's rungs keep the results of earlier parts.
        scheduler = make_scheduler(spec.search.early_stopping, steps)
        trainable = tune.with_resources(
            tune.with_parameters(
                run_trial, base=base, trial_fn=self.trial_fn, code=self._code(spec.model.code)
            ),
            resources,
        )
        part = 0
        while remaining > 0 and should_stop() is None and searcher.has_next():
            size = min(remaining, self.trials_per_run)
            tuner = tune.Tuner(
                trainable,
                tune_config=tune.TuneConfig(
                    metric=STEP_LOSS,
                    mode="min",
                    search_alg=searcher,
                    scheduler=scheduler,
                    num_samples=size,
                    max_concurrent_trials=spec.resources.max_concurrent_trials,
                    trial_name_creator=lambda trial: str(trial.config.get("trial_key", trial.trial_id)),
                    trial_dirname_creator=lambda trial: trial.trial_id,
                    # A fresh worker process per trial pays `import torch` and the corpus load (seconds on
                    # a small machine); a reused one has both cached. Trials share nothing else.
                    reuse_actors=True,
                ),
                run_config=tune.RunConfig(
                    name=f"sweep-{sweep.sweep_id}-{int(time.time())}-{part}",
                    storage_path=str((self.data_dir / "tune").resolve()),
                    failure_config=tune.FailureConfig(max_failures=self.max_failures),
                    stop=_FollowFlag(should_stop),
                    callbacks=[callback],
                    verbose=0,
                    log_to_file=False,
                ),
            )
            tuner.fit()
            del tuner  # its trials (and Tune's state for each) go with it: see TRIALS_PER_TUNE_RUN
            remaining -= size
            part += 1
            if remaining > 0:
                release_freed_memory()  # before the next part (a collection costs ~0.1 s: not after the last)
            self._close_unfinished(callback, events, should_stop())
        events.flush()

    @staticmethod
    def _close_unfinished(callback: StoreCallback, events: TrialEvents, reason: str | None) -> None:
        """Trials Tune stopped without a completion event. On shutdown they stay unfinished (resume reruns
        them); on cancel they are cancelled; otherwise Tune ended them without saying why: failed."""
        if reason == SHUTDOWN:
            return
        for key in sorted(callback.open):
            if reason == CANCEL:
                outcome = TrialOutcome(status=TrialStatus.CANCELLED.value)
            elif reason == BUDGET:
                outcome = TrialOutcome(
                    status=TrialStatus.CANCELLED.value, error="stopped: the sweep's budget was reached"
                )
            else:
                outcome = TrialOutcome(status=TrialStatus.FAILED.value, error="Tune ended the trial early")
            events.trial_finished(key, outcome)
        callback.open.clear()

    def run_target(
        self, request: TargetRequest, events: TargetEvents, should_stop: StopCheck
    ) -> TargetOutcome:
        """The target as a Ray generator task (executor/target.py); GPUs only when the cluster has some."""
        self.start()
        if request.gpus > 0 and cluster_gpus() == 0:
            request = replace(request, gpus=0.0)
        return run_target_on_ray(
            request,
            events,
            should_stop,
            max_failures=self.max_failures,
            trial_fn=self.trial_fn,
            code=self._code(request.config.get("code")),
        )

    def _resources(self, spec: SweepSpec, events: TrialEvents) -> dict[str, float]:
        """Per-trial resources; GPUs only when the cluster has them (trials then pick CUDA themselves)."""
        cpus = spec.resources.cpus_per_trial
        gpus = spec.resources.gpus_per_trial
        available = cluster_cpus()
        if cpus > available > 0:  # Tune would wait forever for a node that big
            events.event(
                "cpus_capped",
                f"the spec asks {cpus} CPUs per trial but the Ray cluster has {available}: using {available}",
                level="warning",
            )
            cpus = available
        if gpus > 0 and cluster_gpus() == 0:
            events.event(
                "no_gpu",
                f"the spec asks {gpus} GPU(s) per trial but the Ray cluster has none: running on CPU",
                level="warning",
            )
            gpus = 0.0
        return {"cpu": cpus, "gpu": gpus}
