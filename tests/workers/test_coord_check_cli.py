"""`mutransfer parametrization` and `mutransfer coord-check` as a script or CI job uses them."""

from __future__ import annotations

import json

import torch
from typer.testing import CliRunner

from orchestrator.cli import app

torch.set_num_threads(2)
runner = CliRunner()


def test_parametrization_json_lists_exactly_the_documented_fields() -> None:
    result = runner.invoke(app, ["parametrization", "-p", "mup", "-o", "adamw", "--width", "256", "--json"])
    assert result.exit_code == 0, result.output
    rows = json.loads(result.stdout)
    assert all(
        set(row) == {"name", "shape", "role", "init_std", "forward_multiplier", "lr", "weight_decay"}
        for row in rows
    )
    assert {row["role"] for row in rows} == {"input", "hidden", "output", "vector"}
    hidden = next(row for row in rows if row["name"] == "blocks.0.mlp.fc.weight")
    assert hidden["lr"] == 0.25 and hidden["shape"] == [1024, 256]  # η/m with η = 1, m = 4


def test_parametrization_table_and_depth_options() -> None:
    args = ["parametrization", "-p", "completep", "--width", "128", "--depth", "8", "--base-depth", "2"]
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    assert "blocks.7.attn.q.weight" in result.stdout and "completep + adamw" in result.stdout


def test_parametrization_bad_input_exits_2_with_the_reason() -> None:
    result = runner.invoke(app, ["parametrization", "-p", "u-mup", "-o", "sgd"])
    assert result.exit_code == 2
    assert "defined for optimizers ['adamw', 'adopt']" in result.output


def test_coord_check_exit_status_gates_on_the_verdict(tmp_path) -> None:
    common = ["coord-check", "--family", "mlp", "--widths", "64,128,256", "--json"]
    passed = runner.invoke(app, [*common, "-p", "mup", "--out", str(tmp_path)])
    assert passed.exit_code == 0, passed.output
    verdict = json.loads(passed.stdout)
    assert verdict["passed"] is True and verdict["failing"] == []
    assert set(verdict["slopes"]["logits"]) == {"l1", "rms", "delta_rms"}
    assert (tmp_path / "coord_check.png").exists() and (tmp_path / "coord_check.html").exists()

    failed = runner.invoke(app, [*common, "-p", "sp"])
    assert failed.exit_code == 1
    assert json.loads(failed.stdout)["passed"] is False


def test_coord_check_bad_input_exits_2() -> None:
    result = runner.invoke(app, ["coord-check", "--widths", "64,abc"])
    assert result.exit_code == 2
    assert "comma-separated integers" in result.output
