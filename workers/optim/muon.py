"""Muon (K. Jordan et al. 2024): momentum, then Newton–Schulz orthogonalization of hidden-matrix updates.

One optimizer object holds every parameter: groups with `use_muon=True` (hidden matrices) get the
orthogonalized update, the others (embeddings, readout, vectors) an AdamW step, as the Muon authors
prescribe. The per-group LR already carries the shape factor (the parametrization table's Muon rows), so
this class applies no hidden LR adjustment of its own.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

import torch
from torch.optim import Optimizer

from workers.optim.adam_step import adamw_step

# Quintic Newton–Schulz coefficients from github.com/KellerJordan/Muon (also torch.optim.Muon's defaults).
NS_COEFFICIENTS = (3.4445, -4.7750, 2.0315)


def orthogonalize(grad: torch.Tensor, steps: int = 5, eps: float = 1e-7) -> torch.Tensor:
    """≈ U Vᵀ of grad = U S Vᵀ (singular values land in about [0.7, 1.2]); bf16 on GPU, fp32 on CPU."""
    a, b, c = NS_COEFFICIENTS
    x = grad.to(torch.bfloat16 if grad.is_cuda else torch.float32)
    transposed = x.shape[0] > x.shape[1]
    if transposed:
        x = x.mT
    x = x / x.norm().clamp(min=eps)
    for _ in range(steps):
        gram = x @ x.mT
        x = a * x + (b * gram + c * gram @ gram) @ x
    return (x.mT if transposed else x).to(grad.dtype)


class Muon(Optimizer):
    def __init__(
        self,
        params: Iterable[Any],
        lr: float = 0.02,
        momentum: float = 0.95,
        nesterov: bool = True,
        ns_steps: int = 5,
        betas: tuple[float, float] = (0.9, 0.95),
        eps: float = 1e-8,
        weight_decay: float = 0.0,
    ) -> None:
        defaults = dict(
            lr=lr,
            momentum=momentum,
            nesterov=nesterov,
            ns_steps=ns_steps,
            betas=betas,
            eps=eps,
            weight_decay=weight_decay,
            use_muon=False,
        )
        super().__init__(params, defaults)
        for group in self.param_groups:
            if group["use_muon"] and any(p.ndim != 2 for p in group["params"]):
                raise ValueError("Muon orthogonalizes 2-D matrices only; put others in use_muon=False groups")

    @torch.no_grad()
    def step(self, closure: Callable[[], float] | None = None) -> float | None:
        loss = None
        if closure is not None:
            with torch.enable_grad():
                loss = closure()
        for group in self.param_groups:
            if not group["use_muon"]:
                adamw_step(group, self.state)
                continue
            for p in group["params"]:
                if p.grad is None:
                    continue
                state = self.state[p]
                if not state:
                    state["momentum_buffer"] = torch.zeros_like(p)
                buf = state["momentum_buffer"]
                buf.mul_(group["momentum"]).add_(p.grad)
                update = p.grad.add(buf, alpha=group["momentum"]) if group["nesterov"] else buf
                p.mul_(1 - group["lr"] * group["weight_decay"])
                p.add_(orthogonalize(update, group["ns_steps"]), alpha=-group["lr"])
        return loss
