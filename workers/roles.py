"""Parameter roles: which dimensions of a parameter grow with width (docs/parametrizations.md,
"Parameter roles").

A role is decided once per parameter when a model is built (`workers.models.*` keep a name -> role dict)
and every rule (init, forward multiplier, learning rate, weight decay) reads only the role, never the
parameter's name. New model families add roles here (MoE: `router`, `expert`) and rows to the table.
"""

from __future__ import annotations

from enum import StrEnum


class Role(StrEnum):
    # embeddings, input-layer weights: fan_in finite (vocab, context), fan_out ∝ width
    INPUT = "input"
    # width x width matrices: attention q/k/v/o, MLP in/out
    HIDDEN = "hidden"
    # readout / unembedding: fan_in ∝ width, fan_out finite
    OUTPUT = "output"
    # biases and norm gains: one width dimension
    VECTOR = "vector"
    # no dimension grows with width (a learned scalar gate or temperature, a bias over the vocabulary): the
    # same at every width, so no rule scales it; microsoft/mup's "finite" parameters keep their init and η
    FINITE = "finite"
    # MoE expert matrices (stacked, one slice per expert): hidden matrices whose fan-in multiplier is that of
    # their own fan-in (d_model for the up projection, the active expert width for the down projection)
    EXPERT = "expert"
    # MoE router: fan_in ∝ width, fan_out = n_experts (finite): output-like (μP for MoE, 2025)
    ROUTER = "router"


# Roles whose parameters are matrices with a width dimension on both sides (Muon orthogonalizes these).
MATRIX_ROLES = frozenset({Role.HIDDEN})
