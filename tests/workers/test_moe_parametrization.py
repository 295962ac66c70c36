"""The table's MoE rows: router and expert roles, Complete-muE's active-width multipliers, SP at m = 1."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from api.cli import app
from workers.config import TrialConfig
from workers.models.moe import transfer_mapping
from workers.parametrization import PARAMETRIZATIONS, lookup, resolve_table
from workers.roles import Role

runner = CliRunner()


def _rows(**fields: object) -> dict[str, dict]:
    return {row.name: row.to_dict() for row in resolve_table(TrialConfig(family="moe", **fields), 64)}


def test_every_scheme_has_a_sourced_rule_for_router_and_experts() -> None:
    for parametrization in PARAMETRIZATIONS:
        for role in (Role.ROUTER, Role.EXPERT):
            assert lookup(parametrization, role, "adamw").source


def test_router_is_output_like_and_experts_are_hidden_under_mup() -> None:
    rows = _rows(width=256, base_width=64, lr=1.0, init_std=0.02, moe={"n_experts": 8, "top_k": 2})
    router = rows["blocks.0.mlp.router.weight"]
    assert router["role"] == "router" and router["shape"] == [8, 256]
    assert router["forward_multiplier"] == pytest.approx(1 / 4) and router["lr"] == 1.0  # readout-like
    for name in ("blocks.0.mlp.experts.up.weight", "blocks.0.mlp.experts.down.weight"):
        expert = rows[name]
        assert expert["role"] == "expert"
        assert expert["lr"] == pytest.approx(1 / 4) and expert["init_std"] == pytest.approx(0.02 / 2)


def test_sparse_moe_at_the_dense_active_width_gets_the_dense_ffn_rules() -> None:
    """Complete-muE bridge II: at the dense FFN's active width (top_k · d_expert = mlp_ratio · width) the
    expert rules equal the dense hidden rules whatever n_experts; halving d_expert halves m."""
    dense = {r.name: r for r in resolve_table(TrialConfig(family="gpt", width=128, base_width=64, lr=1.0))}
    fc = dense["blocks.0.mlp.fc.weight"]
    for n_experts, top_k in ((1, 1), (8, 2), (16, 4)):
        rows = _rows(width=128, base_width=64, lr=1.0, moe={"n_experts": n_experts, "top_k": top_k})
        down = rows["blocks.0.mlp.experts.down.weight"]
        assert (down["lr"], down["init_std"]) == pytest.approx((fc.lr, fc.init_std))
    half = _rows(width=128, base_width=64, lr=1.0, moe={"n_experts": 8, "top_k": 2, "d_expert": 128})
    assert half["blocks.0.mlp.experts.down.weight"]["lr"] == pytest.approx(1.0)  # m = 2·128 / (4·64) = 1


@pytest.mark.parametrize("parametrization", ["mup", "completep", "sp-embedding-lr"])
def test_every_scheme_equals_sp_at_the_base_shape(parametrization: str) -> None:
    base = {"width": 64, "base_width": 64, "moe": {"n_experts": 4, "top_k": 1, "shared_expert": True}}
    assert _rows(parametrization=parametrization, **base) == _rows(parametrization="sp", **base)


def test_completep_scales_expert_lr_with_depth() -> None:
    rows = _rows(parametrization="completep", depth=8, base_depth=2, depth_alpha=0.5, lr=1.0)
    assert rows["blocks.0.mlp.experts.up.weight"]["lr"] == pytest.approx(4**-0.5)
    assert rows["blocks.0.mlp.router.weight"]["lr"] == 1.0


def test_cli_parametrization_json_lists_router_and_expert_roles() -> None:
    args = ["parametrization", "--family", "moe", "--width", "128", "--n-experts", "4", "--top-k", "1"]
    result = runner.invoke(app, [*args, "--shared-expert", "--json"])
    assert result.exit_code == 0, result.output
    rows = json.loads(result.stdout)
    assert {"router", "expert"} <= {row["role"] for row in rows}
    assert any(row["name"] == "blocks.1.mlp.shared.down.weight" for row in rows)


def test_cli_parametrization_rejects_a_bad_router_with_exit_2() -> None:
    result = runner.invoke(app, ["parametrization", "--family", "moe", "--router", "relu"])
    assert result.exit_code == 2 and "moe.router 'relu'" in result.output


def test_transfer_mapping_names_the_complete_mue_bridges() -> None:
    dense = transfer_mapping("gpt", {"n_experts": 4, "top_k": 4}, width=128, mlp_ratio=4)
    assert dense["bridge"] == "complete-mue I" and dense["active_width"] == dense["dense_ffn_width"] == 512
    sparse = transfer_mapping("gpt", {"n_experts": 16, "top_k": 2, "d_expert": 128}, width=128, mlp_ratio=4)
    assert sparse["bridge"] == "complete-mue I+II" and sparse["active_width"] == 256
    assert "bridge II" in sparse["text"] and sparse["gate_sum"] == 2.0
    with pytest.raises(ValueError, match="no transfer from a 'gpt' proxy"):
        transfer_mapping("gpt", {"bridge": "none"}, width=128, mlp_ratio=4)
