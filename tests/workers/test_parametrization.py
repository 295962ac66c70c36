"""The parametrization table against the papers: SP at m = 1, the TP5 table at 2×, 4×, 8×, weight decay
modes, depth rules, and the optimizer groups the training loop relies on."""

from __future__ import annotations

import math
from dataclasses import replace

import pytest
import torch

from workers.config import TrialConfig
from workers.parametrization import build_model, build_optimizer, resolve_table
from workers.parametrization.table import attention_scale, residual_multiplier

torch.set_num_threads(1)

OPTIMIZERS = ("adamw", "sgd", "muon", "lamb", "adopt")
BASE = TrialConfig(width=64, base_width=64, depth=2, base_depth=2, lr=0.01, init_std=0.02, alpha_out=2.0)


def by_name(config: TrialConfig) -> dict:
    return {row.name: row for row in resolve_table(config)}


@pytest.mark.parametrize("family", ["gpt", "mlp"])
def test_roles_are_exactly_input_hidden_output_vector(family: str) -> None:
    roles = {row.role for row in resolve_table(replace(BASE, family=family))}
    expected = {"input", "hidden", "output", "vector"} if family == "gpt" else {"input", "hidden", "output"}
    assert roles == expected


@pytest.mark.parametrize("parametrization", ["mup", "sp-embedding-lr", "completep"])
@pytest.mark.parametrize("optimizer", OPTIMIZERS)
def test_every_scheme_equals_sp_at_the_base_width_and_depth(parametrization: str, optimizer: str) -> None:
    sp = by_name(replace(BASE, parametrization="sp", optimizer=optimizer))
    other = by_name(replace(BASE, parametrization=parametrization, optimizer=optimizer))
    assert sp.keys() == other.keys()
    for name, row in other.items():
        assert (row.init_std, row.lr, row.forward_multiplier) == pytest.approx(
            (sp[name].init_std, sp[name].lr, sp[name].forward_multiplier), rel=1e-12
        ), name
    assert attention_scale(parametrization, 16, 16, 1.5) == pytest.approx(attention_scale("sp", 16, 16, 1.5))
    assert residual_multiplier(parametrization, 1.0, 1.0) == residual_multiplier("sp", 1.0, 1.0) == 1.0


def test_mup_at_the_base_width_builds_the_same_weights_as_sp() -> None:
    sp = build_model(replace(BASE, parametrization="sp"), 256)
    mup = build_model(replace(BASE, parametrization="mup"), 256)
    for (name, a), (_, b) in zip(sp.named_parameters(), mup.named_parameters(), strict=True):
        assert torch.equal(a, b), name


# TP5 (Yang et al. 2022) Table 8 with microsoft/mup's MuAdam/MuSGD, written out per role as functions of m:
# (init std / σ, LR / η, forward multiplier / α) — typed from the paper, not computed by the code under test.
TP5 = {
    "adamw": {
        "input": (lambda m: 1.0, lambda m: 1.0, lambda m: 1.0),
        "hidden": (lambda m: m**-0.5, lambda m: 1.0 / m, lambda m: 1.0),
        "output": (lambda m: 1.0, lambda m: 1.0, lambda m: 1.0 / m),
        "vector": (None, lambda m: 1.0, lambda m: 1.0),
    },
    "sgd": {
        "input": (lambda m: 1.0, lambda m: m, lambda m: 1.0),
        "hidden": (lambda m: m**-0.5, lambda m: 1.0, lambda m: 1.0),
        "output": (lambda m: 1.0, lambda m: m, lambda m: 1.0 / m),
        "vector": (None, lambda m: m, lambda m: 1.0),
    },
}


@pytest.mark.parametrize("optimizer", ["adamw", "sgd"])
@pytest.mark.parametrize("m", [2, 4, 8])
def test_mup_matches_the_tp5_table_for_every_role(optimizer: str, m: int) -> None:
    config = replace(BASE, parametrization="mup", optimizer=optimizer, width=64 * m, alpha_in=3.0)
    rows = resolve_table(config)
    assert {row.role for row in rows} == set(TP5[optimizer])
    for row in rows:
        init, lr, forward = TP5[optimizer][row.role]
        assert row.lr == pytest.approx(config.lr * lr(m)), row.name
        alpha = {"input": config.alpha_in, "output": config.alpha_out}.get(row.role, 1.0)
        assert row.forward_multiplier == pytest.approx(alpha * forward(m)), row.name
        if init is None:  # norm gains and biases: constant init (1 and 0) at every width
            assert row.init_std == 0.0
        else:
            assert row.init_std == pytest.approx(config.init_std * init(m)), row.name


def test_mup_attention_uses_one_over_head_dim_when_heads_are_fixed() -> None:
    # n_heads fixed: head_dim grows with width, so μP's 1/d_head differs from SP's 1/√d_head (TP5 §4).
    base_head, head = 64 // 4, 512 // 4
    assert attention_scale("mup", head, base_head, 1.0) == pytest.approx(math.sqrt(base_head) / head)
    assert attention_scale("sp", head, base_head, 1.0) == pytest.approx(1 / math.sqrt(head))
    model = build_model(replace(BASE, parametrization="mup", width=512, n_heads=4), 256)
    assert model.blocks[0].attn.scale == pytest.approx(math.sqrt(base_head) / head)


def test_tied_embedding_keeps_one_parameter_with_the_input_rule_and_a_readout_multiplier() -> None:
    # microsoft/mup #55: rescaling a tied readout must not grow the shared init.
    config = replace(BASE, parametrization="mup", width=512, tied_embeddings=True)
    rows = by_name(config)
    assert "readout.weight" not in rows
    assert rows["embedding.token.weight"].role == "input"
    assert rows["embedding.token.weight"].init_std == pytest.approx(config.init_std)
    model = build_model(config, 256)
    assert model.readout.weight is model.embedding.token.weight
    assert model.readout.multiplier == pytest.approx(config.alpha_out / 8)
    assert model.embedding.token.weight.std().item() == pytest.approx(config.init_std, rel=0.05)


@pytest.mark.parametrize("alpha", [1.0, 0.5])
def test_completep_scales_residual_branches_hidden_lr_and_eps_with_depth(alpha: float) -> None:
    # Dey et al. 2025: branch × (L/L_base)^-α, hidden/vector LR × m_L^(α−1), hidden Adam ε × m^-1·m_L^-α.
    config = replace(BASE, parametrization="completep", width=128, depth=8, depth_alpha=alpha)
    m, m_depth = 2.0, 4.0
    rows = by_name(config)
    mup = by_name(replace(config, parametrization="mup"))
    assert rows["blocks.0.attn.q.weight"].lr == pytest.approx(
        mup["blocks.0.attn.q.weight"].lr * m_depth ** (alpha - 1)
    )
    assert rows["ln_f.weight"].lr == pytest.approx(config.lr * m_depth ** (alpha - 1))
    assert rows["embedding.token.weight"].lr == mup["embedding.token.weight"].lr
    model = build_model(config, 256)
    assert model.blocks[3].residual_multiplier == pytest.approx(m_depth**-alpha)
    eps = {g["role"]: g["eps"] for g in build_optimizer(model, config).param_groups}
    assert eps["hidden"] == pytest.approx(config.eps / (m * m_depth**alpha))
    assert eps["input"] == config.eps


@pytest.mark.parametrize("optimizer", ["adamw", "sgd"])
def test_weight_decay_modes_fix_the_per_step_decay_they_promise(optimizer: str) -> None:
    wd, m = 0.1, 4
    base = replace(BASE, parametrization="mup", optimizer=optimizer, width=64 * m, weight_decay=wd)
    at_base = {row.name: row for row in resolve_table(replace(base, width=64))}
    for mode in ("standard", "independent", "width_scaled"):
        for row in resolve_table(replace(base, weight_decay_mode=mode)):
            decay = row.lr * row.weight_decay  # torch: p ← p − lr·wd·p per step
            if row.role == "vector":
                assert row.weight_decay == 0.0
            elif mode == "standard":  # MuAdam / MuSGD: lr·wd keeps its value at the base width
                assert decay == pytest.approx(at_base[row.name].lr * wd), row.name
            elif mode == "independent":
                assert decay == pytest.approx(wd), row.name
            else:
                assert decay == pytest.approx(wd / m), row.name


def test_sp_standard_weight_decay_is_plain_torch() -> None:
    rows = resolve_table(replace(BASE, parametrization="sp", width=512, weight_decay=0.1))
    assert {row.weight_decay for row in rows if row.role != "vector"} == {0.1}


@pytest.mark.parametrize("optimizer", OPTIMIZERS)
def test_every_group_carries_base_lr_and_every_parameter_is_in_exactly_one_group(optimizer: str) -> None:
    config = replace(BASE, parametrization="mup", optimizer=optimizer, width=128, weight_decay=0.1)
    model = build_model(config, 256)
    optimizer_ = build_optimizer(model, config)
    rows = by_name(config)
    seen = []
    for group in optimizer_.param_groups:
        assert group["base_lr"] == group["lr"]
        for name in group["names"]:
            assert rows[name].lr == pytest.approx(group["base_lr"])
            assert rows[name].weight_decay == pytest.approx(group["weight_decay"])
        seen += [id(p) for p in group["params"]]
    assert sorted(seen) == sorted(id(p) for p in model.parameters())
    muon_roles = {g["role"] for g in optimizer_.param_groups if g.get("use_muon")}
    assert muon_roles == ({"hidden"} if optimizer == "muon" else set())


def test_a_schedule_that_scales_base_lr_keeps_the_per_group_ratios() -> None:
    config = replace(BASE, parametrization="mup", width=256)
    optimizer = build_optimizer(build_model(config, 256), config)
    for group in optimizer.param_groups:
        group["lr"] = group["base_lr"] * 0.3
    lrs = {g["role"]: g["lr"] for g in optimizer.param_groups}
    assert lrs["hidden"] / lrs["input"] == pytest.approx(1 / 4)


def test_u_mup_is_unit_initialized_and_scaled_in_the_forward_pass() -> None:
    rows = by_name(replace(BASE, parametrization="u-mup", width=256))
    assert rows["blocks.0.attn.q.weight"].init_std == 1.0
    assert rows["blocks.0.attn.q.weight"].forward_multiplier == pytest.approx(256**-0.5)
    assert rows["blocks.0.mlp.proj.weight"].forward_multiplier == pytest.approx(1024**-0.5)
    assert rows["readout.weight"].forward_multiplier == pytest.approx(BASE.alpha_out / 256)
    assert rows["embedding.token.weight"].lr == pytest.approx(BASE.lr / 16)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"parametrization": "mu-p"}, "unknown parametrization 'mu-p'"),
        ({"optimizer": "adam"}, "unknown optimizer 'adam'"),
        ({"parametrization": "u-mup", "optimizer": "sgd"}, "defined for optimizers ['adamw', 'adopt']"),
        ({"lr": float("nan")}, "lr must be a finite number > 0"),
        ({"init_std": float("inf")}, "init_std must be finite"),
        ({"width": 100}, "not a multiple of head_dim 16"),
        ({"weight_decay_mode": "decoupled"}, "weight_decay_mode 'decoupled'"),
        (
            {"tied_embeddings": True, "readout_zero_init": True},
            "readout_zero_init needs tied_embeddings=False",
        ),
    ],
)
def test_bad_configs_say_what_to_fix(change: dict, message: str) -> None:
    with pytest.raises(ValueError) as excinfo:
        resolve_table(replace(BASE, **change))
    assert message in str(excinfo.value)


def test_resolving_a_target_width_table_allocates_nothing() -> None:
    rows = resolve_table(replace(BASE, parametrization="mup", width=16384, depth=48))
    assert by_name(replace(BASE, width=16384, depth=48))["blocks.47.mlp.fc.weight"].shape == [65536, 16384]
    assert len(rows) == 2 + 48 * 10 + 2 + 1
