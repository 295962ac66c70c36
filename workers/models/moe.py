"""A GPT whose MLP is a sparse Mixture-of-Experts layer (issue 7; science.md §5).

Each block's MLP becomes: a router (`Role.ROUTER`, output-like: forward × 1/m under μP) scores the
`n_experts` experts per token (softmax or sigmoid), the `top_k` best are kept, their gates renormalized, and
the token's output is the gate-weighted sum of the chosen experts' GELU MLPs (hidden size `d_expert`), plus
an optional always-on shared expert. Tokens are dispatched without a Python loop over tokens: assignments are
sorted by expert id, scattered into a padded (n_experts, capacity, width) buffer with index ops, pushed
through one batched matmul per projection over the stacked expert weights, and summed back per token with
`index_add`. A Switch-style load-balancing loss is added to the training loss by the model's forward.

Complete-muE's bridges (`bridge: complete-mue`, the default) are two facts of the structure, so the table
only has to read them:
- the normalized router scale: the routed gates sum to `top_k` (not 1), so a dense MoE (top_k = n_experts)
  with uniform gates computes exactly the dense FFN whose hidden units are split among the experts (bridge I);
- active-width μP: the down projection's base fan-in is the dense base FFN's hidden size divided by the number
  of active experts, so its μP multiplier is (active experts · d_expert) / (mlp_ratio · base_width): the
  expert rules scale with the number of activated experts (bridge II) and equal the dense FFN's at equal
  active width. `bridge: none` keeps plain μP for MoE: gates sum to 1, d_expert ∝ width.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, fields
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from workers.models.gpt import GPT, GPTConfig
from workers.models.layers import ScaledLinear, role_table
from workers.roles import Role

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


class ExpertLinear(ScaledLinear):
    """Stacked expert weights (n, fan_out, fan_in) applied by one batched matmul to x of shape (n, C, fan_in).

    A `ScaledLinear`, so the parametrization finds it like any scaled layer; `base_fan_in` tells it which
    width multiplier the fan-in carries (`Role.EXPERT` rows read m = fan_in / base_fan_in)."""

    def __init__(self, n: int, fan_in: int, fan_out: int, base_fan_in: float) -> None:
        super().__init__(fan_in, fan_out, Role.EXPERT)
        self.weight = nn.Parameter(torch.empty(n, fan_out, fan_in))
        self.base_fan_in = base_fan_in

    def fans(self) -> tuple[int, int]:
        return self.weight.shape[2], self.weight.shape[1]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = torch.bmm(x, self.weight.transpose(1, 2))
        return y if self.multiplier == 1.0 else y * self.multiplier


class Experts(nn.Module):
    """n GELU MLPs width -> d_expert -> width with stacked weights; input and output (n, C, width)."""

    def __init__(self, n: int, width: int, d_expert: int, base_width: int, down_base_fan_in: float) -> None:
        super().__init__()
        self.up = ExpertLinear(n, width, d_expert, base_fan_in=base_width)
        self.down = ExpertLinear(n, d_expert, width, base_fan_in=down_base_fan_in)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.down(F.gelu(self.up(x)))


def load_balancing_loss(probs: torch.Tensor, expert_ids: torch.Tensor, n_experts: int) -> torch.Tensor:
    """Switch Transformer (Fedus et al. 2021, eq. 4), top-k form: n · Σ_e f_e · P_e, where f_e is the
    fraction of assignments sent to expert e and P_e its mean router probability; 1 when balanced."""
    fraction = torch.bincount(expert_ids, minlength=n_experts).to(probs.dtype) / expert_ids.numel()
    return n_experts * (fraction * probs.mean(0)).sum()


class MoELayer(nn.Module):
    """Router + top-k dispatch + routed experts (+ shared expert). Keeps `aux_loss` of its last forward."""

    def __init__(self, width: int, base_width: int, mlp_ratio: int, moe: MoEConfig) -> None:
        super().__init__()
        self.moe = moe
        d_expert = moe.expert_width(width, mlp_ratio)
        down_base = moe.down_base_fan_in(width, base_width, mlp_ratio)
        self.router = ScaledLinear(width, moe.n_experts, Role.ROUTER)
        self.experts = Experts(moe.n_experts, width, d_expert, base_width, down_base)
        self.shared = Experts(1, width, d_expert, base_width, down_base) if moe.shared_expert else None
        self.gate_scale = moe.gate_scale()
        self.aux_loss = torch.zeros(())

    def route(self, flat: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """(gates (N, k), expert ids (N, k), normalized router probabilities (N, n_experts))."""
        logits = self.router(flat).float()
        scores = logits.softmax(-1) if self.moe.router == "softmax" else logits.sigmoid()
        top, expert_ids = scores.topk(self.moe.top_k, dim=-1)
        gates = top / top.sum(-1, keepdim=True) * self.gate_scale
        return gates, expert_ids, scores / scores.sum(-1, keepdim=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        flat = x.reshape(-1, x.shape[-1])
        k, n_experts = self.moe.top_k, self.moe.n_experts
        gates, expert_ids, probs = self.route(flat)
        # Dispatch: sort the N·k assignments by expert; each gets a slot in its expert's row of the buffer.
        assigned = expert_ids.flatten()
        order = assigned.argsort(stable=True)
        sorted_experts, token_ids = assigned[order], order // k
        counts = torch.bincount(assigned, minlength=n_experts)
        starts = counts.cumsum(0) - counts
        slots = torch.arange(order.numel(), device=x.device) - starts[sorted_experts]
        capacity = int(counts.max())
        buffer = flat.new_zeros(n_experts, capacity, flat.shape[1])
        buffer = buffer.index_put((sorted_experts, slots), flat.index_select(0, token_ids))
        outputs = self.experts(buffer)[sorted_experts, slots]
        weighted = outputs * gates.flatten()[order].unsqueeze(1).to(outputs.dtype)
        y = flat.new_zeros(flat.shape).index_add(0, token_ids, weighted)
        if self.shared is not None:
            y = y + self.shared(flat.unsqueeze(0)).squeeze(0)
        self.aux_loss = load_balancing_loss(probs, assigned, n_experts)
        return y.view(x.shape)


class MoEGPT(GPT):
    """nanoGPT-style decoder with an MoE layer in place of every block's MLP; the rest is `GPT` unchanged
    (attention, residual multipliers and readout are parametrized exactly as for the dense family)."""

    def __init__(self, config: GPTConfig, base_width: int, moe: MoEConfig) -> None:
        super().__init__(config)
        self.moe = moe
        for block in self.blocks:
            block.mlp = MoELayer(config.width, base_width, config.mlp_ratio, moe)
        self.param_roles = role_table(self)

    def aux_loss(self) -> torch.Tensor:
        """Mean load-balancing loss over the MoE layers of the last forward."""
        return torch.stack([block.mlp.aux_loss for block in self.blocks]).mean()

    def forward(
        self, idx: torch.Tensor, targets: torch.Tensor | None = None
    ) -> tuple[torch.Tensor, torch.Tensor | None]:
        """As GPT; in training mode the loss also carries aux_loss_weight × the load-balancing loss (eval
        losses stay pure cross-entropy, comparable with the dense family's)."""
        logits, loss = super().forward(idx, targets)
        if loss is not None and self.training and self.moe.aux_loss_weight > 0:
            loss = loss + self.moe.aux_loss_weight * self.aux_loss().to(loss.dtype)
        return logits, loss


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
