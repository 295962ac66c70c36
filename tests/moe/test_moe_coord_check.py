"""The coordinate check on the MoE family (real text): μP is flat in width and in n_experts at a fixed
active width, SP is not flat in width; CompleteP is flat in depth where μP's residual stream grows.

Small but real settings to stay fast on 2 cores: one block (depth 2 measured at 0.105-0.107 max slope with
two seeds, passing with four), mlp_ratio 2, 4 experts with top_k 2, and the load-balancing loss off
(`expert_count_check` explains why: behind the zero readout its gradient alone drives step 0).
"""

from __future__ import annotations

import json

import torch
from typer.testing import CliRunner

from orchestrator.cli import app
from workers.config import TrialConfig
from workers.coord_check import coord_check
from workers.moe_coord_check import expert_count_check

torch.set_num_threads(2)
MOE = {"n_experts": 4, "top_k": 2, "aux_loss_weight": 0.0}
WIDTHS = (64, 128, 256, 512)
runner = CliRunner()


def _config(**fields: object) -> TrialConfig:
    return TrialConfig(**{"family": "moe", "width": 64, "depth": 1, "mlp_ratio": 2, "moe": MOE, **fields})


def test_mup_moe_is_flat_across_widths_and_sp_is_not() -> None:
    mup = coord_check(_config(), "mup", "adamw", widths=WIDTHS, seeds=(0, 1))
    assert mup.passed, mup.failing
    assert {"blocks.0.mlp", "logits"} <= set(mup.modules)
    sp = coord_check(_config(), "sp", "adamw", widths=WIDTHS, seeds=(0,), steps=2)
    assert not sp.passed
    assert sp.slopes["blocks.0.mlp"]["delta_rms"][2] > 0.5  # SP's expert updates grow with width


def test_mup_moe_is_flat_across_expert_counts_at_fixed_active_width() -> None:
    result = expert_count_check(_config(moe={"top_k": 2}), n_experts=(4, 8, 16))
    assert result["x"] == [4, 8, 16]
    assert result["passed"], result["failing"]


def test_completep_moe_is_flat_across_depths_where_mup_grows() -> None:
    config = _config(base_depth=2)
    completep = coord_check(config, "completep", "adamw", depths=(2, 4, 8), seeds=(0, 1, 2))
    assert completep.passed, completep.failing
    mup = coord_check(config, "mup", "adamw", depths=(2, 4, 8), seeds=(0,))
    assert mup.slopes["residual"]["delta_rms"][3] > 0.5  # L un-scaled branch updates add up


def test_cli_coord_check_family_moe_reports_json_and_exits_1_under_sp() -> None:
    """The command's MoE path (μP passing is the width test above, on the same function): SP fails fast."""
    args = ["coord-check", "--family", "moe", "-p", "sp", "--depth", "1", "--widths", "64,128,256"]
    result = runner.invoke(
        app, [*args, "--n-experts", "4", "--top-k", "2", "--seeds", "0", "--steps", "2", "--json"]
    )
    assert result.exit_code == 1, result.output
    data = json.loads(result.stdout)
    assert not data["passed"] and data["settings"]["family"] == "moe" and "blocks.0.mlp" in data["modules"]
