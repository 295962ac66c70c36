"""Turn a validated SweepSpec plus one sampled point into the worker's TrialConfig (a proxy trial's, or the
target run's at the target's size and budget).

This is the only place that maps spec field names onto worker field names, so the two schemas can
evolve apart without the executor, the runner or the planner knowing either in detail.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

from orchestrator.spec import KNOWN_HPARAMS, ModelSpec, SweepSpec
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
    batch_size: int | None = None,
    threads: int | None = None,
    device: str = "auto",
) -> TrialConfig:
    """The config of one proxy trial.

    `hparams` are the sampled values (names from `KNOWN_HPARAMS`); anything not sampled keeps the
    spec's value (e.g. `optimizer.weight_decay`) or the worker's default. `steps` and `batch_size`
    override the proxy budget (a token or batch scan's trial, `SweepSpec.trial_budget`; the target run uses
    the same function with its own width, steps and batch).
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
        **external_fields(model),
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
        warmup_fraction=opt.schedule.warmup_fraction,
        decay_fraction=opt.schedule.decay_fraction,
        min_lr_ratio=opt.schedule.min_lr_ratio,
        grad_clip=opt.grad_clip,
        dataset=data.dataset,
        data_path=data.path,
        token_dtype=data.token_dtype,
        vocab_size=data.vocab_size,
        steps=steps if steps is not None else proxy.resolved_steps(model.context_length),
        batch_size=batch_size if batch_size is not None else proxy.batch_size,
        seed=seed,
        eval_every=proxy.eval_every,
        device=device,
        threads=threads,
    )
    return config.with_hparams(hparams)


def external_fields(model: ModelSpec) -> dict[str, Any]:
    """The worker fields of an external model (docs/external-models.md); None for a built-in family."""
    fields = {"entrypoint": model.entrypoint, "code": model.code, "hf_config": model.config}
    return {**fields, "roles": model.roles}


CHECKPOINTS_PER_RUN = 20  # a killed target loses at most 1/20 of its steps


def target_steps(spec: SweepSpec) -> int:
    """The target's steps: `target.steps`, else `target.tokens` over its batch × context, else the proxies'
    base token budget at the target's batch."""
    model = spec.target.model or spec.model
    if spec.target.steps is not None:
        return spec.target.steps
    tokens = spec.target.tokens or spec.proxy.base_tokens(spec.model.context_length)
    return max(1, math.ceil(tokens / (spec.target_batch() * model.context_length)))


def target_resources(spec: SweepSpec) -> tuple[float, float]:
    """(CPUs, GPUs) of the target: `resources.target_cpus/target_gpus`, else a trial's."""
    res = spec.resources
    cpus = res.target_cpus if res.target_cpus is not None else res.cpus_per_trial
    gpus = res.target_gpus if res.target_gpus is not None else res.gpus_per_trial
    return cpus, gpus


def target_config(
    spec: SweepSpec, *, parametrization: str, hparams: Mapping[str, float], checkpoint_dir: str
) -> TrialConfig:
    """The target run's config: the proxies' config mapping at the target's size and budget, checkpointing
    `CHECKPOINTS_PER_RUN` times into `checkpoint_dir`."""
    model_spec = spec if spec.target.model is None else spec.model_copy(update={"model": spec.target.model})
    cpus, _ = target_resources(spec)
    steps = target_steps(spec)
    config = trial_config(
        model_spec,
        parametrization=parametrization,
        width=spec.target.width,
        depth=spec.target.depth or model_spec.model.depth,
        seed=spec.proxy.seeds[0],
        hparams=hparams,
        steps=steps,
        batch_size=spec.target_batch(),
        threads=max(1, int(cpus)),
    )
    config.checkpoint_dir = checkpoint_dir
    config.checkpoint_every = max(1, steps // CHECKPOINTS_PER_RUN)
    return config
