"""ADOPT (Taniguchi et al. 2024, Algorithm 2 with clipping; github.com/iShohei220/adopt).

The second moment from *previous* steps normalizes the gradient before momentum, which removes Adam's
dependence on β2 for convergence. The first step only initializes v (no parameter update). Weight decay is
decoupled as in AdamW. Entry-wise normalized, so it takes the Adam rows of the parametrization table.
"""

from __future__ import annotations

from typing import Any

import torch

from workers.optim.adam_step import PerParameterOptimizer


class Adopt(PerParameterOptimizer):
    default_betas = (0.9, 0.9999)

    def update(self, p: torch.Tensor, group: dict[str, Any], state: dict[str, Any]) -> None:
        beta1, beta2 = group["betas"]
        grad = p.grad
        if not state:
            state["step"] = 0
            state["exp_avg"] = torch.zeros_like(p)
            state["exp_avg_sq"] = grad * grad
            return
        state["step"] += 1
        normed = grad / state["exp_avg_sq"].sqrt().clamp(min=group["eps"])
        clip = state["step"] ** 0.25
        normed.clamp_(-clip, clip)
        state["exp_avg"].lerp_(normed, 1 - beta1)
        p.mul_(1 - group["lr"] * group["weight_decay"])
        p.add_(state["exp_avg"], alpha=-group["lr"])
        state["exp_avg_sq"].mul_(beta2).addcmul_(grad, grad, value=1 - beta2)
