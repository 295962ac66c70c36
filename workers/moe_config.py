"""The `moe` block of a model config and the rules that need no tensors (docs/parametrizations.md,
"Mixture of experts").

Torch-free, so the orchestrator checks a spec against the worker's own rules at submit (the expert hidden
size must split among the active experts; a transfer rule must map the proxies' HPs to an MoE target) without
loading torch; `workers.models.moe` builds the layers from the same config.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, fields
from typing import Any

ROUTERS = ("softmax", "sigmoid")
BRIDGES = ("complete-mue", "none")


@dataclass(frozen=True)
class MoEConfig:
    """The `moe` block of a TrialConfig / spec (`model.moe`)."""

    n_experts: int = 8
    top_k: int = 2
    d_expert: int | None = None  # default: mlp_ratio · width / active experts (active width = dense FFN's)
    shared_expert: bool = False
    router: str = "softmax"
    aux_loss_weight: float = 0.01
    bridge: str = "complete-mue"

    @classmethod
    def from_dict(cls, data: dict[str, Any] | None) -> MoEConfig:
        """Validated config; unknown keys and bad values are errors that name the field to fix."""
        data = dict(data or {})
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise ValueError(f"moe: unknown keys {unknown}; known keys are {sorted(known)}")
        config = cls(**data)
        config.validate()
        return config

    def validate(self) -> None:
        for name in ("n_experts", "top_k"):
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                raise ValueError(f"moe.{name} must be a positive integer, got {value!r}")
        if self.top_k > self.n_experts:
            raise ValueError(f"moe.top_k ({self.top_k}) must be <= moe.n_experts ({self.n_experts})")
        if self.d_expert is not None and (not isinstance(self.d_expert, int) or self.d_expert < 1):
            raise ValueError(f"moe.d_expert must be a positive integer or null, got {self.d_expert!r}")
        if self.router not in ROUTERS:
            raise ValueError(f"moe.router {self.router!r}: choose one of {list(ROUTERS)}")
        if self.bridge not in BRIDGES:
            raise ValueError(f"moe.bridge {self.bridge!r}: choose one of {list(BRIDGES)}")
        weight = self.aux_loss_weight
        if not isinstance(weight, int | float) or not math.isfinite(weight) or weight < 0:
            raise ValueError(f"moe.aux_loss_weight must be a finite number >= 0, got {weight!r}")

    @property
    def active_experts(self) -> int:
        """Experts every token passes through: the routed top_k plus the shared expert."""
        return self.top_k + int(self.shared_expert)

    def expert_width(self, width: int, mlp_ratio: int) -> int:
        if self.d_expert is not None:
            return self.d_expert
        if (mlp_ratio * width) % self.active_experts:
            raise ValueError(
                f"mlp_ratio·width = {mlp_ratio * width} does not split among {self.active_experts} active "
                "experts: set moe.d_expert explicitly"
            )
        return mlp_ratio * width // self.active_experts

    def gate_scale(self) -> float:
        """What the routed gates sum to: top_k under Complete-muE's normalized router scale, else 1."""
        return float(self.top_k) if self.bridge == "complete-mue" else 1.0

    def down_base_fan_in(self, width: int, base_width: int, mlp_ratio: int) -> float:
        """The down projection's fan-in in the base model, so that m = d_expert / this.

        complete-mue: the dense base FFN (mlp_ratio · base_width hidden units) shared among the active
        experts, i.e. m = active width / dense base width (Complete-muE's active-width μP). none: d_expert
        at base_width under d_expert ∝ width, i.e. m = width / base_width (plain μP)."""
        if self.bridge == "complete-mue":
            return mlp_ratio * base_width / self.active_experts
        return self.expert_width(width, mlp_ratio) * base_width / width


def transfer_mapping(
    proxy_family: str, moe: dict[str, Any] | None, width: int, mlp_ratio: int
) -> dict[str, Any]:
    """How HPs tuned on a `proxy_family` proxy carry to an MoE target of `width`: the plan states this.

    From a dense proxy (gpt) under `bridge: complete-mue`: bridge I (the dense FFN read as a dense MoE:
    hidden units split among the experts, gates summing to the active count) and, when top_k < n_experts,
    bridge II (dense → sparse MoE: gates sum to top_k, the expert rules scale with the active width
    top_k·d_expert against the dense base FFN). From an MoE proxy: plain μP in width. Raises when no
    mapping exists (an MLP proxy, or a dense proxy with `bridge: none`)."""
    config = MoEConfig.from_dict(moe)
    d_expert = config.expert_width(width, mlp_ratio)
    facts = {
        "active_experts": config.active_experts,
        "d_expert": d_expert,
        "active_width": config.active_experts * d_expert,
        "dense_ffn_width": mlp_ratio * width,
        "gate_sum": config.gate_scale(),
    }
    if proxy_family == "moe":
        return {
            "bridge": "none",
            "text": "MoE proxies → MoE target: μP in width, experts and router as tuned",
        }
    if proxy_family != "gpt" or config.bridge != "complete-mue":
        raise ValueError(
            f"no transfer from a {proxy_family!r} proxy to an MoE target with moe.bridge {config.bridge!r}: "
            "tune a gpt proxy and keep moe.bridge 'complete-mue', or tune MoE proxies"
        )
    dense_moe = config.top_k == config.n_experts
    bridge = "complete-mue I" if dense_moe else "complete-mue I+II"
    text = (
        f"dense FFN ({facts['dense_ffn_width']} hidden units) read as a dense MoE (bridge I: gates sum to "
        f"the active count, expert rules from the active width {facts['active_width']})"
    )
    if not dense_moe:
        text += (
            f"; dense → sparse MoE (bridge II: top_{config.top_k} of {config.n_experts} experts, expert LR "
            f"and init scale with the active width top_k·d_expert = {facts['active_width']})"
        )
    return {"bridge": bridge, "text": text, **facts}
