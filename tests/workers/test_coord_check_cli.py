"""`mutransfer parametrization` and `mutransfer coord-check` as a script or CI job uses them."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import pytest
import torch
from support.external import ENTRYPOINT, write_decoder
from typer.testing import CliRunner

from api.cli import app
from workers.parametrization import table
from workers.roles import Role

torch.set_num_threads(2)
runner = CliRunner()


def test_parametrization_json_lists_exactly_the_documented_fields() -> None:
    result = runner.invoke(app, ["parametrization", "-p", "mup", "-o", "adamw", "--width", "256", "--json"])
    assert result.exit_code == 0, result.output
    rows = json.loads(result.stdout)
    assert all(
        set(row)
        == {
            "name",
            "shape",
            "role",
            "init_std",
            "forward_multiplier",
            "lr",
            "weight_decay",
            "applied_as",
            "role_source",
        }
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


def test_coord_check_json_carries_predicted_and_measured_slopes_per_module(tmp_path) -> None:
    args = [
        "coord-check",
        "-p",
        "sp",
        "--depth",
        "1",
        "--widths",
        "64,128,256",
        "--json",
        "--out",
        str(tmp_path),
    ]
    passed = runner.invoke(app, args)
    assert passed.exit_code == 0, passed.output  # SP passes its own check: its growth is what SP predicts
    verdict = json.loads(passed.stdout)
    assert verdict["passed"] is True and verdict["failing"] == []
    assert (
        set(verdict["slopes"]["logits"]) == set(verdict["predicted"]["logits"]) == {"l1", "rms", "delta_rms"}
    )
    assert verdict["predicted"]["blocks.0.mlp"]["rms"][0] == 1.0
    assert verdict["slopes"]["blocks.0.mlp"]["rms"][0] == pytest.approx(1.0, abs=0.25)
    assert (tmp_path / "coord_check.png").exists() and (tmp_path / "coord_check.html").exists()


def test_coord_check_exits_1_on_a_broken_rule_and_its_table_names_the_prediction(monkeypatch) -> None:
    """μP whose hidden LR is not divided by m: the table shows predicted 0 beside the measured growth."""
    found = table.lookup("mup", Role.HIDDEN, "adamw")
    rows = tuple(replace(row, lr=table.one) if row is found else row for row in table.RULES)
    monkeypatch.setattr(table, "RULES", rows)
    failed = runner.invoke(app, ["coord-check", "-p", "mup", "--depth", "1", "--widths", "64,128,256"])
    assert failed.exit_code == 1, failed.output
    line = next(row for row in failed.stdout.splitlines() if "blocks.0.mlp" in row and "delta_rms" in row)
    assert "· · +0.00 +0.00" in line and "FAIL" in line
    assert "predicted" in failed.stdout and "FAIL (" in failed.stdout


def test_coord_check_bad_input_exits_2() -> None:
    result = runner.invoke(app, ["coord-check", "--widths", "64,abc"])
    assert result.exit_code == 2
    assert "comma-separated integers" in result.output


def test_your_own_model_through_the_cli_before_any_upload(tmp_path: Path) -> None:
    code = str(write_decoder(tmp_path / "user"))
    listed = runner.invoke(
        app, ["parametrization", "--entrypoint", ENTRYPOINT, "--code", code, "--width", "128", "--json"]
    )
    assert listed.exit_code == 0, listed.output
    rows = json.loads(listed.stdout)
    assert rows and all(row["role"] in ("input", "hidden", "output", "vector") for row in rows)
    assert {row["name"] for row in rows} >= {"token.weight", "blocks.0.qkv.weight", "norm.weight"}
    assert "lm_head: output × 0.5 by a forward hook" in listed.stderr  # the tied readout's α_out/m, m = 2

    checked = runner.invoke(app, ["coord-check", "--entrypoint", ENTRYPOINT, "--code", code, "-p", "mup"])
    assert checked.exit_code == 0, checked.output
    assert "PASS" in checked.stdout

    missing = runner.invoke(app, ["parametrization", "--entrypoint", "tinydec.gone:build", "--code", code])
    assert missing.exit_code == 2 and "module 'tinydec.gone' not found" in missing.stderr
