"""The executor interface: every type the lifecycle and the store exchange with an executor.

The lifecycle (`orchestrator/lifecycle.py`) depends on these types only; Ray stays behind `RayExecutor`
(`orchestrator/executor/ray_executor.py`), which only the composition root (`orchestrator/service.py`)
names. An executor runs the trials of one sweep, and the target run, and reports every event to a sink the
store implements (`TrialEvents`, `TargetEvents`: `orchestrator/store/ingest.py`), so the sink is the single
place where results become rows and the executor never opens the database (docs/architecture.md,
"The executor interface").
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

from orchestrator.spec import SweepSpec

# Objective that Optuna minimizes: the final validation loss (the train loss when no eval ran).
OBJECTIVE = "objective"
# The per-step metric ASHA compares at its rungs.
STEP_LOSS = "loss"
# Loss charged to a diverged trial when it never produced a finite loss (a char-level LM starts near
# ln(vocab) ~ 4-5; anything this large is "blew up" to every sampler).
DIVERGED_FALLBACK_LOSS = 100.0


def diverged_loss(initial_loss: float | None, factor: float) -> float:
    """The objective of a diverged trial: the loss level that defines divergence (factor x the first
    loss), so the sampler learns that this LR is too large without an infinite value. The executor reports
    it and the store rebuilds it for a resumed sweep, so both read this one rule."""
    if initial_loss is None or not math.isfinite(initial_loss):
        return DIVERGED_FALLBACK_LOSS
    return factor * initial_loss


def search_key(
    parametrization: str, width: int, depth: int, tokens: int | None = None, batch_size: int | None = None
) -> str:
    """One independent search of a sweep: (parametrization, width, depth), and the budget of a token or
    batch scan (`-t<tokens>`, `-b<batch>`; the base budget adds nothing, so its keys never change)."""
    key = f"{parametrization}-w{width}-d{depth}"
    if tokens is not None:
        key += f"-t{tokens}"
    if batch_size is not None:
        key += f"-b{batch_size}"
    return key


def trial_key(search: str, index: int, seed: int) -> str:
    """Deterministic key of a trial (unique per sweep): the `index`-th sampled point of the search keyed
    `search`, run with `seed`. The same trial always gets the same key, so a resumed sweep updates rows
    instead of adding duplicates."""
    return f"{search}-i{index}-s{seed}"


class DriverOnly:
    """Mixin for objects Tune pickles with the experiment (searcher, callback, stopper) but that hold
    driver-side handles (the store sink, closures): those attributes are left out of the pickle. The
    store, not Tune's experiment checkpoint, is what a resumed sweep restarts from."""

    _driver_only: tuple[str, ...] = ()

    def __getstate__(self) -> dict[str, Any]:
        state = dict(self.__dict__)
        for name in self._driver_only:
            state[name] = None
        return state


@dataclass(frozen=True)
class TrialRequest:
    """A trial the executor is about to run (its row is created `pending` from this)."""

    key: str
    parametrization: str
    width: int
    depth: int
    index: int
    seed: int
    hparams: dict[str, float]
    tokens: int | None = None  # a token scan's budget per trial; None: the base budget
    batch_size: int | None = None  # a batch scan's batch size; None: the base batch size

    @property
    def search(self) -> str:
        """The key of the search this trial belongs to."""
        return search_key(self.parametrization, self.width, self.depth, self.tokens, self.batch_size)


@dataclass(frozen=True)
class KnownTrial:
    """A trial the store already holds, handed to the executor when a sweep resumes."""

    request: TrialRequest
    status: str
    objective: float | None = None


@dataclass
class TrialOutcome:
    """How a trial ended, as the sink records it."""

    status: str  # completed | pruned | diverged | failed | cancelled
    final_loss: float | None = None
    best_loss: float | None = None
    final_val_loss: float | None = None
    objective: float | None = None
    steps_done: int = 0
    error: str | None = None


@dataclass
class PreflightOutcome:
    """The coordinate check of one parametrization: pass/fail, the modules whose slope missed its
    prediction, the full report (stored as JSON for the UI) and the worst miss in words."""

    parametrization: str
    passed: bool
    failing_modules: list[str] = field(default_factory=list)
    report: dict[str, Any] = field(default_factory=dict)
    detail: str = ""


class TrialEvents(Protocol):
    """Driver-side sink for everything that happens to trials (implemented by `store.ingest.Ingest`)."""

    def trial_created(self, request: TrialRequest) -> None: ...

    def trial_started(self, key: str, node: str | None) -> None: ...

    def trial_metrics(self, key: str, record: Mapping[str, Any]) -> None: ...

    def trial_node(self, key: str, node: str) -> None: ...

    def trial_finished(self, key: str, outcome: TrialOutcome) -> None: ...

    def event(
        self, kind: str, message: str, level: str = "info", data: dict[str, Any] | None = None
    ) -> None: ...

    def flush(self) -> None: ...


@dataclass
class SweepRun:
    """One sweep as the executor needs it. `known` lists trials from an earlier, interrupted run:
    finished ones feed the sampler, unfinished ones are run again with their stored parameters."""

    sweep_id: int
    spec: SweepSpec
    known: list[KnownTrial] = field(default_factory=list)
    # A trial finished before (another sweep's, same result): the lifecycle copies it in and returns its
    # (status, objective) for the sampler, and the executor does not train it; None to train.
    reuse: Callable[[TrialRequest], tuple[str, float | None] | None] | None = None


# Asked by the executor between steps: None to go on, CANCEL when the user cancelled the sweep (running
# trials become `cancelled`), SHUTDOWN when the service is stopping (running trials stay unfinished and
# are run again when the sweep resumes).
StopCheck = Callable[[], "str | None"]
CANCEL = "cancel"
SHUTDOWN = "shutdown"
# BUDGET: the sweep's budget is reached (orchestrator/budget.py): running trials are stopped and recorded
# `cancelled`, and the sweep goes on to planning with what finished.
BUDGET = "budget"


# The target run ------------------------------------------------------------------------------------------
# Outcome statuses beyond the worker's completed/diverged.
FAILED, CANCELLED, INTERRUPTED = "failed", "cancelled", "interrupted"


@dataclass(frozen=True)
class TargetRequest:
    """What the executor needs to run a target: the worker config (a `TrialConfig` dict with
    `checkpoint_dir` set) and its resources."""

    target_run_id: int
    config: dict[str, Any]
    cpus: float = 1.0
    gpus: float = 0.0


@dataclass
class TargetOutcome:
    """How the run ended: completed | diverged (the worker's word), failed, cancelled, or interrupted
    (the service is stopping: the run stays unfinished and resumes at the next start)."""

    status: str
    final_val_loss: float | None = None
    final_train_loss: float | None = None
    steps_done: int = 0
    attempts: int = 0
    error: str | None = None


class TargetEvents(Protocol):
    """Driver-side sink of a target run (implemented by `orchestrator.store.ingest.TargetIngest`)."""

    def attempt_started(self, attempt: int) -> None: ...

    def metrics(self, records: list[dict[str, Any]]) -> None: ...

    def attempt_failed(self, attempt: int, error: str, will_retry: bool) -> None: ...


class Executor(Protocol):
    """Runs a sweep's proxy trials somewhere (Ray Tune in production)."""

    def preflight(self, spec: SweepSpec, parametrization: str) -> PreflightOutcome:
        """The coordinate check of `parametrization` at the sweep's proxy widths."""
        ...

    def run(self, sweep: SweepRun, events: TrialEvents, should_stop: StopCheck) -> None:
        """Run every trial not yet finished; return when all are done or `should_stop()` gave a reason
        (the trials still running are then stopped within seconds)."""
        ...

    def run_target(
        self, request: TargetRequest, events: TargetEvents, should_stop: StopCheck
    ) -> TargetOutcome:
        """Run the full-size target with its own resources, streaming its records to `events` and resuming
        from its checkpoint when a worker dies (`orchestrator/executor/target.py`)."""
        ...

    def cluster_usage(self) -> dict[str, float] | None:
        """{"cpus", "cpus_in_use", "gpus", "gpus_in_use"} of the cluster it runs on; None when not started."""
        ...

    def shutdown(self) -> None: ...
