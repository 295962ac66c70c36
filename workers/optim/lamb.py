"""LAMB (You et al. 2020, Algorithm 2): an Adam direction plus weight decay, rescaled per parameter by the
trust ratio ‖p‖ / ‖direction‖, so ‖Δp‖ = lr·‖p‖ (science.md §4 derives its μP LR rule from this)."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

import torch
from torch.optim import Optimizer

from workers.optim.adam_step import adam_direction


class Lamb(Optimizer):
    def __init__(
        self,
        params: Iterable[Any],
        lr: float = 1e-3,
        betas: tuple[float, float] = (0.9, 0.999),
        eps: float = 1e-6,
        weight_decay: float = 0.0,
    ) -> None:
        super().__init__(params, dict(lr=lr, betas=betas, eps=eps, weight_decay=weight_decay))

    @torch.no_grad()
    def step(self, closure: Callable[[], float] | None = None) -> float | None:
        loss = None
        if closure is not None:
            with torch.enable_grad():
                loss = closure()
        for group in self.param_groups:
            for p in group["params"]:
                if p.grad is None:
                    continue
                direction = adam_direction(p, group, self.state[p])
                if group["weight_decay"]:
                    direction.add_(p, alpha=group["weight_decay"])
                p_norm, d_norm = p.norm(), direction.norm()
                # A zero-initialized parameter (biases, a zero readout) has no scale to trust: plain step.
                trust = torch.where((p_norm > 0) & (d_norm > 0), p_norm / d_norm, torch.ones_like(p_norm))
                p.add_(direction * trust, alpha=-group["lr"])
        return loss
