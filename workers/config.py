"""What one trial needs to know: a plain dataclass, so it travels to any Ray node as-is."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass, replace
from typing import Any


@dataclass
class TrialConfig:
    # model
    family: str = "gpt"  # gpt | mlp | moe | custom | hf
    width: int = 64
    depth: int = 2
    head_dim: int | None = 16
    n_heads: int | None = None
    context_length: int = 64
    mlp_ratio: int = 4
    tied_embeddings: bool = False
    tokenizer: str = "char"
    moe: dict[str, Any] | None = None  # n_experts, top_k, d_expert, shared_expert, router, aux_loss_weight
    # external models (workers/external): `custom` imports `entrypoint` from `code_path`, whose content is
    # the archive `code` names (its sha256); `hf` builds `hf_config`. `roles` overrides inferred roles.
    entrypoint: str | None = None
    code: str | None = None
    code_path: str | None = None
    hf_config: dict[str, Any] | None = None
    roles: dict[str, str] | None = None
    # parametrization
    parametrization: str = "mup"  # sp | mup | sp-embedding-lr | u-mup | completep
    base_width: int = 64
    base_depth: int = 2
    depth_alpha: float = 1.0
    # the tuned hyperparameters (base values, resolved per parameter by the parametrization table)
    lr: float = 1e-2
    # None: base_width^-½ (`base_init_std`), the fan-in init at the base width (docs/parametrizations.md)
    init_std: float | None = None
    alpha_in: float = 1.0
    alpha_out: float = 1.0
    alpha_attn: float = 1.0
    readout_zero_init: bool = False  # μP option (TP5 §D.2): readout starts at 0, logits exactly 0 at init
    query_zero_init: bool = False  # μP option (TP5 §D.2): attention starts uniform
    weight_decay: float = 0.0
    warmup_fraction: float = 0.0  # of the steps
    # optimizer and schedule
    optimizer: str = "adamw"  # adamw | sgd | muon | lamb | adopt
    betas: tuple[float, float] = (0.9, 0.95)
    eps: float = 1e-8
    momentum: float = 0.9
    weight_decay_mode: str = "standard"  # standard | independent | width_scaled
    schedule: str = "cosine"  # cosine | wsd | constant
    decay_fraction: float = 0.2
    min_lr_ratio: float = 0.1
    grad_clip: float | None = 1.0
    # data and budget
    dataset: str | None = "python-stdlib"
    data_path: str | None = None  # a flat binary token file (the spec's data.path)
    token_dtype: str = "uint16"
    vocab_size: int | None = None
    steps: int = 100
    batch_size: int = 32
    seed: int = 0
    eval_every: int = 50
    eval_batches: int = 4
    # runtime
    device: str = "auto"  # auto | cpu | cuda
    compile: bool = False
    threads: int | None = None
    divergence_factor: float = 3.0  # a loss above factor x the initial loss counts as diverged
    checkpoint_dir: str | None = None
    checkpoint_every: int = 0

    def base_init_std(self) -> float:
        """The base init std σ the parametrization table scales: the tuned `init_std`, or base_width^-½.

        GPT-2's σ = 0.02 is ≈ 1/√d for d ≈ 768-1600; at a proxy base width of 32 it sits far below the
        fan-in init (0.18), and μP carries that small-init regime to every width (hidden σ/√m), so wider
        proxies stop being better. σ = base_width^-½ makes μP's hidden init exactly 1/√fan_in at every width
        and equals SP's at the base width (docs/parametrizations.md, "The base init").
        """
        return self.init_std if self.init_std is not None else self.base_width**-0.5

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> TrialConfig:
        """The config `to_dict` wrote. An unknown key is an error, as in the sweep spec: a misspelt field
        silently keeping its default would train something other than what was asked."""
        unknown = sorted(set(data) - set(cls.__dataclass_fields__))
        if unknown:
            raise ValueError(
                f"unknown TrialConfig field(s) {unknown}; known fields: {sorted(cls.__dataclass_fields__)}"
            )
        values = dict(data)
        if "betas" in values:
            values["betas"] = tuple(values["betas"])
        return cls(**values)

    def with_hparams(self, hparams: Mapping[str, Any]) -> TrialConfig:
        """A copy with the sampled hyperparameters (the spec's search-space names) set, as floats."""
        return replace(self, **hparam_fields(hparams))


# The spec's search space names one tuned HP differently from its field: `warmup` is the schedule's
# `warmup_fraction`. Every other tunable HP's name is its field's (orchestrator/spec.py KNOWN_HPARAMS).
HPARAM_FIELDS = {"warmup": "warmup_fraction"}


def hparam_fields(hparams: Mapping[str, Any]) -> dict[str, float]:
    """Sampled hyperparameters keyed by TrialConfig field, values as floats."""
    return {HPARAM_FIELDS.get(name, name): float(value) for name, value in hparams.items()}
