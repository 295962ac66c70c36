"""Model + TrialConfig -> one torch optimizer whose parameter groups carry the resolved μP numbers.

No optimizer subclass per parametrization (the microsoft/mup weakness): every parametrization is rows of
the table, and this function only groups parameters that resolved to the same (role, lr, weight_decay, ε).
Each group carries `base_lr` (its peak LR); the training loop's schedule sets `group["lr"] =
group["base_lr"] * factor(step)`, so per-group multipliers survive any schedule. Groups also carry `role`
and `names` for logs and tests.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from workers.config import TrialConfig
from workers.optim import Adopt, Lamb, Muon
from workers.parametrization.resolve import resolve_params
from workers.roles import MATRIX_ROLES


def param_groups(model: nn.Module, config: TrialConfig) -> list[dict[str, Any]]:
    groups: dict[tuple[Any, ...], dict[str, Any]] = {}
    for item in resolve_params(model, config):
        use_muon = config.optimizer == "muon" and item.site.role in MATRIX_ROLES
        row = item.row
        key = (row.role, row.lr, row.weight_decay, item.eps, use_muon, item.folded_multiplier)
        group = groups.setdefault(
            key,
            {
                "params": [],
                "names": [],
                "role": row.role,
                "lr": row.lr,
                "base_lr": row.lr,
                "weight_decay": row.weight_decay,
                "eps": item.eps,
                "use_muon": use_muon,
                # the forward multiplier folded into these parameters: the clip and LAMB read it (fold.py)
                "folded_multiplier": item.folded_multiplier,
            },
        )
        group["params"].append(item.site.param)
        group["names"].append(row.name)
    return list(groups.values())


def build_optimizer(model: nn.Module, config: TrialConfig) -> torch.optim.Optimizer:
    """The optimizer named by config.optimizer over `model`, with one group per distinct resolved rule."""
    groups = param_groups(model, config)
    betas = tuple(config.betas)
    if config.optimizer == "adamw":
        return torch.optim.AdamW(groups, lr=config.lr, betas=betas, eps=config.eps)
    if config.optimizer == "sgd":
        return torch.optim.SGD(groups, lr=config.lr, momentum=config.momentum)
    if config.optimizer == "muon":
        return Muon(groups, lr=config.lr, momentum=config.momentum, betas=betas, eps=config.eps)
    if config.optimizer == "lamb":
        return Lamb(groups, lr=config.lr, betas=betas, eps=config.eps)
    if config.optimizer == "adopt":
        return Adopt(groups, lr=config.lr, betas=betas, eps=config.eps)
    raise ValueError(f"unknown optimizer {config.optimizer!r}; choose adamw, sgd, muon, lamb or adopt")
