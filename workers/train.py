"""The training loop: a trial is a plain function from a config to a stream of metrics.

It knows nothing of Ray, REST or the database (the executor wraps it). It is seeded
and deterministic on CPU, uses bf16 autocast (and optionally ``torch.compile``) on GPU,
ends early with status ``diverged`` instead of raising when the loss blows up, and
resumes from its latest checkpoint when ``checkpoint_dir`` holds one.
"""

from __future__ import annotations

import contextlib
import math
import time
from collections.abc import Iterator
from dataclasses import asdict, dataclass, replace
from typing import Any

import torch
from torch import nn

from workers.checkpoint import check_resumable, config_fingerprint, load_latest_checkpoint, save_checkpoint
from workers.config import TrialConfig
from workers.data import load_dataset
from workers.metrics import COMPLETED, DIVERGED, StepMetrics, is_diverged
from workers.parametrization import build_model, build_optimizer, clip_unfolded
from workers.schedules import schedule_for


@dataclass
class _Progress:
    """What a resumed run needs besides model and optimizer state."""

    step: int = 0
    initial_loss: float | None = None
    best_val_loss: float | None = None
    elapsed: float = 0.0
    last: StepMetrics | None = None


def train(config: TrialConfig) -> Iterator[StepMetrics]:
    """Train one trial and yield a record after every optimizer step, then a final record.

    The final record has ``status`` ``completed`` or ``diverged``. Stopping the iteration
    early (e.g. an early-stopping scheduler) is safe: nothing is left running.
    """
    _check(config)
    device = resolve_device(config.device)
    if config.threads:
        torch.set_num_threads(config.threads)
    data = load_dataset(config)
    torch.manual_seed(config.seed)
    model = build_model(config, data.vocab_size).to(device)
    optimizer = build_optimizer(model, config)
    factor = schedule_for(config)
    progress = _restore(config, model, optimizer, device)
    forward = torch.compile(model) if config.compile and device.type == "cuda" else model
    autocast = autocast_for(device)
    val_batches = [
        _to(data.batch("val", config.batch_size, config.context_length, config.seed, i), device)
        for i in range(config.eval_batches)
    ]
    tokens_per_step = config.batch_size * config.context_length
    started = time.perf_counter() - progress.elapsed

    while progress.step < config.steps:
        lr_factor = factor(progress.step)
        for group in optimizer.param_groups:
            group["lr"] = group["base_lr"] * lr_factor
        x, y = _to(
            data.batch("train", config.batch_size, config.context_length, config.seed, progress.step), device
        )
        max_loss = (
            math.inf if progress.initial_loss is None else config.divergence_factor * progress.initial_loss
        )
        loss, grad_norm = train_step(forward, model, optimizer, (x, y), config.grad_clip, autocast, max_loss)
        if progress.initial_loss is None:
            progress.initial_loss = loss
        record = StepMetrics(
            step=progress.step + 1,
            train_loss=loss,
            tokens=(progress.step + 1) * tokens_per_step,
            lr=config.lr * lr_factor,
            grad_norm=grad_norm,
            val_loss=None,
            wall_time=time.perf_counter() - started,
        )
        if grad_norm is None:  # the update was refused: the loss had diverged
            record.tokens = progress.step * tokens_per_step
            yield _final(record, progress, DIVERGED)
            return
        progress.step += 1
        if (config.eval_every and progress.step % config.eval_every == 0) or progress.step == config.steps:
            record.val_loss = evaluate(forward, val_batches, autocast)
            if math.isfinite(record.val_loss) and (
                progress.best_val_loss is None or record.val_loss < progress.best_val_loss
            ):
                progress.best_val_loss = record.val_loss
        record.best_val_loss = progress.best_val_loss
        progress.last = record
        if config.checkpoint_dir and (
            (config.checkpoint_every and progress.step % config.checkpoint_every == 0)
            or progress.step == config.steps
        ):
            progress.elapsed = time.perf_counter() - started
            _save(config, model, optimizer, progress, device)
        yield record
    assert progress.last is not None  # steps >= 1 was checked, and every checkpoint has a last record
    yield _final(progress.last, progress, COMPLETED)


def train_step(
    forward: nn.Module,
    model: nn.Module,
    optimizer: torch.optim.Optimizer,
    batch: tuple[torch.Tensor, torch.Tensor],
    grad_clip: float | None,
    autocast: contextlib.AbstractContextManager[Any],
    max_loss: float = math.inf,
) -> tuple[float, float | None]:
    """One optimizer update; returns (loss, grad norm before clipping).

    When the loss is NaN/inf or above ``max_loss``, or the gradient is NaN/inf, the update
    is not applied (so no checkpoint ever holds NaN weights) and the grad norm is None: the
    caller ends the run as diverged. ``forward`` may be the compiled model; ``model`` holds
    the parameters. The throughput benchmark times this function.
    """
    model.train()
    with autocast:
        _, loss = forward(*batch)
    value = float(loss.item())
    if is_diverged(value, max_loss):
        return value, None
    optimizer.zero_grad(set_to_none=True)
    loss.backward()
    norm = clip_unfolded(model.parameters(), optimizer.param_groups, grad_clip)
    if not math.isfinite(norm):
        return value, None
    optimizer.step()
    return value, norm


@torch.no_grad()
def evaluate(
    forward: nn.Module,
    batches: list[tuple[torch.Tensor, torch.Tensor]],
    autocast: contextlib.AbstractContextManager[Any],
) -> float:
    """Mean loss over fixed validation batches (the same ones at every evaluation, so points compare)."""
    forward.eval()
    total = 0.0
    for x, y in batches:
        with autocast:
            _, loss = forward(x, y)
        total += float(loss.item())
    forward.train()
    return total / len(batches)


def resolve_device(name: str) -> torch.device:
    """``auto`` means the GPU when there is one."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name not in ("cpu", "cuda"):
        raise ValueError(f"device {name!r} is not one of auto, cpu, cuda")
    if name == "cuda" and not torch.cuda.is_available():
        raise ValueError(
            "device 'cuda' was asked for but this node has no usable GPU: use device 'auto' or 'cpu'"
        )
    return torch.device(name)


def autocast_for(device: torch.device) -> contextlib.AbstractContextManager[Any]:
    """bf16 on GPU (no loss scaling needed); full fp32 on CPU, where it is exact and deterministic."""
    if device.type == "cuda":
        return torch.autocast(device_type="cuda", dtype=torch.bfloat16)
    return contextlib.nullcontext()


def _to(batch: tuple[torch.Tensor, torch.Tensor], device: torch.device) -> tuple[torch.Tensor, torch.Tensor]:
    return batch[0].to(device, non_blocking=True), batch[1].to(device, non_blocking=True)


def _final(last: StepMetrics, progress: _Progress, status: str) -> StepMetrics:
    return replace(
        last,
        status=status,
        best_val_loss=progress.best_val_loss,
        final_train_loss=last.train_loss,
        final_val_loss=last.val_loss if status == COMPLETED else None,
    )


def _check(config: TrialConfig) -> None:
    """Reject settings that would crash mid-run or train nonsense, before any compute is spent."""
    problems = []
    if config.steps < 1:
        problems.append(f"steps {config.steps} must be >= 1")
    if config.batch_size < 1:
        problems.append(f"batch_size {config.batch_size} must be >= 1")
    if config.context_length < 1:
        problems.append(f"context_length {config.context_length} must be >= 1")
    if config.eval_every < 0 or config.checkpoint_every < 0:
        problems.append("eval_every and checkpoint_every must be >= 0 (0 turns them off)")
    if config.eval_batches < 1:
        problems.append(f"eval_batches {config.eval_batches} must be >= 1")
    if not (config.divergence_factor > 1):
        problems.append(f"divergence_factor {config.divergence_factor} must be > 1")
    if config.grad_clip is not None and not (config.grad_clip > 0):
        problems.append(f"grad_clip {config.grad_clip} must be > 0, or None for no clipping")
    if not (math.isfinite(config.lr) and config.lr > 0):
        problems.append(f"lr {config.lr} must be a positive finite number")
    if config.threads is not None and config.threads < 1:
        problems.append(f"threads {config.threads} must be >= 1")
    if problems:
        raise ValueError("invalid trial config: " + "; ".join(problems))


def _save(
    config: TrialConfig,
    model: nn.Module,
    optimizer: torch.optim.Optimizer,
    progress: _Progress,
    device: torch.device,
) -> None:
    state = {
        "config": config_fingerprint(config),
        "model": model.state_dict(),
        "optimizer": optimizer.state_dict(),
        "step": progress.step,
        "initial_loss": progress.initial_loss,
        "best_val_loss": progress.best_val_loss,
        "elapsed": progress.elapsed,
        "last": asdict(progress.last) if progress.last else None,
        "torch_rng": torch.get_rng_state(),
        "cuda_rng": torch.cuda.get_rng_state(device) if device.type == "cuda" else None,
    }
    save_checkpoint(config.checkpoint_dir, progress.step, state)


def _restore(
    config: TrialConfig, model: nn.Module, optimizer: torch.optim.Optimizer, device: torch.device
) -> _Progress:
    """Load the latest checkpoint into model and optimizer; a fresh ``_Progress`` when there is none."""
    if not config.checkpoint_dir:
        return _Progress()
    state = load_latest_checkpoint(config.checkpoint_dir)
    if state is None:
        return _Progress()
    check_resumable(state["config"], config, config.checkpoint_dir)
    model.load_state_dict(state["model"])
    optimizer.load_state_dict(state["optimizer"])
    torch.set_rng_state(state["torch_rng"])
    if state["cuda_rng"] is not None and device.type == "cuda":
        torch.cuda.set_rng_state(state["cuda_rng"], device)
    return _Progress(
        step=state["step"],
        initial_loss=state["initial_loss"],
        best_val_loss=state["best_val_loss"],
        elapsed=state["elapsed"],
        last=StepMetrics(**state["last"]) if state["last"] else None,
    )
