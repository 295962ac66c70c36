"""What each activation the coordinate check records is: the activation analogue of `roles.py`.

A model declares once, in `coord_modules()`, what every recorded activation is (its kind, and its `chain`),
and the predicted slopes (`workers/coord_predictions.py`) read only that, never a module's name: a new
model family states what its activations are and inherits the predictions (docs/coordinate-check.md).
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from torch import nn


class Kind(StrEnum):
    # an input layer's output (embedding lookup: fan-in finite)
    EMBEDDING = "embedding"
    # an attention branch's output (softmax over tokens, then the output projection)
    ATTENTION = "attention"
    # a dense MLP branch's output
    MLP = "mlp"
    # a routed Mixture-of-Experts branch's output (router gates times expert MLPs)
    MOE = "moe"
    # a hidden layer fed by the previous one with no normalization in between (the MLP family)
    HIDDEN = "hidden"
    # the residual stream: embedding plus the branches' outputs
    RESIDUAL = "residual"
    # a LayerNorm's output
    NORM = "norm"
    # the readout's output
    LOGITS = "logits"
    # a leaf of an external model that is none of the above: its place in the network is unknown, so only
    # theories that predict every activation alike (μP: Θ(1)) judge it
    OPAQUE = "opaque"


@dataclass(frozen=True)
class CoordSite:
    """One recorded activation: the module, whether its `output` or its `input` is recorded, its kind, and
    `chain`: how many matrices whose fan-in grows with width produce it since the last activation whose
    size does not depend on width (an embedding's or a LayerNorm's output). Under a constant init σ each of
    them multiplies the activation's size by σ·√fan_in, which is what SP's predictions count."""

    module: nn.Module
    where: str
    kind: Kind
    chain: int = 0
