"""External models: a user's PyTorch module (`family: custom`) or a `transformers` config (`family: hf`),
trained under any parametrization without edits to its code (docs/external-models.md).

`external_model(config, vocab_size)` builds the model at `config.width`, infers every parameter's role by
building it at two widths on the meta device (`roles.py`), and wraps it in `ExternalModel` (`model.py`), the
contract the training loop, the parametrization and the coordinate check already read.
"""

from __future__ import annotations

from workers.config import TrialConfig
from workers.external.model import ExternalModel
from workers.external.roles import AmbiguousRoles, InferredParam, infer_roles
from workers.external.source import (
    HF_FIELDS,
    HF_MODEL_TYPES,
    Builder,
    ModelSourceError,
    entrypoint_builder,
    hf_builder,
)

EXTERNAL_FAMILIES = ("custom", "hf")

__all__ = [
    "EXTERNAL_FAMILIES",
    "HF_FIELDS",
    "HF_MODEL_TYPES",
    "AmbiguousRoles",
    "ExternalModel",
    "InferredParam",
    "ModelSourceError",
    "builder_for",
    "external_model",
    "infer_roles",
]


def builder_for(config: TrialConfig, vocab_size: int) -> Builder:
    """The builder of `config`'s external model at the trial's vocabulary and context."""
    if config.family == "custom":
        if not config.entrypoint:
            raise ModelSourceError("family custom needs model.entrypoint ('package.module:function')")
        return entrypoint_builder(config.entrypoint, config.code_path, vocab_size, config.context_length)
    if config.family == "hf":
        if not config.hf_config:
            raise ModelSourceError("family hf needs model.config (a transformers config with model_type)")
        return hf_builder(config.hf_config, vocab_size, config.context_length)
    raise ModelSourceError(
        f"family {config.family!r} is not external; external families: {EXTERNAL_FAMILIES}"
    )


def external_model(config: TrialConfig, vocab_size: int) -> ExternalModel:
    """The user's model at `config.width` and `config.depth`, with roles inferred against the base width."""
    if config.parametrization == "completep":
        raise ModelSourceError(
            "completep multiplies each residual branch by (depth/base_depth)^-α, which needs a change inside "
            "the model's forward: external models support sp, mup, sp-embedding-lr and u-mup"
        )
    build = builder_for(config, vocab_size)
    inferred = infer_roles(build, config.base_width, config.depth, vocab_size, config.roles)
    model = build(config.width, config.depth)
    return ExternalModel(model, inferred)
