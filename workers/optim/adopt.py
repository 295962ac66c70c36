"""ADOPT (Taniguchi et al. 2024, Algorithm 2 with clipping; github.com/iShohei220/adopt).

The second moment from *previous* steps normalizes the gradient before momentum, which removes Adam's
dependence on β2 for convergence. The first step only initializes v (no parameter update). Weight decay is
decoupled as in AdamW. Entry-wise normalized, so it takes the Adam rows of the parametrization table.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

import torch
from torch.optim import Optimizer


class Adopt(Optimizer):
    def __init__(
        self,
        params: Iterable[Any],
        lr: float = 1e-3,
        betas: tuple[float, float] = (0.9, 0.9999),
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
            beta1, beta2 = group["betas"]
            for p in group["params"]:
                if p.grad is None:
                    continue
                state, grad = self.state[p], p.grad
                if not state:
                    state["step"] = 0
                    state["exp_avg"] = torch.zeros_like(p)
                    state["exp_avg_sq"] = grad * grad
                    continue
                state["step"] += 1
                normed = grad / state["exp_avg_sq"].sqrt().clamp(min=group["eps"])
                clip = state["step"] ** 0.25
                normed.clamp_(-clip, clip)
                state["exp_avg"].lerp_(normed, 1 - beta1)
                p.mul_(1 - group["lr"] * group["weight_decay"])
                p.add_(state["exp_avg"], alpha=-group["lr"])
                state["exp_avg_sq"].mul_(beta2).addcmul_(grad, grad, value=1 - beta2)
        return loss
