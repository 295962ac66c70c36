"""Folding a forward multiplier into init and learning rate, for models whose forward mutransfer does not
write (docs/external-models.md, "Folding multipliers").

A layer y = c·W x trained by an optimizer is the same function of the data as y = W' x with W' = c·W, when
W' is initialized c times larger and trained with the optimizer's hyperparameters changed so that every
update of W' is c times the update of W. The gradient of W' is the gradient of W divided by c, so:

- Adam-type (AdamW, ADOPT; Muon's AdamW part): the update m/(√v + ε) is invariant to the gradient's scale
  except through ε, so LR × c and ε ÷ c;
- SGD (with momentum, which is linear): the update is LR × gradient, so LR × c²;
- LAMB: the update is LR·(‖W‖/‖d‖)·d with d = u + λ·W, u an Adam direction (invariant once ε ÷ c).
  ‖W'‖ = c‖W‖ already scales the step, so LR × 1, and d' = d needs λ' = λ/c (the decay sits inside the
  direction the trust ratio normalizes). A zero-initialized W has no norm to trust: LAMB then steps by LR·d,
  and W' must step c times that, so its fallback trust ratio is c (`folded_multiplier` on its group);
- Muon's orthogonalized update is scale-free too (LR × c), but μP puts no multiplier on the matrices Muon
  orthogonalizes, so that case never arises.

Decoupled weight decay (AdamW, ADOPT) keeps its per-step decay LR·wd (W' = c·W decays alike), so
wd' = LR·wd / LR' = wd/c; SGD's coupled decay adds wd·W to the gradient, which needs wd/c², the same formula.

A global gradient-norm clip multiplies every gradient by one factor, min(1, max_norm / ‖g‖), which an
Adam-type update does not ignore (the factor changes from step to step). The fold keeps it exact by
clipping on the norm the unfolded model would see: a folded gradient counts c times its own size
(`clip_unfolded`), so the factor, and every update, is the unfolded model's.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import torch

LR_POWER = {"adam": 1, "muon": 1, "sgd": 2, "lamb": 0}


@dataclass(frozen=True)
class Folded:
    init_std: float
    lr: float
    eps: float
    weight_decay: float


def fold(c: float, family: str, init_std: float, lr: float, eps: float, weight_decay: float) -> Folded:
    """The (init std, LR, ε, weight decay) of W' = c·W that train it as (init_std, lr, eps, weight_decay)
    train W behind a forward multiplier c."""
    if not c > 0:
        raise ValueError(f"a forward multiplier must be > 0 to fold, got {c}")
    folded_lr = lr * c ** LR_POWER[family]
    return Folded(
        init_std=init_std * c,
        lr=folded_lr,
        eps=eps if family == "sgd" else eps / c,
        weight_decay=weight_decay / c if family == "lamb" else lr * weight_decay / folded_lr,
    )


def clip_unfolded(
    parameters: Iterable[torch.Tensor], groups: Iterable[dict[str, Any]], max_norm: float | None
) -> float:
    """Clip the gradients of `parameters` (the model's, in its order) by one factor computed on the unfolded
    model's gradient norm: a parameter in a group with a `folded_multiplier` c counts c times its gradient
    (none folded: torch's `clip_grad_norm_`, bit for bit). Returns that norm before clipping (inf or nan
    when a gradient is)."""
    scale_of = {id(p): float(g.get("folded_multiplier", 1.0)) for g in groups for p in g["params"]}
    params = list(parameters)
    limit = math.inf if max_norm is None else max_norm
    scales = [scale_of.get(id(p), 1.0) for p in params if p.grad is not None]
    if all(scale == 1.0 for scale in scales):
        return float(torch.nn.utils.clip_grad_norm_(params, limit).item())
    grads = [p.grad for p in params if p.grad is not None]
    norms = [torch.linalg.vector_norm(g) * scale for g, scale in zip(grads, scales, strict=True)]
    total = torch.linalg.vector_norm(torch.stack([n.to(norms[0].device) for n in norms]))
    torch.nn.utils.clip_grads_with_norm_(params, limit, total)
    return float(total.item())
