"""Folding a forward multiplier into init and learning rate, for models whose forward mutransfer does not
write (docs/external-models.md, "Folding multipliers").

A layer y = c·W x trained by an optimizer is the same function of the data as y = W' x with W' = c·W, when
W' is initialized c times larger and trained with the optimizer's hyperparameters changed so that every
update of W' is c times the update of W. The gradient of W' is the gradient of W divided by c, so:

- Adam-type (AdamW, ADOPT; Muon's AdamW part): the update m/(√v + ε) is invariant to the gradient's scale
  except through ε, so LR × c and ε ÷ c;
- SGD (with momentum, which is linear): the update is LR × gradient, so LR × c²;
- LAMB: the update is LR·‖W‖·u/‖u‖ with u an Adam direction; ‖W'‖ = c‖W‖ already scales it, so LR × 1 and
  the direction's ε ÷ c;
- Muon's orthogonalized update is scale-free too (LR × c), but μP puts no multiplier on the matrices Muon
  orthogonalizes, so that case never arises.

Weight decay keeps its per-step decay LR·wd (torch decays W by LR·wd·W; W' = c·W decays alike), so
wd' = LR·wd / LR'. The one thing a fold does not reproduce is a global gradient-norm clip: it measures the
folded gradients (÷ c on the folded weights), so which steps clip can differ; an Adam-type update is
unchanged by a clip's common factor except through ε.
"""

from __future__ import annotations

from dataclasses import dataclass

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
        weight_decay=lr * weight_decay / folded_lr,
    )
