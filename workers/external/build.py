"""Build an external model for a trial: its builder, its inferred roles, the model at the trial's size."""

from __future__ import annotations

import torch

from workers.code_archive import installed_path
from workers.config import TrialConfig
from workers.external.model import ExternalModel
from workers.external.roles import infer_roles
from workers.external.source import Builder, ModelSourceError, entrypoint_builder, hf_builder
from workers.roles import Role


def builder_for(config: TrialConfig, vocab_size: int) -> Builder:
    """The builder of `config`'s external model at the trial's vocabulary and context."""
    if config.family == "custom":
        if not config.entrypoint:
            raise ModelSourceError("family custom needs model.entrypoint ('package.module:function')")
        code_path = config.code_path
        if code_path is None and config.code:
            code_path = installed_path(config.code)
            if code_path is None:
                raise ModelSourceError(
                    f"the code archive {config.code} is not unpacked on this node (workers/code_archive.py "
                    "install does it before a trial)"
                )
        return entrypoint_builder(config.entrypoint, code_path, vocab_size, config.context_length)
    if config.family == "hf":
        if not config.hf_config:
            raise ModelSourceError("family hf needs model.config (a transformers config with model_type)")
        return hf_builder(config.hf_config, vocab_size, config.context_length)
    raise ModelSourceError(f"family {config.family!r} is not an external model's (custom, hf)")


def external_model(config: TrialConfig, vocab_size: int) -> ExternalModel:
    """The user's model at `config.width` and `config.depth`, with roles inferred against the base width."""
    if config.parametrization == "completep":
        raise ModelSourceError(
            "completep multiplies each residual branch by (depth/base_depth)^-α, which needs a change inside "
            "the model's forward: external models support sp, mup, sp-embedding-lr and u-mup"
        )
    build = builder_for(config, vocab_size)
    inferred = infer_roles(
        build, config.base_width, config.depth, config.roles, context_length=config.context_length
    )
    # The parameters whose own init is kept (vectors: a Linear's bias is random) come from config.seed,
    # whatever the process's random state.
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(config.seed)
        model = build(config.width, config.depth)
    return ExternalModel(model, inferred)


def non_embedding_params(config: TrialConfig, vocab_size: int = 256) -> int:
    """Parameters other than the input and output layers' (Kaplan et al. 2020's N), counted on the meta
    device, at `config.width` and `config.depth`."""
    with torch.device("meta"):
        model = external_model(config, vocab_size)
    roles = {p.name: p.role for p in model.inferred}
    return sum(
        p.numel()
        for name, p in model.model.named_parameters()
        if roles[name] not in (Role.INPUT, Role.OUTPUT)
    )
