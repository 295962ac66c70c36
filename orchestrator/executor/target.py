"""The target run on Ray: one long training run, streamed back to the driver, retried from its checkpoint.

Why a Ray generator task and not Tune: the target is a single run with no search or scheduler; what it
needs is its own resources (`resources.target_cpus/target_gpus`), its loss streamed to the driver as it
trains (driver-side persistence, as for trials: workers never open the database) and retries that resume
from the last checkpoint. The worker batches its records (every `BATCH_S` seconds) so a fast run does
not pay one object per step.

Retries are driven here, not by Ray (`max_retries=0`): a worker that dies (killed, OOM, node lost) is
relaunched up to `max_failures` times, and `workers.train.train` picks up the latest checkpoint in
`checkpoint_dir` (which must be on storage every node sees: the service's data dir on one machine).
An exception raised by the training code itself is a bug or a bad config: it fails at once, with its
message, instead of being retried.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator
from typing import Any

from orchestrator.executor.interface import (
    CANCEL,
    CANCELLED,
    FAILED,
    INTERRUPTED,
    SHUTDOWN,
    StopCheck,
    TargetEvents,
    TargetOutcome,
    TargetRequest,
)
from orchestrator.executor.trainable import DEFAULT_TRIAL_FN, resolve_trial_fn, with_code

log = logging.getLogger(__name__)

BATCH_S = 0.5
DEFAULT_TARGET_FAILURES = 2


def stream_target(
    config: dict[str, Any], trial_fn: str = DEFAULT_TRIAL_FN, code: bytes | None = None
) -> Iterator[list[dict[str, Any]]]:
    """The worker side: train and yield lists of metric records (plain dicts), the last one final.

    Records are batched for `BATCH_S` seconds, except that a checkpointed step is sent at once: after a crash
    the run resumes *after* its checkpoint, so steps up to it must already have reached the driver."""
    from workers.config import TrialConfig

    run = resolve_trial_fn(trial_fn)
    trial = TrialConfig.from_dict(with_code(config, code))
    every = trial.checkpoint_every if trial.checkpoint_dir else 0
    batch: list[dict[str, Any]] = []
    last_sent = time.monotonic()
    for item in run(trial):
        record = item.to_dict() if hasattr(item, "to_dict") else dict(item)
        batch.append(record)
        # Sent at once after a checkpoint too: a resumed run restarts after it and never repeats those steps.
        checkpointed = bool(every) and int(record["step"]) % every == 0
        if (
            record.get("status", "running") != "running"
            or checkpointed
            or time.monotonic() - last_sent >= BATCH_S
        ):
            yield batch
            batch, last_sent = [], time.monotonic()
    if batch:
        yield batch


def run_target_on_ray(
    request: TargetRequest,
    events: TargetEvents,
    should_stop: StopCheck,
    *,
    max_failures: int = DEFAULT_TARGET_FAILURES,
    trial_fn: str = DEFAULT_TRIAL_FN,
    code: bytes | None = None,
) -> TargetOutcome:
    """Run the target to its end on the connected Ray cluster (see the module docstring)."""
    import ray
    from ray.exceptions import RayError, RayTaskError, TaskCancelledError

    remote = ray.remote(stream_target).options(
        num_cpus=request.cpus, num_gpus=request.gpus, max_retries=0, name=f"target-{request.target_run_id}"
    )
    code_ref = ray.put(code) if code else None  # once, whatever the retries
    attempt = 0
    steps_done = 0
    while True:
        reason = should_stop()
        if reason is not None:
            return _stopped(reason, steps_done, attempt)
        attempt += 1
        events.attempt_started(attempt)
        final: dict[str, Any] | None = None
        generator = remote.remote(request.config, trial_fn, code_ref)
        try:
            for ref in generator:
                records = ray.get(ref)
                events.metrics(records)
                steps_done = max([steps_done, *(int(r["step"]) for r in records)])
                if records and records[-1].get("status", "running") != "running":
                    final = records[-1]
                reason = should_stop()
                if reason is not None:
                    ray.cancel(generator, force=True)
                    return _stopped(reason, steps_done, attempt)
        except TaskCancelledError:
            return _stopped(should_stop() or CANCEL, steps_done, attempt)
        except RayTaskError as exc:  # the training code raised: a bug or a bad config, not worth a retry
            error = f"the target's training raised: {exc.cause if exc.cause is not None else exc}"
            events.attempt_failed(attempt, error, will_retry=False)
            return TargetOutcome(FAILED, steps_done=steps_done, attempts=attempt, error=error[:4000])
        except RayError as exc:  # the worker died (killed, OOM, node lost): resume from the checkpoint
            retry = attempt <= max_failures
            error = f"attempt {attempt}: the target's worker failed: {type(exc).__name__}: {exc}"
            events.attempt_failed(attempt, error[:4000], will_retry=retry)
            if retry:
                continue
            return TargetOutcome(FAILED, steps_done=steps_done, attempts=attempt, error=error[:4000])
        if final is None:
            error = "the target's worker ended without a final record"
            events.attempt_failed(attempt, error, will_retry=False)
            return TargetOutcome(FAILED, steps_done=steps_done, attempts=attempt, error=error)
        return TargetOutcome(
            status=str(final["status"]),
            final_val_loss=final.get("final_val_loss"),
            final_train_loss=final.get("final_train_loss"),
            steps_done=int(final["step"]),
            attempts=attempt,
        )


def _stopped(reason: str, steps_done: int, attempts: int) -> TargetOutcome:
    status = INTERRUPTED if reason == SHUTDOWN else CANCELLED
    return TargetOutcome(status, steps_done=steps_done, attempts=attempts)
