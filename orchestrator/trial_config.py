"""Turn a validated SweepSpec plus one sampled point into the worker's TrialConfig.

This is the only place that maps spec field names onto worker field names, so the two schemas can
evolve apart without the executor, the runner or the planner knowing either in detail.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from orchestrator.spec import KNOWN_HPARAMS, SweepSpec
from workers.config import TrialConfig


def trial_config(
    spec: SweepSpec,
    *,
    parametrization: str,
    width: int,
    depth: int,
    seed: int,
    hparams: Mapping[str, Any],
    steps: int | None = None,
    threads: int | None = None,
    device: str = "auto",
) -> TrialConfig:
    """The config of one proxy trial.

    `hparams` are the sampled values (names from `KNOWN_HPARAMS`); anything not sampled keeps the
    spec's value (e.g. `optimizer.weight_decay`) or the worker's default. `steps` overrides the
    proxy budget (the target run uses the same function with its own width and steps).
    """
    unknown = sorted(set(hparams) - set(KNOWN_HPARAMS))
    if unknown:
        raise ValueError(f"unknown hyperparameter(s) {unknown}; allowed: {list(KNOWN_HPARAMS)}")
    model, opt, data, proxy = spec.model, spec.optimizer, spec.data, spec.proxy
    config = TrialConfig(
        family=model.family,
        width=width,
        depth=depth,
        head_dim=model.head_dim,
        n_heads=model.n_heads,
        context_length=model.context_length,
        mlp_ratio=model.mlp_ratio,
        tied_embeddings=model.tied_embeddings,
        tokenizer=model.tokenizer,
        moe=model.moe.model_dump() if model.moe is not None else None,
        parametrization=parametrization,
        base_width=spec.base_width,
        base_depth=spec.base_depth or model.depth,
        depth_alpha=spec.depth_alpha,
        optimizer=opt.name,
        betas=tuple(opt.betas),
        eps=opt.eps,
        momentum=opt.momentum,
        weight_decay=opt.weight_decay,
        weight_decay_mode=opt.weight_decay_mode,
        schedule=opt.schedule.kind,
        warmup=opt.schedule.warmup_fraction,
        decay_fraction=opt.schedule.decay_fraction,
        min_lr_ratio=opt.schedule.min_lr_ratio,
        grad_clip=opt.grad_clip,
        dataset=data.dataset,
        token_file=data.path,
        token_dtype=data.token_dtype,
        vocab_size=data.vocab_size,
        steps=steps if steps is not None else proxy.resolved_steps(model.context_length),
        batch_size=proxy.batch_size,
        seed=seed,
        eval_every=proxy.eval_every,
        device=device,
        threads=threads,
    )
    for name, value in hparams.items():
        setattr(config, name, float(value))
    return config
