"""The MoE family: dispatch without a token loop, Complete-muE bridge I (dense FFN = dense MoE), aux loss."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from workers.config import TrialConfig
from workers.models.moe import MoEConfig, MoELayer
from workers.parametrization import build_model, build_optimizer

torch.set_num_threads(2)


def _reference(layer: MoELayer, x: torch.Tensor) -> torch.Tensor:
    """The MoE layer written the slow, obvious way: every token through its own top-k experts."""
    flat = x.reshape(-1, x.shape[-1])
    gates, experts, _ = layer.route(flat)
    out = torch.zeros_like(flat)
    for t in range(flat.shape[0]):
        for gate, e in zip(gates[t], experts[t], strict=True):
            up, down = layer.experts.up.weight[e], layer.experts.down.weight[e]
            out[t] += gate * (down @ F.gelu(up @ flat[t]))
        if layer.shared is not None:
            out[t] += layer.shared.down.weight[0] @ F.gelu(layer.shared.up.weight[0] @ flat[t])
    return out.view(x.shape)


@pytest.mark.parametrize("router", ["softmax", "sigmoid"])
@pytest.mark.parametrize("shared_expert", [False, True])
def test_grouped_dispatch_equals_the_per_token_loop(router: str, shared_expert: bool) -> None:
    moe = MoEConfig(n_experts=6, top_k=2, d_expert=16, router=router, shared_expert=shared_expert)
    torch.manual_seed(0)
    layer = MoELayer(32, 32, 2, moe)
    for p in layer.parameters():
        torch.nn.init.normal_(p, std=0.3)
    x = torch.randn(3, 5, 32)
    assert torch.allclose(layer(x), _reference(layer, x), atol=1e-5)


def test_bridge_one_dense_moe_with_uniform_router_is_exactly_the_dense_ffn() -> None:
    """Complete-muE bridge I: split the dense FFN's hidden units among n experts, route every token to all of
    them with a zero (uniform) router: gates sum to top_k, so each gate is 1 and the outputs coincide."""
    dense = build_model(TrialConfig(family="gpt", width=64, depth=2, parametrization="mup"), 50)
    moe_config = TrialConfig(
        family="moe", width=64, depth=2, parametrization="mup", moe={"n_experts": 4, "top_k": 4}
    )
    moe = build_model(moe_config, 50)
    state = {k: v for k, v in dense.state_dict().items() if ".mlp." not in k}
    moe.load_state_dict(state, strict=False)
    with torch.no_grad():
        for dense_block, moe_block in zip(dense.blocks, moe.blocks, strict=True):
            fc, proj = dense_block.mlp.fc.weight, dense_block.mlp.proj.weight  # (256, 64), (64, 256)
            moe_block.mlp.experts.up.weight.copy_(fc.view(4, 64, 64))
            moe_block.mlp.experts.down.weight.copy_(proj.view(64, 4, 64).transpose(0, 1))
            moe_block.mlp.router.weight.zero_()
    idx = torch.randint(0, 50, (2, 16))
    dense.eval(), moe.eval()
    assert torch.allclose(moe(idx)[0], dense(idx)[0], atol=1e-5)


def test_training_loss_carries_the_load_balancing_term_and_eval_loss_does_not() -> None:
    config = TrialConfig(
        family="moe", width=32, depth=1, moe={"n_experts": 4, "top_k": 1, "aux_loss_weight": 0.5}
    )
    model = build_model(config, 40)
    idx = torch.randint(0, 40, (2, 16))
    _, train_loss = model(idx, idx)
    aux = model.aux_loss()
    assert aux.item() >= 1.0 - 1e-6  # n·Σ f·P ≥ 1, with equality only when perfectly balanced
    model.eval()
    _, eval_loss = model(idx, idx)
    assert train_loss.item() == pytest.approx(eval_loss.item() + 0.5 * aux.item(), rel=1e-5)


def test_moe_trains_and_the_router_learns() -> None:
    config = TrialConfig(family="moe", width=32, depth=1, lr=1e-2, moe={"n_experts": 4, "top_k": 2})
    model = build_model(config, 40)
    optimizer = build_optimizer(model, config)
    router_before = model.blocks[0].mlp.router.weight.detach().clone()
    idx = torch.randint(0, 40, (4, 16))
    losses = []
    for _ in range(20):
        _, loss = model(idx, idx)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    assert losses[-1] < 0.7 * losses[0]
    assert not torch.equal(model.blocks[0].mlp.router.weight, router_before)


@pytest.mark.parametrize(
    ("moe", "message"),
    [
        ({"n_experts": 2, "top_k": 3}, "top_k (3) must be <= moe.n_experts (2)"),
        ({"router": "relu"}, "moe.router 'relu'"),
        ({"bridge": "magic"}, "moe.bridge 'magic'"),
        ({"aux_loss_weight": float("nan")}, "aux_loss_weight must be a finite number"),
        ({"experts": 4}, "unknown keys ['experts']"),
        ({"top_k": 3}, "does not split among 3 active experts"),
    ],
)
def test_bad_moe_settings_say_what_to_fix(moe: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message.replace("(", r"\(").replace(")", r"\)").replace("[", r"\[")):
        build_model(TrialConfig(family="moe", width=32, moe=moe), 40)
