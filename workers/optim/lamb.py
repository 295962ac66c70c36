"""LAMB (You et al. 2020, Algorithm 2): an Adam direction plus weight decay, rescaled per parameter by the
trust ratio ‖p‖ / ‖direction‖, so ‖Δp‖ = lr·‖p‖ (docs/parametrizations.md, "Optimizers", derives its
μP LR rule from this)."""

from __future__ import annotations

from typing import Any

import torch

from workers.optim.adam_step import PerParameterOptimizer, adam_direction


class Lamb(PerParameterOptimizer):
    def update(self, p: torch.Tensor, group: dict[str, Any], state: dict[str, Any]) -> None:
        direction = adam_direction(p, group, state)
        if group["weight_decay"]:
            direction.add_(p, alpha=group["weight_decay"])
        p_norm, d_norm = p.norm(), direction.norm()
        # A zero-initialized parameter (biases, a zero readout) has no scale to trust: a plain step, times
        # the multiplier folded into it (workers/parametrization/fold.py), so a folded one steps as it would.
        fallback = torch.full_like(p_norm, float(group.get("folded_multiplier", 1.0)))
        trust = torch.where((p_norm > 0) & (d_norm > 0), p_norm / d_norm, fallback)
        p.add_(direction * trust, alpha=-group["lr"])
