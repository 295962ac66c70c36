"""`mutransfer import`, `backtest` and `export --runs` on a real database, with files the tests write."""

from __future__ import annotations

import json
import math
from pathlib import Path

from support.runs import ladder, write_csv
from typer.testing import CliRunner

from api.cli import app

runner = CliRunner()


def test_import_prints_the_plan_and_backtest_scores_the_held_out_width(tmp_path: Path) -> None:
    db = f"sqlite:///{tmp_path / 'mt.db'}"
    path = write_csv(ladder((32, 64, 128, 256), seeds=(0, 1)), tmp_path / "runs.csv")
    done = runner.invoke(
        app, ["import", str(path), "--project", "vision", "--target", "width=1024", "--database-url", db]
    )
    assert done.exit_code == 0, done.output
    assert "imported study 1 (runs.csv, project vision): 72 runs" in done.output
    assert "transfer plan v1" in done.output and "mup" in done.output

    stored = runner.invoke(
        app, ["backtest", "1", "--hold-out", "width == 256", "--json", "--database-url", db]
    )
    assert stored.exit_code == 0, stored.output
    result = json.loads(stored.output)
    assert result["summary"]["cells"] == 1 and result["cells"][0]["covered"] == {"lr": True}

    direct = runner.invoke(app, ["backtest", str(path), "--hold-out", "width == 256", "--json"])
    assert json.loads(direct.output)["cells"] == result["cells"]  # a file back-tests as its stored study

    table = runner.invoke(app, ["backtest", str(path), "--hold-out", "width >= 128"])
    assert table.exit_code == 0 and "median regret" in table.output and "width=128" in table.output

    out = tmp_path / "again.csv"
    exported = runner.invoke(app, ["export", "1", "--runs", str(out), "--database-url", db])
    assert exported.exit_code == 0 and "wrote 72 runs" in exported.output
    assert sum(line.endswith(",inf") for line in out.read_text().splitlines()) == sum(
        math.isinf(r["loss"]) for r in ladder((32, 64, 128, 256), seeds=(0, 1))
    )


def test_a_bad_file_a_bad_condition_and_a_renamed_export_each_say_what_to_fix(tmp_path: Path) -> None:
    db = f"sqlite:///{tmp_path / 'mt.db'}"
    bad = tmp_path / "bad.csv"
    bad.write_text("width,lr,loss\n32,0.01,\n64,x,2.5\n")
    result = runner.invoke(app, ["import", str(bad), "--database-url", db])
    assert result.exit_code == 1
    assert "line 2, column 'loss'" in result.output and "line 3, column 'lr'" in result.output

    good = write_csv(ladder((32, 64)), tmp_path / "good.csv")
    result = runner.invoke(app, ["backtest", str(good), "--hold-out", "width === 64"])
    assert result.exit_code == 1 and "not a condition" in result.output
    assert runner.invoke(app, ["backtest", "nope", "--hold-out", "width == 64"]).exit_code == 2

    # another tool's names: mapped with --columns, a missing column given with --set
    renamed = tmp_path / "wandb.csv"
    text = good.read_text().replace("width,", "d_model,", 1).replace(",loss", ",val/loss", 1)
    renamed.write_text(text)
    result = runner.invoke(
        app,
        [
            "import",
            str(renamed),
            "--columns",
            "width=d_model,loss=val/loss",
            "--set",
            "weight_decay=0.1",
            "--database-url",
            db,
        ],
    )
    assert result.exit_code == 0, result.output
    assert "imported study 1" in result.output and "ignored columns: weight_decay" in result.output
    clash = runner.invoke(app, ["import", str(good), "--set", "seed=3", "--database-url", db])
    assert clash.exit_code == 1 and "a constant would overwrite it" in clash.output
