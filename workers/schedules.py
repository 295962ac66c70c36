"""Learning-rate schedules as a multiplier of each parameter group's own base LR.

Why relative: the parametrization gives every group its own LR (e.g. hidden η/m under
μP); a schedule that set absolute LRs would erase those per-group multipliers. The
training loop applies ``group["lr"] = group["base_lr"] * factor(step)``.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from functools import partial

from workers.config import TrialConfig

SCHEDULES = ("cosine", "wsd", "constant")


def lr_factor(
    step: int,
    total_steps: int,
    schedule: str,
    warmup_fraction: float = 0.0,
    decay_fraction: float = 0.2,
    min_lr_ratio: float = 0.1,
) -> float:
    """Multiplier for update number ``step`` (0-based) of ``total_steps``.

    ``warmup_fraction`` and ``decay_fraction`` are fractions of ``total_steps``. Warmup is linear
    from 1/warmup_steps to 1. After it: ``constant`` stays at 1; ``cosine`` follows half a
    cosine down to ``min_lr_ratio`` at the last step; ``wsd`` (warmup-stable-decay,
    Hu et al. 2024, MiniCPM) holds 1 and decays linearly to ``min_lr_ratio`` over the
    last ``decay_fraction`` of the steps.
    """
    if schedule not in SCHEDULES:
        raise ValueError(f"unknown schedule {schedule!r}: choose one of {', '.join(SCHEDULES)}")
    warmup_steps = round(warmup_fraction * total_steps)
    if step < warmup_steps:
        return (step + 1) / warmup_steps
    if schedule == "constant":
        return 1.0
    if schedule == "cosine":
        progress = min(1.0, (step - warmup_steps + 1) / max(1, total_steps - warmup_steps))
        return min_lr_ratio + (1.0 - min_lr_ratio) * 0.5 * (1.0 + math.cos(math.pi * progress))
    decay_steps = max(1, round(decay_fraction * total_steps))
    decay_start = total_steps - decay_steps
    if step < decay_start:
        return 1.0
    progress = min(1.0, (step - decay_start + 1) / decay_steps)
    return 1.0 - (1.0 - min_lr_ratio) * progress


def schedule_for(config: TrialConfig) -> Callable[[int], float]:
    """The schedule of a trial as ``factor(step)``; checks the settings once, up front."""
    if not 0.0 <= config.warmup_fraction < 1.0:
        raise ValueError(
            f"warmup_fraction {config.warmup_fraction} must be a fraction of the steps in [0, 1)"
        )
    if not 0.0 < config.decay_fraction <= 1.0:
        raise ValueError(f"decay_fraction {config.decay_fraction} must be in (0, 1]")
    if not 0.0 <= config.min_lr_ratio <= 1.0:
        raise ValueError(f"min_lr_ratio {config.min_lr_ratio} must be in [0, 1]")
    factor = partial(
        lr_factor,
        total_steps=config.steps,
        schedule=config.schedule,
        warmup_fraction=config.warmup_fraction,
        decay_fraction=config.decay_fraction,
        min_lr_ratio=config.min_lr_ratio,
    )
    factor(0)  # an unknown schedule name fails here, before any compute is spent
    return factor
