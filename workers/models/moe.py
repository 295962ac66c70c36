"""A GPT whose MLP is a sparse Mixture-of-Experts layer (μP for MoE and Complete-muE, 2025).

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

The config (`MoEConfig`) and the dense → MoE `transfer_mapping` need no tensors: they live in
`workers.moe_config`, which the orchestrator reads at submit without loading torch.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from workers.activations import Kind
from workers.models.gpt import GPT, GPTConfig
from workers.models.layers import ScaledLinear, role_table
from workers.moe_config import MoEConfig, transfer_mapping
from workers.roles import Role

__all__ = [
    "ExpertLinear",
    "Experts",
    "MoEConfig",
    "MoEGPT",
    "MoELayer",
    "load_balancing_loss",
    "transfer_mapping",
]


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

    mlp_kind = Kind.MOE

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
