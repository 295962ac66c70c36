"""The model families as the training loop and the parametrization use them."""

from __future__ import annotations

import os
from dataclasses import replace

import pytest
import torch

from workers.config import TrialConfig
from workers.data import load_dataset
from workers.models.layers import SCALED
from workers.parametrization import build_model, build_optimizer

torch.set_num_threads(1)

TINY = TrialConfig(width=32, base_width=32, head_dim=8, depth=2, context_length=16, seed=3)


@pytest.mark.parametrize("family", ["gpt", "mlp"])
def test_forward_returns_logits_for_every_position_and_the_mean_loss(family: str) -> None:
    model = build_model(replace(TINY, family=family, readout_zero_init=True), vocab_size=50)
    idx = torch.randint(0, 50, (3, 16))
    logits, loss = model(idx, idx)
    assert logits.shape == (3, 16, 50)
    # a zero readout predicts the uniform distribution: loss = ln(vocab) exactly
    assert loss is not None and loss.item() == pytest.approx(torch.log(torch.tensor(50.0)).item(), rel=1e-6)
    assert model(idx)[1] is None


def test_gpt_attention_is_causal() -> None:
    model = build_model(TINY, vocab_size=50)
    idx = torch.randint(0, 50, (1, 16))
    changed = idx.clone()
    changed[0, 10:] = (changed[0, 10:] + 1) % 50
    with torch.no_grad():
        assert torch.allclose(model(idx)[0][:, :10], model(changed)[0][:, :10], atol=1e-6)
        assert not torch.allclose(model(idx)[0][:, 10:], model(changed)[0][:, 10:])


def test_gpt_rejects_sequences_longer_than_its_context() -> None:
    with pytest.raises(ValueError, match="exceeds context_length 16"):
        build_model(TINY, vocab_size=50)(torch.zeros(1, 17, dtype=torch.long))


def test_build_is_deterministic_in_the_seed() -> None:
    a, b, c = (build_model(replace(TINY, seed=s), 50) for s in (3, 3, 4))
    assert all(torch.equal(p, q) for p, q in zip(a.parameters(), b.parameters(), strict=True))
    assert not torch.equal(a.embedding.token.weight, c.embedding.token.weight)


def test_parameters_carry_no_custom_attributes_and_multipliers_are_plain_floats() -> None:
    # microsoft/mup #59/#60: attributes on tensors break torch.compile and FSDP flat parameters.
    model = build_model(replace(TINY, parametrization="mup", width=64), 50)
    assert all(not vars(p) for p in model.parameters())
    for module in model.modules():
        if isinstance(module, SCALED):
            assert type(module.multiplier) is float
    assert type(model.blocks[0].attn.scale) is float and type(model.blocks[0].residual_multiplier) is float
    assert set(model.param_roles) == {name for name, _ in model.named_parameters()}


def test_query_zero_init_zeroes_only_queries() -> None:
    model = build_model(replace(TINY, query_zero_init=True), 50)
    assert all(not block.attn.q.weight.any() for block in model.blocks)
    assert all(block.attn.k.weight.any() for block in model.blocks)


@pytest.mark.parametrize("optimizer", ["adamw", "sgd", "muon", "lamb", "adopt"])
def test_each_optimizer_fits_real_text(optimizer: str) -> None:
    lr = {"sgd": 0.5, "adamw": 1e-2, "adopt": 1e-2, "lamb": 5e-2, "muon": 1e-2}[optimizer]
    config = replace(TINY, parametrization="mup", optimizer=optimizer, lr=lr, width=64)
    data = load_dataset(config)
    model = build_model(config, data.vocab_size)
    opt = build_optimizer(model, config)
    idx, targets = data.batch("train", 8, 16, seed=0, index=0)
    first = model(idx, targets)[1].item()
    for _ in range(25):
        opt.zero_grad()
        model(idx, targets)[1].backward()
        opt.step()
    assert model(idx, targets)[1].item() < 0.8 * first


def test_gpt_compiles_as_one_graph() -> None:
    """Dynamo traces the whole model with no graph break (fullgraph) and AOTAutograd runs it; this is where
    tensor attributes broke microsoft/mup. `aot_eager` skips inductor's C++ build (minutes on a busy CPU)."""
    model = build_model(replace(TINY, parametrization="mup", width=32, depth=1), 50)
    idx = torch.randint(0, 50, (2, 16))
    compiled = torch.compile(model, backend="aot_eager", fullgraph=True)
    logits, loss = compiled(idx, idx)
    assert torch.allclose(logits, model(idx)[0], atol=1e-5)
    loss.backward()
    assert model.blocks[0].attn.q.weight.grad is not None


@pytest.mark.skipif(
    not os.environ.get("MUTRANSFER_TEST_INDUCTOR"),
    reason="set MUTRANSFER_TEST_INDUCTOR=1: inductor compiles C++ on the CPU, 1-3 minutes",
)
def test_gpt_runs_under_inductor() -> None:
    model = build_model(replace(TINY, parametrization="mup", width=32, depth=1), 50)
    idx = torch.randint(0, 50, (2, 16))
    with torch.no_grad():
        assert torch.allclose(torch.compile(model)(idx)[0], model(idx)[0], atol=1e-5)
