"""How mutransfer calls a user's model: the forward contract of docs/external-models.md ("The forward
contract"), in one place, for training (`ExternalModel`) and for reading how the model uses its parameters
(`workers.external.usage`).

- a `transformers` model (or any forward that takes `input_ids`) is called as `model(input_ids=idx)`;
- any other module nanoGPT's way, `model(idx, targets)`, or `model(idx)` when its forward takes one argument;
- the logits are a returned tensor, the first tensor of a tuple or list, or `.logits`; a returned
  `(logits, loss)` keeps the model's own loss.
"""

from __future__ import annotations

import inspect
from typing import Any

import torch
from torch import nn

_SIGNATURES: dict[type, tuple[inspect.Parameter, ...] | None] = {}


def _parameters(model: nn.Module) -> tuple[inspect.Parameter, ...] | None:
    """The parameters of the model's bound forward (None where it has no readable signature), read once per
    module class: `call` runs on every training step."""
    cls = type(model)
    if cls not in _SIGNATURES:
        try:
            _SIGNATURES[cls] = tuple(inspect.signature(model.forward).parameters.values())
        except (TypeError, ValueError):
            _SIGNATURES[cls] = None
    return _SIGNATURES[cls]


def takes_input_ids(model: nn.Module) -> bool:
    parameters = _parameters(model)
    return parameters is not None and any(p.name == "input_ids" for p in parameters)


def positional_arity(model: nn.Module) -> int:
    parameters = _parameters(model)
    if parameters is None:
        return 2
    kinds = (inspect.Parameter.POSITIONAL_ONLY, inspect.Parameter.POSITIONAL_OR_KEYWORD)
    if any(p.kind == inspect.Parameter.VAR_POSITIONAL for p in parameters):
        return 2
    return sum(p.kind in kinds for p in parameters)


def first_tensor(value: Any) -> torch.Tensor | None:
    if isinstance(value, torch.Tensor):
        return value
    if isinstance(value, list | tuple):
        return next((v for v in value if isinstance(v, torch.Tensor)), None)
    return getattr(value, "logits", None) if not isinstance(value, dict) else value.get("logits")


def call(
    model: nn.Module, idx: torch.Tensor, targets: torch.Tensor | None = None
) -> tuple[torch.Tensor, torch.Tensor | None]:
    """(logits, the model's own loss or None) of one forward under the contract above."""
    loss = None
    if takes_input_ids(model):
        out: Any = model(input_ids=idx)
    elif targets is not None and positional_arity(model) >= 2:
        out = model(idx, targets)
        if isinstance(out, tuple) and len(out) == 2 and isinstance(out[1], torch.Tensor):
            loss = out[1]
    else:
        out = model(idx)
    logits = first_tensor(out)
    if logits is None:
        raise TypeError(
            f"the model's forward returned {type(out).__name__}: mutransfer needs logits (a tensor, "
            "(logits, loss), or an object with .logits; docs/external-models.md)"
        )
    return logits, loss
