"""The sweep definition: one pydantic schema shared by YAML files, the REST API, the store and the UI.

A spec is validated once at the edge (CLI or API) and stored as JSON; everything downstream reads
the validated model, so every field name here is the name used everywhere else.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, fields
from enum import StrEnum
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)

from workers.external import EXTERNAL_FAMILIES, HF_MODEL_TYPES


class Parametrization(StrEnum):
    SP = "sp"
    MUP = "mup"
    SP_EMBEDDING_LR = "sp-embedding-lr"
    U_MUP = "u-mup"
    COMPLETEP = "completep"


class OptimizerName(StrEnum):
    ADAMW = "adamw"
    SGD = "sgd"
    MUON = "muon"
    LAMB = "lamb"
    ADOPT = "adopt"


class SearchAlgorithm(StrEnum):
    GRID = "grid"
    RANDOM = "random"
    TPE = "tpe"
    CMAES = "cmaes"
    GP = "gp"


# Hyperparameters a proxy sweep may tune; the worker's TrialConfig has a field for each. Base values: what
# the parametrization table scales to each width. One not swept keeps the worker's default; `init_std`'s is
# base_width^-½, the fan-in init at the base width, not GPT-2's 0.02 (docs/parametrizations.md).
KNOWN_HPARAMS = (
    "lr",
    "init_std",
    "alpha_in",
    "alpha_out",
    "alpha_attn",
    "weight_decay",
    "warmup",
)


# Seeds and steps end up in 32-bit integer columns on every database.
MAX_SEED = 2**31 - 1


@dataclass(frozen=True)
class Limits:
    """Caps that keep one sweep from exhausting the service; configurable through Settings."""

    max_widths: int = 16
    max_width: int = 65536
    max_depth: int = 512
    max_steps: int = 10_000_000
    max_trials: int = 10_000
    max_seeds: int = 32
    max_space_params: int = 16
    max_grid_points: int = 1000


def _limits(info: ValidationInfo) -> Limits:
    context = info.context or {}
    limits = context.get("limits")
    return limits if isinstance(limits, Limits) else Limits()


class StrictModel(BaseModel):
    """Unknown fields are an error: a typo in a spec must not silently fall back to a default."""

    model_config = ConfigDict(extra="forbid", use_enum_values=True, allow_inf_nan=False)


class MoESpec(StrictModel):
    n_experts: int = Field(8, ge=1, le=1024)
    top_k: int = Field(2, ge=1)
    d_expert: int | None = Field(
        None,
        ge=1,
        description="expert hidden size; default mlp_ratio·width / active experts (top_k, plus 1 with "
        "shared_expert): the active width equals the dense FFN's",
    )
    shared_expert: bool = False
    router: Literal["softmax", "sigmoid"] = "softmax"
    aux_loss_weight: float = Field(0.01, ge=0)
    bridge: Literal["complete-mue", "none"] = Field(
        "complete-mue",
        description="complete-mue: normalized router scale and active-width μP (Complete-muE), so HPs "
        "tuned on a dense (gpt) proxy transfer; none: plain μP for MoE (gates sum to 1, d_expert ∝ width), "
        "which only MoE proxies transfer to",
    )

    @model_validator(mode="after")
    def _top_k_fits(self) -> MoESpec:
        if self.top_k > self.n_experts:
            raise ValueError(f"moe.top_k ({self.top_k}) must be <= moe.n_experts ({self.n_experts})")
        return self


ENTRYPOINT_PATTERN = r"^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*:[A-Za-z_][A-Za-z0-9_]*$"
ExternalRole = Literal["input", "hidden", "output", "vector", "finite"]


class ModelSpec(StrictModel):
    family: Literal["gpt", "mlp", "moe", "custom", "hf"] = Field(
        "gpt",
        description="a built-in family (gpt, mlp, moe), your own module (custom: entrypoint and uploaded "
        "code) or a transformers config (hf: config); docs/external-models.md",
    )
    entrypoint: str | None = Field(
        None,
        max_length=300,
        pattern=ENTRYPOINT_PATTERN,
        description="custom: 'package.module:function', called as build(width=, depth=, vocab_size=, "
        "context_length=) -> torch.nn.Module",
    )
    code: str | None = Field(
        None,
        pattern=r"^sha256:[0-9a-f]{64}$",
        description="custom: the uploaded code archive's digest (`mutransfer submit --code DIR` sets it)",
    )
    config: dict[str, Any] | None = Field(
        None,
        description="hf: a transformers config with model_type (llama or gpt2); its head size, key/value "
        "grouping and MLP ratio are kept, its width, depth, vocabulary and context set per model",
    )
    roles: dict[Annotated[str, Field(min_length=1, max_length=300)], ExternalRole] | None = Field(
        None,
        max_length=1000,
        description="custom and hf: glob pattern over parameter names -> role, overriding the inferred one",
    )
    depth: int = Field(2, ge=1)
    head_dim: int | None = Field(16, ge=1)
    n_heads: int | None = Field(None, ge=1)
    context_length: int = Field(64, ge=1, le=65536)
    tokenizer: Literal["char", "byte"] = "char"
    mlp_ratio: int = Field(4, ge=1, le=64)
    tied_embeddings: bool = False
    moe: MoESpec | None = None

    @model_validator(mode="after")
    def _heads(self) -> ModelSpec:
        if self.head_dim is None and self.n_heads is None:
            raise ValueError("model: give head_dim (fixed head size, heads grow with width) or n_heads")
        if self.family == "moe" and self.moe is None:
            self.moe = MoESpec()
        self._external_fields()
        return self

    def _external_fields(self) -> None:
        """Each family names what it reads; a field another family would ignore is an error, not a no-op."""
        if self.family == "custom" and not self.entrypoint:
            raise ValueError("model.family custom needs model.entrypoint ('package.module:function')")
        if self.family == "custom" and not self.code:
            raise ValueError(
                "model.family custom needs model.code: submit with `mutransfer submit SPEC --code DIR`, or "
                "upload the directory (POST /api/v1/code) and put the digest it returns here"
            )
        if self.family == "hf":
            model_type = (self.config or {}).get("model_type")
            if model_type not in HF_MODEL_TYPES:
                raise ValueError(
                    f"model.family hf needs model.config.model_type, one of {list(HF_MODEL_TYPES)} "
                    f"(got {model_type!r})"
                )
        external = self.family in EXTERNAL_FAMILIES
        misplaced = [
            name
            for name, given, belongs in (
                ("entrypoint", self.entrypoint, self.family == "custom"),
                ("code", self.code, self.family == "custom"),
                ("config", self.config, self.family == "hf"),
                ("roles", self.roles, external),
                ("moe", self.moe, not external),
                ("n_heads", self.n_heads, not external),
                ("tied_embeddings", self.tied_embeddings or None, not external),
            )
            if given is not None and not belongs
        ]
        if misplaced:
            raise ValueError(
                f"model.{', model.'.join(misplaced)} do(es) not apply to model.family {self.family}"
                + (" (an external model decides its own heads, ties and layers)" if external else "")
            )


class ScheduleSpec(StrictModel):
    kind: Literal["cosine", "wsd", "constant"] = "cosine"
    warmup_fraction: float = Field(0.0, ge=0, lt=1)
    decay_fraction: float = Field(0.2, gt=0, le=1, description="WSD: fraction of steps spent decaying")
    min_lr_ratio: float = Field(0.1, ge=0, le=1)


class OptimizerSpec(StrictModel):
    name: OptimizerName = OptimizerName.ADAMW
    betas: tuple[float, float] = Field(
        (0.9, 0.95),
        json_schema_extra={"prefixItems": [{"type": "number", "minimum": 0, "exclusiveMaximum": 1}] * 2},
    )
    eps: float = Field(1e-8, gt=0)
    momentum: float = Field(0.9, ge=0, lt=1)
    weight_decay: float = Field(0.0, ge=0)
    weight_decay_mode: Literal["standard", "independent", "width_scaled"] = "standard"
    grad_clip: float | None = Field(1.0, gt=0)
    schedule: ScheduleSpec = ScheduleSpec()

    @field_validator("betas")
    @classmethod
    def _betas_in_range(cls, betas: tuple[float, float]) -> tuple[float, float]:
        if not all(0 <= b < 1 for b in betas):
            raise ValueError(f"optimizer.betas must each be in [0, 1), got {list(betas)}")
        return betas


class DataSpec(StrictModel):
    dataset: str | None = Field("python-stdlib", description="a built-in local corpus name")
    path: str | None = Field(None, description="a flat binary file of uint16/uint32 tokens (nanoGPT style)")
    token_dtype: Literal["uint16", "uint32"] = "uint16"
    vocab_size: int | None = Field(None, ge=2, description="required with path")

    @model_validator(mode="after")
    def _one_source(self) -> DataSpec:
        if self.path is not None:
            self.dataset = None
            if self.vocab_size is None:
                raise ValueError("data.vocab_size is required when data.path names a token file")
        elif not self.dataset:
            raise ValueError("data: give a built-in dataset name or a path to a token file")
        return self


class ProxySpec(StrictModel):
    # The schema carries what the validators below enforce and JSON Schema can say; ascending order and the
    # limits (settings) are the validators' alone.
    widths: list[int] = Field(
        json_schema_extra={"minItems": 2, "uniqueItems": True, "items": {"type": "integer", "minimum": 1}}
    )
    depths: list[int] | None = Field(
        None,
        json_schema_extra={"minItems": 1, "uniqueItems": True, "items": {"type": "integer", "minimum": 1}},
    )
    steps: int | None = Field(None, ge=1)
    tokens: int | None = Field(None, ge=1)
    batch_size: int = Field(32, ge=1, le=65536)
    seeds: list[int] = Field(
        [0],
        json_schema_extra={
            "minItems": 1,
            "uniqueItems": True,
            "items": {"type": "integer", "minimum": 0, "maximum": MAX_SEED},
        },
    )
    eval_every: int = Field(50, ge=1)
    token_budgets: list[Annotated[int, Field(ge=1)]] | None = Field(
        None,
        description="tokens per trial of extra proxy horizons: the optimum is fitted against them and moved "
        'to the target\'s token count (docs/planner.md, "Horizon and batch size"); the base budget '
        "(steps or tokens) is always one of them",
        json_schema_extra={"minItems": 1, "uniqueItems": True, "items": {"type": "integer", "minimum": 1}},
    )
    batch_sizes: list[Annotated[int, Field(ge=1, le=65536)]] | None = Field(
        None,
        description="extra proxy batch sizes, each at the base token budget; batch_size is always one of "
        "them",
        json_schema_extra={
            "minItems": 1,
            "uniqueItems": True,
            "items": {"type": "integer", "minimum": 1, "maximum": 65536},
        },
    )
    scan_widths: Literal["narrowest", "all"] = Field(
        "narrowest",
        description="where the token_budgets and batch_sizes scans run: the narrowest proxy width "
        "(cheapest) or every proxy width",
    )

    @field_validator("widths")
    @classmethod
    def _widths(cls, widths: list[int], info: ValidationInfo) -> list[int]:
        limits = _limits(info)
        if len(widths) < 2:
            raise ValueError(f"proxy.widths needs at least 2 widths to fit a transfer law, got {widths}")
        if len(widths) > limits.max_widths:
            raise ValueError(f"proxy.widths has {len(widths)} widths; the limit is {limits.max_widths}")
        if any(w <= 0 for w in widths):
            raise ValueError(f"proxy.widths must all be positive, got {widths}")
        if any(b <= a for a, b in zip(widths, widths[1:], strict=False)):
            raise ValueError(f"proxy.widths must be strictly ascending, got {widths}")
        if widths[-1] > limits.max_width:
            raise ValueError(f"proxy.widths: {widths[-1]} exceeds the limit of {limits.max_width}")
        return widths

    @field_validator("depths")
    @classmethod
    def _depths(cls, depths: list[int] | None, info: ValidationInfo) -> list[int] | None:
        if depths is None:
            return None
        if not depths or any(d <= 0 for d in depths):
            raise ValueError(f"proxy.depths must be positive integers, got {depths}")
        if any(b <= a for a, b in zip(depths, depths[1:], strict=False)):
            raise ValueError(f"proxy.depths must be strictly ascending, got {depths}")
        if depths[-1] > _limits(info).max_depth:
            raise ValueError(f"proxy.depths: {depths[-1]} exceeds the limit of {_limits(info).max_depth}")
        return depths

    @field_validator("seeds")
    @classmethod
    def _seeds(cls, seeds: list[int], info: ValidationInfo) -> list[int]:
        if not seeds:
            raise ValueError("proxy.seeds needs at least one seed")
        if len(set(seeds)) != len(seeds):
            raise ValueError(f"proxy.seeds must be distinct, got {seeds}")
        if len(seeds) > _limits(info).max_seeds:
            raise ValueError(f"proxy.seeds has {len(seeds)} seeds; the limit is {_limits(info).max_seeds}")
        if any(not 0 <= s <= MAX_SEED for s in seeds):
            raise ValueError(f"proxy.seeds must be integers in [0, {MAX_SEED}], got {seeds}")
        return seeds

    @model_validator(mode="after")
    def _budget(self, info: ValidationInfo) -> ProxySpec:
        if (self.steps is None) == (self.tokens is None):
            raise ValueError("proxy: give exactly one of steps or tokens")
        if self.resolved_steps(0) > _limits(info).max_steps:
            raise ValueError(
                f"proxy: {self.resolved_steps(0)} steps exceeds the limit of {_limits(info).max_steps}"
            )
        return self

    def resolved_steps(self, context_length: int) -> int:
        """Steps per trial; a token budget is turned into steps with this batch and context."""
        if self.steps is not None:
            return self.steps
        assert self.tokens is not None
        per_step = self.batch_size * max(context_length, 1)
        return max(1, math.ceil(self.tokens / per_step))

    def base_tokens(self, context_length: int) -> int:
        """Tokens of one trial at the base budget (what the width sweep runs)."""
        return self.resolved_steps(context_length) * self.batch_size * max(context_length, 1)

    def horizons(self, context_length: int) -> list[int]:
        """Every proxy token budget, ascending: the base one and `token_budgets`."""
        return sorted({self.base_tokens(context_length), *(self.token_budgets or [])})

    def batches(self) -> list[int]:
        """Every proxy batch size, ascending: `batch_size` and `batch_sizes`."""
        return sorted({self.batch_size, *(self.batch_sizes or [])})


class SearchParam(StrictModel):
    """One hyperparameter's search range: a log or linear interval, or a list of choices."""

    scale: Literal["log", "linear", "choice"] = "log"
    low: float | None = None
    high: float | None = None
    choices: list[float] | None = None
    grid_points: int = Field(5, ge=1, description="points per range for the grid algorithm")
    default: float | None = None

    @model_validator(mode="after")
    def _range(self) -> SearchParam:
        if self.scale == "choice":
            if not self.choices:
                raise ValueError("a 'choice' parameter needs a non-empty 'choices' list")
            return self
        if self.low is None or self.high is None:
            raise ValueError(f"a '{self.scale}' parameter needs both 'low' and 'high'")
        if not (math.isfinite(self.low) and math.isfinite(self.high)):
            raise ValueError("low and high must be finite numbers")
        if self.low >= self.high:
            raise ValueError(f"low ({self.low}) must be < high ({self.high})")
        if self.scale == "log" and self.low <= 0:
            raise ValueError(f"a log-scale range must be positive, got low={self.low}")
        return self

    def grid(self) -> list[float]:
        """The values a grid search visits (log-spaced for log ranges)."""
        if self.choices is not None and self.scale == "choice":
            return list(self.choices)
        assert self.low is not None and self.high is not None
        n = self.grid_points
        if n == 1:
            return [math.sqrt(self.low * self.high) if self.scale == "log" else (self.low + self.high) / 2]
        if self.scale == "log":
            lo, hi = math.log(self.low), math.log(self.high)
            return [math.exp(lo + (hi - lo) * i / (n - 1)) for i in range(n)]
        return [self.low + (self.high - self.low) * i / (n - 1) for i in range(n)]


class EarlyStoppingSpec(StrictModel):
    kind: Literal["asha"] = "asha"
    grace_period: int = Field(10, ge=1, description="steps before a trial may be stopped")
    reduction_factor: float = Field(3.0, gt=1)
    brackets: int = Field(1, ge=1)


class SearchSpec(StrictModel):
    algorithm: SearchAlgorithm = SearchAlgorithm.TPE
    trials_per_width: int | None = Field(None, ge=1)
    budget: int | None = Field(None, ge=1, description="total proxy trials, split evenly across searches")
    space: dict[str, SearchParam] = Field(
        json_schema_extra={"minProperties": 1, "propertyNames": {"enum": list(KNOWN_HPARAMS)}}
    )
    early_stopping: EarlyStoppingSpec | None = None

    @field_validator("space")
    @classmethod
    def _space(cls, space: dict[str, SearchParam], info: ValidationInfo) -> dict[str, SearchParam]:
        if not space:
            raise ValueError("search.space needs at least one hyperparameter (for example lr)")
        unknown = sorted(set(space) - set(KNOWN_HPARAMS))
        if unknown:
            raise ValueError(
                f"search.space: unknown hyperparameter(s) {unknown}; allowed: {list(KNOWN_HPARAMS)}"
            )
        if len(space) > _limits(info).max_space_params:
            raise ValueError(
                f"search.space has {len(space)} parameters; limit {_limits(info).max_space_params}"
            )
        return space

    @model_validator(mode="after")
    def _count(self, info: ValidationInfo) -> SearchSpec:
        if self.algorithm == SearchAlgorithm.GRID:
            points = math.prod(len(p.grid()) for p in self.space.values())
            if points > _limits(info).max_grid_points:
                raise ValueError(
                    f"search: the grid has {points} points; the limit is {_limits(info).max_grid_points}"
                )
            if self.trials_per_width is None and self.budget is None:
                self.trials_per_width = points
        elif self.trials_per_width is None and self.budget is None:
            raise ValueError("search: give trials_per_width or budget")
        return self


class TargetSpec(StrictModel):
    width: int = Field(ge=1)
    depth: int | None = Field(None, ge=1)
    steps: int | None = Field(None, ge=1)
    tokens: int | None = Field(None, ge=1)
    batch_size: int | None = Field(None, ge=1, le=65536, description="default: the proxies' batch_size")
    auto_launch: bool = True
    model: ModelSpec | None = Field(
        None, description="a different model family for the target (dense -> MoE)"
    )

    @model_validator(mode="after")
    def _budget(self) -> TargetSpec:
        if self.steps is not None and self.tokens is not None:
            raise ValueError("target: give at most one of steps or tokens (default: the proxies' budget)")
        return self


class ResourcesSpec(StrictModel):
    cpus_per_trial: float = Field(1.0, gt=0)
    gpus_per_trial: float = Field(0.0, ge=0)
    max_concurrent_trials: int = Field(1, ge=1, le=1024)
    target_cpus: float | None = Field(None, gt=0)
    target_gpus: float | None = Field(None, ge=0)


class MlflowSpec(StrictModel):
    uri: str = Field(
        min_length=1, max_length=2000, description="the MLflow tracking server, e.g. http://mlflow:5000"
    )
    experiment: str = Field("mutransfer", min_length=1, max_length=500)


class TrackingSpec(StrictModel):
    """Where the sweep's results are exported as they land (docs/operations.md, "MLflow")."""

    mlflow: MlflowSpec | None = None


class BudgetSpec(StrictModel):
    """Hard limits on the proxy phase (docs/operations.md, "Budgets"): when one is reached no new trial
    starts, the running ones are stopped (recorded `cancelled`), and the planner plans from what finished."""

    max_wall_time: float | None = Field(
        None, gt=0, description="seconds from the sweep's start until no proxy trial may run"
    )
    max_trial_hours: float | None = Field(
        None, gt=0, description="proxy trial time, summed over trials (hours; 2 trials for 30 min = 1)"
    )
    max_proxy_flops: float | None = Field(
        None, gt=0, description="training FLOPs of the proxies (6·N·tokens per trial, N non-embedding)"
    )


class SweepSpec(StrictModel):
    spec_version: Literal[1] = 1
    name: Annotated[str, Field(min_length=1, max_length=200, pattern=r"^[A-Za-z0-9][A-Za-z0-9_.\- ]*$")]
    description: str | None = Field(None, max_length=10_000)
    tags: list[Annotated[str, Field(min_length=1, max_length=64)]] = Field(
        default_factory=list, max_length=32
    )
    model: ModelSpec = ModelSpec()
    parametrizations: list[Parametrization] = Field(min_length=1, json_schema_extra={"uniqueItems": True})
    base_width: int = Field(ge=1)
    base_depth: int | None = Field(None, ge=1)
    depth_alpha: float = Field(
        1.0,
        description="CompleteP α: 1 (CompleteP) or 0.5 (depth-μP)",
        json_schema_extra={"enum": [0.5, 1.0]},
    )
    optimizer: OptimizerSpec = OptimizerSpec()
    data: DataSpec = DataSpec()
    proxy: ProxySpec
    search: SearchSpec
    target: TargetSpec
    resources: ResourcesSpec = ResourcesSpec()
    budget: BudgetSpec | None = None
    tracking: TrackingSpec | None = None
    reuse: bool = Field(
        True,
        description="take a proxy trial's result from an earlier sweep of the project that ran the same "
        "trial (same model, code, HPs, data, steps, seed); false: train every trial",
    )
    preflight: Literal["enforce", "warn", "off"] = "enforce"

    @field_validator("parametrizations")
    @classmethod
    def _distinct(cls, names: list[str]) -> list[str]:
        if len(set(names)) != len(names):
            raise ValueError(f"parametrizations must be distinct, got {names}")
        return names

    @field_validator("depth_alpha")
    @classmethod
    def _alpha(cls, alpha: float) -> float:
        if alpha not in (0.5, 1.0):
            raise ValueError(f"depth_alpha must be 1 (CompleteP) or 0.5 (depth-μP), got {alpha}")
        return alpha

    @model_validator(mode="after")
    def _consistent(self, info: ValidationInfo) -> SweepSpec:
        widths = self.proxy.widths
        if self.target.width <= widths[-1]:
            raise ValueError(
                f"target.width ({self.target.width}) must be wider than every proxy width {widths}"
            )
        if self.target.width > _limits(info).max_width:
            raise ValueError(
                f"target.width {self.target.width} exceeds the limit of {_limits(info).max_width}"
            )
        if self.model.head_dim is not None and any(
            w % self.model.head_dim for w in [*widths, self.target.width]
        ):
            raise ValueError(f"every width must be a multiple of model.head_dim ({self.model.head_dim})")
        if self.proxy.depths and self.target.depth is not None and self.target.depth < self.proxy.depths[-1]:
            raise ValueError(
                f"target.depth ({self.target.depth}) must be >= every proxy depth {self.proxy.depths}"
            )
        depths = [self.model.depth, self.target.depth or 0, self.base_depth or 0]
        if max(depths) > _limits(info).max_depth:
            raise ValueError(f"depth {max(depths)} exceeds the limit of {_limits(info).max_depth}")
        if self.base_width > _limits(info).max_width:
            raise ValueError(f"base_width {self.base_width} exceeds the limit of {_limits(info).max_width}")
        target_steps = self.target.steps or 0
        if self.target.tokens is not None:
            target_steps = math.ceil(self.target.tokens / (self.target_batch() * self.model.context_length))
        if target_steps > _limits(info).max_steps:
            raise ValueError(f"target: {target_steps} steps exceeds the limit of {_limits(info).max_steps}")
        if self.search.budget is not None and self.search.budget > _limits(info).max_trials:
            raise ValueError(
                f"search.budget {self.search.budget} exceeds the limit of {_limits(info).max_trials}"
            )
        if self.total_trials() > _limits(info).max_trials:
            raise ValueError(
                f"this sweep would run {self.total_trials()} trials; the limit is {_limits(info).max_trials}"
            )
        if self.model.family == "moe":  # the widths list imports the preflight ladder: only MoE needs it
            _check_expert_widths("model", self.model, self._model_builds())
        if self.target.model is not None:
            if self.target.model.family in EXTERNAL_FAMILIES:
                raise ValueError(
                    "target.model: an external model (custom, hf) is given once, in model: the proxies and "
                    "the target are the same model at different widths"
                )
            _check_expert_widths("target.model", self.target.model, {self.target.width: "target width"})
        _check_transfer_rule(self)
        _check_scans(self, _limits(info))
        return self

    def _model_builds(self) -> dict[int, str]:
        """Every width at which `model` is built, and what builds it: the proxies, the target when it has no
        model of its own, and the preflight coordinate check (on unless `preflight: off`)."""
        builds = dict.fromkeys(self.proxy.widths, "proxy width")
        if self.target.model is None:
            builds[self.target.width] = "target width"
        if self.preflight != "off":
            for width in preflight_widths(self):
                builds.setdefault(width, "coordinate-check width (preflight; or set preflight: off)")
        return builds

    def depths(self) -> list[int]:
        return self.proxy.depths or [self.model.depth]

    def fit_depth(self) -> int:
        """The proxy depth the width law is fitted at (and the token and batch scans run at): the target's
        depth where the proxies ran it, else the deepest proxy depth."""
        depths = self.depths()
        target = self.target.depth or (
            depths[-1] if self.proxy.depths else (self.target.model or self.model).depth
        )
        return target if target in depths else depths[-1]

    def target_batch(self) -> int:
        return self.target.batch_size or self.proxy.batch_size

    def searches(self) -> list[SearchCell]:
        """Every independent search: one per (parametrization, width, depth) at the base budget, then the
        token and batch scans (one axis at a time, the other at its base) at `proxy.scan_widths`."""
        proxy, context = self.proxy, self.model.context_length
        cells = [
            SearchCell(p, w, d) for p in self.parametrizations for w in proxy.widths for d in self.depths()
        ]
        widths = proxy.widths if proxy.scan_widths == "all" else proxy.widths[:1]
        base_tokens, depth = proxy.base_tokens(context), self.fit_depth()
        for p in self.parametrizations:
            for w in widths:
                cells += [
                    SearchCell(p, w, depth, tokens=t) for t in proxy.horizons(context) if t != base_tokens
                ]
                cells += [
                    SearchCell(p, w, depth, batch_size=b) for b in proxy.batches() if b != proxy.batch_size
                ]
        return cells

    def trial_budget(self, tokens: int | None, batch_size: int | None) -> tuple[int, int]:
        """(steps, batch size) of a proxy trial with this budget; None is the base (tokens per trial or
        batch size), which a batch scan keeps: a larger batch takes fewer steps over the same tokens."""
        proxy, context = self.proxy, max(self.model.context_length, 1)
        batch = batch_size or proxy.batch_size
        if tokens is None and batch_size is None:
            return proxy.resolved_steps(context), batch
        total = tokens or proxy.base_tokens(context)
        return max(1, math.ceil(total / (batch * context))), batch

    def trial_tokens(self, tokens: int | None, batch_size: int | None) -> int:
        """Tokens a proxy trial with this budget trains on (whole steps)."""
        steps, batch = self.trial_budget(tokens, batch_size)
        return steps * batch * self.model.context_length

    def trials_per_search(self) -> int:
        """Sampled configurations per search (each is run once per seed)."""
        if self.search.trials_per_width is not None:
            return self.search.trials_per_width
        assert self.search.budget is not None
        return max(1, self.search.budget // (len(self.searches()) * len(self.proxy.seeds)))

    def total_trials(self) -> int:
        return len(self.searches()) * self.trials_per_search() * len(self.proxy.seeds)


@dataclass(frozen=True)
class SearchCell:
    """One independent search of a sweep: a parametrization at one proxy size and one training budget.
    `tokens` and `batch_size` are None at the base budget (the width sweep's) and set in a token or batch
    scan; `SweepSpec.trial_budget` turns them into steps."""

    parametrization: str
    width: int
    depth: int
    tokens: int | None = None
    batch_size: int | None = None


def _check_scans(spec: SweepSpec, limits: Limits) -> None:
    """The token and batch scans must each give whole steps within the limits, and a token budget must
    hold at least one batch."""
    proxy, context = spec.proxy, spec.model.context_length
    for tokens in proxy.token_budgets or []:
        if tokens < proxy.batch_size * context:
            raise ValueError(
                f"proxy.token_budgets: {tokens} tokens is less than one step of batch_size × "
                f"context_length = {proxy.batch_size * context}"
            )
    for batch in proxy.batch_sizes or []:
        if proxy.base_tokens(context) < batch * context:
            raise ValueError(
                f"proxy.batch_sizes: {batch} × context_length {context} exceeds the base budget of "
                f"{proxy.base_tokens(context)} tokens per trial (batch sizes are scanned at that budget)"
            )
    longest = max((spec.trial_budget(c.tokens, c.batch_size)[0] for c in spec.searches()), default=0)
    if longest > limits.max_steps:
        raise ValueError(f"proxy.token_budgets: {longest} steps exceeds the limit of {limits.max_steps}")


def _check_expert_widths(field: str, model: ModelSpec, builds: dict[int, str]) -> None:
    """An MoE model's default expert hidden size (mlp_ratio·width / active experts) must split at every
    width the sweep builds; the worker's own rule, checked at submit rather than when the plan or the
    target is built after every proxy has run."""
    from workers.moe_config import MoEConfig  # torch-free: validating a spec never loads torch

    if model.family != "moe" or model.moe is None:
        return
    config = MoEConfig.from_dict(model.moe.model_dump())
    for width, what in builds.items():
        try:
            config.expert_width(width, model.mlp_ratio)
        except ValueError as exc:
            raise ValueError(f"{field}.moe.d_expert: at the {what} {width}, {exc}") from exc


def _check_transfer_rule(spec: SweepSpec) -> None:
    """An MoE target of another family than the proxies needs a rule that maps the tuned HPs (the worker's
    `transfer_mapping`: a gpt proxy under Complete-muE's bridges, or MoE proxies); without one the sweep
    would fail at planning, after every proxy has run."""
    from workers.moe_config import transfer_mapping  # torch-free: validating a spec never loads torch

    target = spec.target.model
    if target is None or target.family != "moe" or target.moe is None:
        return
    try:
        transfer_mapping(spec.model.family, target.moe.model_dump(), spec.target.width, target.mlp_ratio)
    except ValueError as exc:
        field = "target.model.moe.bridge" if spec.model.family == "gpt" else "model.family"
        raise ValueError(f"{field}: {exc}") from exc


def parse_spec(data: Any, limits: Limits | None = None) -> SweepSpec:
    """Validate a spec dict (from YAML or JSON) under the given limits."""
    return SweepSpec.model_validate(data, context={"limits": limits or Limits()})


# A stored spec passed the service's limits when it was submitted: reading it back must not judge it again,
# or a sweep above the default limits (a service that raised them) or one submitted before they were lowered
# could no longer be run, planned or shown.
UNLIMITED = Limits(**{f.name: 2**62 for f in fields(Limits)})


def stored_spec(data: Any) -> SweepSpec:
    """A spec read back from the store, validated under no limits (see `UNLIMITED`)."""
    return SweepSpec.model_validate(data, context={"limits": UNLIMITED})


def validation_messages(exc: ValidationError) -> list[str]:
    """One line per problem, as `field.path: what is wrong` (pydantic's "Value error, " prefix dropped,
    unknown fields named as such), for the CLI and the API's 422 responses."""
    messages = []
    for error in exc.errors(include_url=False):
        loc = ".".join(str(part) for part in error["loc"]) or "spec"
        msg = str(error["msg"]).removeprefix("Value error, ").removeprefix("Assertion failed, ")
        if error["type"] == "extra_forbidden":
            msg = "unknown field (check the spelling; unknown fields are not allowed)"
        elif error["type"] == "missing":
            msg = "required field is missing"
        messages.append(f"{loc}: {msg}")
    return messages


def preflight_widths(spec: SweepSpec, count: int = 4, smallest: int = 64) -> list[int]:
    """Four doublings from the smallest proxy width (at least 64), each a multiple of the head dim.

    The check judges the parametrization, not the proxies: below ~64 a 16-dim-head model has one or
    two heads and finite-width terms swamp the slopes, so tiny proxies are checked on a wider ladder.
    """
    step = spec.model.head_dim or 1
    first = int(math.ceil(max(spec.proxy.widths[0], smallest) / step) * step)
    return [first * 2**i for i in range(count)]
