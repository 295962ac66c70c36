"""The Adam moment update shared by Muon's AdamW groups and LAMB (Kingma & Ba 2015, bias-corrected)."""

from __future__ import annotations

from typing import Any

import torch


def adam_direction(p: torch.Tensor, group: dict[str, Any], state: dict[str, Any]) -> torch.Tensor:
    """m̂ / (√v̂ + ε) for one parameter, updating its moments in `state`."""
    beta1, beta2 = group["betas"]
    if not state:
        state["step"] = 0
        state["exp_avg"] = torch.zeros_like(p)
        state["exp_avg_sq"] = torch.zeros_like(p)
    state["step"] += 1
    t = state["step"]
    state["exp_avg"].lerp_(p.grad, 1 - beta1)
    state["exp_avg_sq"].mul_(beta2).addcmul_(p.grad, p.grad, value=1 - beta2)
    denom = (state["exp_avg_sq"] / (1 - beta2**t)).sqrt_().add_(group["eps"])
    return (state["exp_avg"] / (1 - beta1**t)).div_(denom)


@torch.no_grad()
def adamw_step(group: dict[str, Any], states: Any) -> None:
    """One AdamW step (Loshchilov & Hutter 2019: p ← p(1 − lr·wd) − lr·m̂/(√v̂ + ε)) for a param group."""
    for p in group["params"]:
        if p.grad is None:
            continue
        direction = adam_direction(p, group, states[p])
        p.mul_(1 - group["lr"] * group["weight_decay"])
        p.add_(direction, alpha=-group["lr"])


class PerParameterOptimizer(torch.optim.Optimizer):
    """Adam-style hyperparameters and the closure/grad bookkeeping; subclasses say how one parameter moves."""

    default_betas: tuple[float, float] = (0.9, 0.999)

    def __init__(
        self,
        params: Any,
        lr: float = 1e-3,
        betas: tuple[float, float] | None = None,
        eps: float = 1e-6,
        weight_decay: float = 0.0,
    ) -> None:
        betas = betas or self.default_betas
        super().__init__(params, dict(lr=lr, betas=betas, eps=eps, weight_decay=weight_decay))

    def update(self, p: torch.Tensor, group: dict[str, Any], state: dict[str, Any]) -> None:
        raise NotImplementedError

    @torch.no_grad()
    def step(self, closure: Any = None) -> float | None:
        loss = None
        if closure is not None:
            with torch.enable_grad():
                loss = closure()
        for group in self.param_groups:
            for p in group["params"]:
                if p.grad is not None:
                    self.update(p, group, self.state[p])
        return loss
