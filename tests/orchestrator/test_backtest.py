"""The backtest (orchestrator/backtest.py) on studies drawn from a loss model the planner does not assume
(support/runs.py: an asymmetric loss curve, Student-t noise, a drift that levels off), where the held-out
cell's true optimum is known."""

from __future__ import annotations

import math

import numpy as np
import pytest
from support.runs import csv_text, ladder
from support.synthetic import Surface, grid_trials, make_spec

from orchestrator.backtest import BacktestError, run_backtest
from orchestrator.importing import backtest_study
from orchestrator.run_table import parse_runs
from orchestrator.store import SweepStore
from orchestrator.store.models import Trial


def backtest(rows: list[dict], hold_out: str, **kwargs: object):
    parsed = parse_runs(csv_text(rows), format="csv", **kwargs)
    return run_backtest("study", parsed.runs, parsed.hps, parsed.axes, hold_out)


def test_an_invariant_optimum_is_predicted_at_the_held_out_width() -> None:
    result = backtest(ladder((32, 64, 128, 256), seeds=(0, 1)), "width == 256")
    (cell,) = result.cells
    assert cell.cell["width"] == 256 and cell.runs == 18
    assert abs(math.log2(cell.observed_optimum["lr"]) - (-7.0)) < 0.35  # the cell's own fit finds the truth
    assert cell.covered == {"lr": True}
    assert cell.regret_method == "parabola" and not cell.regret_is_lower_bound
    assert 0 <= cell.regret < 0.005
    summary = result.summary()
    assert summary["coverage"] == 1.0 and summary["cells"] == 1 and summary["median_regret"] == cell.regret


def test_an_optimum_that_jumps_at_the_held_out_width_is_a_miss_with_its_cost() -> None:
    rows = ladder((32, 64, 128, 256), seeds=(0, 1), lrs=11)
    jumped = ladder((256,), seeds=(0, 1), lrs=11, rng_seed=1)
    for row in jumped:  # the widest width's optimum is 1.5 octaves lower than the ladder's
        row["lr"] = row["lr"] * 2**-1.5
    rows = [r for r in rows if r["width"] != 256] + jumped
    (cell,) = backtest(rows, "width == 256").cells
    assert cell.covered == {"lr": False}
    assert abs(math.log2(cell.observed_optimum["lr"]) - (-8.5)) < 0.35
    assert cell.regret > 0.01  # 1.5 octaves off on this curve costs several percent


def test_a_prediction_outside_the_cell_s_range_reads_a_lower_bound() -> None:
    rows = ladder((32, 64, 128, 256), lrs=11)
    rows = [r for r in rows if r["width"] != 256 or math.log2(r["lr"]) <= -7.9]  # the cell stops below
    (cell,) = backtest(rows, "width == 256").cells
    assert cell.regret_is_lower_bound and cell.regret_method == "interpolated"
    assert result_json_keys(cell.to_dict())


def result_json_keys(cell: dict) -> bool:
    return {
        "cell",
        "predicted",
        "observed_optimum",
        "regret",
        "covered",
        "predicted_loss",
        "best_loss",
    } <= set(cell)


def test_two_swept_hps_are_scored_on_the_cell_s_loss_surface() -> None:
    rng = np.random.default_rng(3)
    rows = []
    for width in (32, 64, 128, 256):
        for i in range(7):
            for j in range(5):
                u, b = -9.0 + 0.5 * i, 3 + j  # log2 lr, log2 batch
                du, db = u + 7.0 - 0.5 * (b - 5), b - 5  # a tilted valley: larger batches want larger lr
                loss = 2.0 + 40 * (12 * width * width) ** -0.3 + 0.03 * du**2 + 0.02 * db**2
                rows.append(
                    {
                        "width": width,
                        "depth": 2,
                        "lr": 2**u,
                        "batch_size": 2**b,
                        "loss": loss + rng.normal(0, 0.002),
                    }
                )
    result = backtest(rows, "width == 256", hps=["lr", "batch_size"])
    (cell,) = result.cells
    assert cell.regret_method == "surface"
    assert abs(math.log2(cell.observed_optimum["batch_size"]) - 5) < 0.3
    assert abs(math.log2(cell.observed_optimum["lr"]) - (-7)) < 0.3
    assert set(cell.covered) == {"lr", "batch_size"} and 0 <= cell.regret < 0.01


def test_nothing_held_out_or_nothing_left_is_refused() -> None:
    rows = ladder((32, 64))
    with pytest.raises(BacktestError, match="matches no run"):
        backtest(rows, "width == 4096")
    with pytest.raises(BacktestError, match="nothing is left"):
        backtest(rows, "width > 0")


MUP = Surface(u0=-8.0, noise=0.01)


def test_a_trained_sweep_is_back_tested_from_its_own_trials(store: SweepStore) -> None:
    spec = make_spec([32, 64, 128, 256], 1024, seeds=2)
    sweep = store.create_sweep(spec)
    with store.session() as session:
        for i, t in enumerate(grid_trials(spec, {"mup": MUP}, np.random.default_rng(0))):
            session.add(
                Trial(
                    sweep_id=sweep.id,
                    trial_key=f"mup-w{t.width}-d{t.depth}-i{i}-s{t.seed}",
                    parametrization=t.parametrization,
                    width=t.width,
                    depth=t.depth,
                    seed=t.seed,
                    hparams=t.hparams,
                    status=t.status,
                    final_val_loss=None if t.is_diverged else t.final_loss,
                    diverged=t.is_diverged,
                    steps_done=200,
                )
            )
    result = backtest_study(store, sweep.id, "width == 256")
    (cell,) = result.cells
    assert cell.cell["width"] == 256 and cell.covered == {"lr": True}
    assert abs(math.log2(cell.predicted["lr"]["value"]) - MUP.u0) < 0.3
