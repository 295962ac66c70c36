"""μP as data: a table of rules per (parametrization, role, optimizer family), applied by three functions.

- `build_optimizer(model, config)`: parameter groups with resolved `base_lr`, weight decay and ε;
- `resolve_table(config, vocab_size)`: the per-parameter rows (`parametrization --json`, the planner);
- `apply_parametrization(model, config)`: init and forward multipliers (called by `build_model`).
See table.py for the rules and their sources, docs/parametrizations.md for the reasoning.
"""

from __future__ import annotations

import torch
from torch import nn

from workers.config import TrialConfig
from workers.external import EXTERNAL_FAMILIES
from workers.external.build import external_model
from workers.models import make_model
from workers.parametrization.fold import clip_unfolded
from workers.parametrization.optimizer import build_optimizer, param_groups
from workers.parametrization.resolve import ParamRow, apply_parametrization, resolve_params
from workers.parametrization.table import OPTIMIZERS, PARAMETRIZATIONS, lookup

__all__ = [
    "OPTIMIZERS",
    "PARAMETRIZATIONS",
    "ParamRow",
    "apply_parametrization",
    "build_model",
    "build_optimizer",
    "clip_unfolded",
    "lookup",
    "make_structure",
    "param_groups",
    "resolve_params",
    "resolve_table",
]


def make_structure(config: TrialConfig, vocab_size: int) -> nn.Module:
    """The model `config` describes, before init and multipliers: a built-in family's, or an external
    model's (the user's code or a `transformers` config, with inferred roles)."""
    if config.family in EXTERNAL_FAMILIES:
        return external_model(config, vocab_size)
    return make_model(config, vocab_size)


def resolve_table(config: TrialConfig, vocab_size: int = 256) -> list[ParamRow]:
    """The resolved row of every parameter of the model `config` describes, without allocating it (the model
    is built on the meta device, so a target-width table costs nothing)."""
    with torch.device("meta"):
        model = make_structure(config, vocab_size)
    return [item.row for item in resolve_params(model, config)]


def build_model(config: TrialConfig, vocab_size: int) -> nn.Module:
    """A model initialized (seeded by config.seed) and scaled by config.parametrization, on the CPU."""
    return apply_parametrization(make_structure(config, vocab_size), config)
