"""The coordinate check on the MoE family (real text), each parametrization judged by its own predicted
slopes: μP and SP pass their own checks across widths (the routed MLP is a branch like the dense one), μP
is flat in n_experts at a fixed active width, CompleteP is flat in depth.

Small but real settings to stay fast on 2 cores: one block (depth 2 measured at 0.105-0.107 max slope with
two seeds, passing with four), mlp_ratio 2, 4 experts with top_k 2, and the load-balancing loss off
(`expert_count_check` explains why: behind the zero readout its gradient alone drives step 0).
"""

from __future__ import annotations

import json

import pytest
import torch
from typer.testing import CliRunner

from api.cli import app
from workers.config import TrialConfig
from workers.coord_check import coord_check
from workers.moe_coord_check import expert_count_check

torch.set_num_threads(2)
MOE = {"n_experts": 4, "top_k": 2, "aux_loss_weight": 0.0}
WIDTHS = (64, 128, 256, 512)
runner = CliRunner()


def _config(**fields: object) -> TrialConfig:
    return TrialConfig(**{"family": "moe", "width": 64, "depth": 1, "mlp_ratio": 2, "moe": MOE, **fields})


@pytest.mark.parametrize("parametrization", ["mup", "sp"])
def test_moe_passes_its_own_check_across_widths(parametrization: str) -> None:
    result = coord_check(_config(), parametrization, "adamw", widths=WIDTHS, seeds=(0, 1))
    assert result.passed, result.failing
    assert {"blocks.0.mlp", "logits"} <= set(result.modules)
    if parametrization == "mup":
        assert result.predicted["blocks.0.mlp"]["delta_rms"][2:] == [0.0, 0.0]
    else:  # SP's routed branch grows with width, recorded but not judged (its router sharpens, see the table)
        assert result.predicted["blocks.0.mlp"]["rms"] == [None] * 4
        assert result.slopes["blocks.0.mlp"]["rms"][0] > 0.8
        assert result.slopes["blocks.0.mlp"]["delta_rms"][2] > 0.5


def test_mup_moe_is_flat_across_expert_counts_at_fixed_active_width() -> None:
    result = expert_count_check(_config(moe={"top_k": 2}), n_experts=(4, 8, 16))
    assert result["x"] == [4, 8, 16]
    assert result["passed"], result["failing"]
    assert result["predicted"]["blocks.0.mlp"]["delta_rms"][2:] == [0.0, 0.0]


def test_completep_moe_is_flat_across_depths() -> None:
    completep = coord_check(_config(base_depth=2), "completep", "adamw", depths=(2, 4, 8), seeds=(0, 1, 2))
    assert completep.passed, completep.failing
    assert completep.predicted["residual"]["delta_rms"][2:] == [0.0, 0.0]


def test_cli_coord_check_family_moe_reports_predicted_and_measured_slopes() -> None:
    """The command's MoE path: SP passes its own check, and the JSON carries both slopes per module."""
    args = ["coord-check", "--family", "moe", "-p", "sp", "--depth", "1", "--widths", "64,128,256"]
    result = runner.invoke(
        app, [*args, "--n-experts", "4", "--top-k", "2", "--seeds", "0", "--steps", "2", "--json"]
    )
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["passed"] and data["settings"]["family"] == "moe" and "blocks.0.mlp" in data["modules"]
    assert data["predicted"]["logits"]["delta_rms"][1] == 1.0  # SP's readout: width coherent terms
    assert data["slopes"]["logits"]["delta_rms"][1] == pytest.approx(1.0, abs=0.25)
