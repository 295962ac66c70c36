"""bench/transfer.py, the headline measurement, runs its whole procedure (coordinate check, proxy sweep over
seeds, plan, an oracle placed around the widest proxy's optimum, the regret read off fitted curves) and prints
the fields docs/benchmark.md defines; tiny sizes here, the numbers come from `--quick`."""

from __future__ import annotations

import importlib.util
import json
import math
import sys
from pathlib import Path

import numpy as np
import pytest

BENCH = Path(__file__).resolve().parents[2] / "bench" / "transfer.py"
KEYS = {
    "parametrization",
    "seeds",
    "regret_mean",
    "regret_ci",
    "regret_by_seed",
    "noise_floor",
    "compute_fraction_vs_target_run",
    "compute_fraction_vs_direct_sweep",
    "wall_fraction_vs_target_run",
    "lr_transferred",
    "lr_oracle",
    "fit_error_octaves",
    "robustness_exponent",
    "expected_penalty_at_target",
    "asymptotic_penalty",
}

HORIZON_KEYS = {
    "lr_corrected",
    "lr_copied",
    "lr_oracle",
    "lr_width_only_plan",
    "regret_corrected",
    "regret_corrected_ci",
    "regret_corrected_by_seed",
    "regret_copied",
    "regret_copied_ci",
    "regret_copied_by_seed",
    "regret_difference_mean",
    "regret_difference_ci",
    "noise_floor",
    "gamma_horizon",
    "horizon_move",
    "compute_fraction_vs_target_run",
    "correction_pays_off_beyond_noise",
    "correction_verdict",
}


@pytest.fixture(scope="module")
def bench():
    spec = importlib.util.spec_from_file_location("transfer_bench", BENCH)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["transfer_bench"] = module  # the process pool pickles its functions by module name
    spec.loader.exec_module(module)
    module.MODES["quick"] = module.Mode(
        [16, 32, 48], 64, 64, 64, 1, 4, 4, 16, 2.0**-8, 2.0**-5, 3, 16, 2,
        eval_batches=2, proxy_widenings=1, oracle_widenings=1, tokens_target_width=64,
    )  # fmt: skip
    yield module
    sys.modules.pop("transfer_bench", None)


def run(bench, capsys, *args: str) -> dict:
    assert bench.main(["--quick", "--json", "--jobs", "2", *args]) == 0
    return json.loads(capsys.readouterr().out)


def test_width_mode_reports_the_measurement_for_all_three_parametrizations(bench, capsys) -> None:
    report = run(bench, capsys)
    assert {"config", "wall_seconds", "load_average", "all_parametrizations", "results"} <= set(report)
    results = report["results"]
    assert [r["parametrization"] for r in results] == ["mup", "sp", "sp-embedding-lr"]
    for r in results:
        assert KEYS <= set(r), KEYS - set(r)
        assert r["seeds"] == 2 and r["proxy_widths"] == [16, 32, 48] and r["target_width"] == 64
        transferred = [x for x in r["oracle_runs"] if x["kind"] == "transferred"]
        assert len(transferred) == 2
        assert all(x["lr"] == pytest.approx(r["lr_transferred"]) for x in transferred)
        assert len(r["oracle_runs"]) >= 5 * 2 and len(r["proxy_runs"]) >= 3 * 3 * 2
        # the oracle grid is centred on the widest proxy's optimum, set before the transferred LR is read
        grid = sorted({x["lr"] for x in r["oracle_runs"] if x["kind"] == "oracle"})
        assert r["oracle_centre"] == pytest.approx(r["proxy_optima"]["48"])
        assert any(lr == pytest.approx(r["oracle_centre"]) for lr in grid)
        # the grid reading (the old one) is kept: the transferred run over the best point run at the target
        # (the transferred LR itself may be it), by seed
        at_grid = {
            x["seed"]: x["loss"] for x in r["oracle_runs"] if x["lr"] == pytest.approx(r["lr_oracle_grid"])
        }
        grid_regrets = [x["loss"] / at_grid[x["seed"]] - 1 for x in transferred]
        assert r["regret_grid"] == pytest.approx(np.mean(grid_regrets))
        # the regret proper is read off parabolas: one per seed, each over the same window, at the vertex of
        # the seed-mean curve (the oracle's optimum), paired by seed
        if r["regret_method"] == "fitted":
            u_star = math.log2(r["lr_oracle"])
            u_grid = math.log2(r["lr_oracle_grid"])
            assert abs(u_star - u_grid) <= 1.0 + 1e-9
            for x, regret in zip(
                sorted(transferred, key=lambda x: x["seed"]), r["regret_by_seed"], strict=True
            ):
                mine = {}
                for y in r["oracle_runs"]:
                    if y["seed"] == x["seed"] and abs(math.log2(y["lr"]) - u_grid) <= 1.0 + 1e-9:
                        mine.setdefault(math.log2(y["lr"]), []).append(y["loss"])
                us = sorted(mine)
                coef = np.polyfit(us, [np.mean(mine[u]) for u in us], 2)
                inside = us[0] <= math.log2(x["lr"]) <= us[-1]
                at_t = np.polyval(coef, math.log2(x["lr"])) if inside else x["loss"]
                assert regret == pytest.approx(at_t / np.polyval(coef, u_star) - 1, rel=1e-6, abs=1e-9)
        assert r["regret_ci"][0] <= r["regret_mean"] <= r["regret_ci"][1]
        at_oracle = at_grid
        losses = list(at_oracle.values())
        assert r["noise_floor"] == pytest.approx(np.std(losses, ddof=1) / np.mean(losses))
        # TP5's measure: every proxy FLOP (the coordinate check included) over ONE target run
        proxies = sum(x["flops"] for x in r["proxy_runs"]) + sum(x["flops"] for x in r["coord_check_runs"])
        assert r["compute_fraction_vs_target_run"] == pytest.approx(proxies / transferred[0]["flops"])
        assert r["compute_fraction_vs_direct_sweep"] == pytest.approx(
            proxies / sum(x["flops"] for x in r["oracle_runs"])
        )
        assert len(r["coord_check_runs"]) == 1  # every parametrization is preflighted, SP included
        assert r["fit_error_octaves"] is not None and r["fit_error_octaves"] >= 0
    total = report["all_parametrizations"]
    assert total["proxy_flops"] == pytest.approx(sum(r["proxy_flops"] for r in results))


def test_depth_mode_transfers_completep_to_depth_eight(bench, capsys) -> None:
    report = run(bench, capsys, "--vary", "depth", "--parametrizations", "completep", "--seeds", "1")
    (r,) = report["results"]
    assert r["proxy_depths"] == [2, 4] and r["target_depth"] == 8 and r["seeds"] == 1
    assert {x["depth"] for x in r["oracle_runs"]} == {8} and math.isfinite(r["regret_mean"])
    assert r["regret_ci"] is None  # one seed: no interval


def test_tokens_mode_scores_the_horizon_corrected_and_the_width_only_lr_on_one_oracle(bench, capsys) -> None:
    report = run(bench, capsys, "--vary", "tokens")
    assert report["config"]["parametrizations"] == ["mup"]  # μP only by default on this axis
    (r,) = report["results"]
    assert HORIZON_KEYS <= set(r), HORIZON_KEYS - set(r)
    base = 4 * 4 * 16  # steps × batch × context of the tiny mode
    assert r["base_tokens"] == base and r["scan_tokens"] == [2 * base, 4 * base]
    assert r["target_tokens"] == 8 * base and r["target_width"] == 64
    # the width sweep at the base budget at every proxy width, the token scan at the narrowest only
    scan = [x for x in r["proxy_runs"] if x["tokens"] is not None]
    assert {x["tokens"] for x in scan} == {2 * base, 4 * base} and {x["width"] for x in scan} == {16}
    assert {x["width"] for x in r["proxy_runs"] if x["tokens"] is None} == {16, 32, 48}
    assert r["horizon_fit_width"] == 16 and set(r["horizon_optima"]) == {
        f"width 16, {t} tokens" for t in (base, 2 * base, 4 * base)
    }
    targets = r["oracle_runs"]
    assert {x["tokens"] for x in targets} == {8 * base} and {x["width"] for x in targets} == {64}
    # the corrected LR is the width-only one moved by the plan's horizon move, and nothing else
    move = r["horizon_move"]
    assert move is not None and move["axis"] == "horizon" and move["hparam"] == "lr"
    assert move["source"] == base and move["target"] == 8 * base
    assert r["lr_corrected"] == pytest.approx(r["lr_transferred"])
    assert r["lr_corrected"] / r["lr_copied"] == pytest.approx(move["factor"])
    assert r["horizon_move_octaves"] == pytest.approx(math.log2(move["factor"]))
    assert r["lr_copied"] == pytest.approx(r["lr_width_only_plan"])  # the planner without the scan agrees
    # the applied move per doubling; a move whose interval holds 0 is not made (transfer.py)
    assert move["gamma"]["value"] == pytest.approx(math.log2(move["factor"]) / move["octaves"])
    if not move["applied"]:
        assert move["factor"] == 1 and move["move"]["low"] <= 0 <= move["move"]["high"]

    # both regrets are read off the same oracle point, paired by seed, on runs at exactly those LRs
    def at(lr: float) -> dict[int, float]:
        return {x["seed"]: x["loss"] for x in targets if x["lr"] == pytest.approx(lr, rel=1e-9)}

    best, corrected, copied = at(r["lr_oracle"]), at(r["lr_corrected"]), at(r["lr_copied"])
    assert set(best) == set(corrected) == set(copied) == {0, 1}
    assert r["regret_corrected_by_seed"] == pytest.approx([corrected[s] / best[s] - 1 for s in (0, 1)])
    assert r["regret_copied_by_seed"] == pytest.approx([copied[s] / best[s] - 1 for s in (0, 1)])
    assert r["regret_corrected"] == pytest.approx(r["regret_mean"])
    difference = [
        b - a for a, b in zip(r["regret_corrected_by_seed"], r["regret_copied_by_seed"], strict=True)
    ]
    assert r["regret_difference_by_seed"] == pytest.approx(difference)
    low, high = r["regret_difference_ci"]
    assert low <= r["regret_difference_mean"] <= high
    assert r["correction_pays_off_beyond_noise"] == (low > 0)
    assert r["correction_verdict"] in ("pays off", "costs", "within noise")
    # the oracle's grid brackets the copied LR
    assert min(x["lr"] for x in targets) <= r["lr_copied"] <= max(x["lr"] for x in targets)
    # TP5's measure: every proxy FLOP (the scan and the coordinate check included) over ONE target run
    proxies = sum(x["flops"] for x in r["proxy_runs"]) + sum(x["flops"] for x in r["coord_check_runs"])
    transferred = next(x for x in targets if x["kind"] == "transferred")
    assert r["compute_fraction_vs_target_run"] == pytest.approx(proxies / transferred["flops"])
    # a run's FLOPs follow its tokens: the 4× scan costs 4× the base run at the same width
    at_16 = {x["tokens"]: x["flops"] for x in r["proxy_runs"] if x["width"] == 16}
    assert at_16[4 * base] == pytest.approx(4 * at_16[None])


def test_data_runs_the_bench_on_a_text_file_it_never_saw(bench, capsys, tmp_path, monkeypatch) -> None:
    monkeypatch.setenv("MUTRANSFER_DATA_DIR", str(tmp_path / "cache"))
    rng = np.random.default_rng(0)
    words = ["lorem", "ipsum", "dolor", "sit", "amet", "ünïcödé", "λ", "42"]
    text = "\n".join(" ".join(rng.choice(words, size=12)) for _ in range(400))
    corpus = tmp_path / "corpus.txt"
    corpus.write_text(text, encoding="utf-8")
    report = run(bench, capsys, "--data", str(corpus), "--parametrizations", "mup", "--seeds", "1")
    data = report["config"]["data"]
    assert data["vocab_size"] == len(set(text)) == report["config"]["vocab_size"]
    assert Path(data["path"]).is_file() and str(tmp_path) in data["path"]
    (r,) = report["results"]
    assert math.isfinite(r["regret_mean"]) and r["lr_transferred"] is not None


def test_data_reads_a_token_file_with_its_dtype(bench, capsys, tmp_path) -> None:
    tokens = tmp_path / "tokens.bin"
    np.random.default_rng(1).integers(0, 300, size=20_000).astype(np.uint16).tofile(tokens)
    report = run(
        bench,
        capsys,
        "--data",
        str(tokens),
        "--data-dtype",
        "uint16",
        "--parametrizations",
        "sp",
        "--seeds",
        "1",
    )
    assert report["config"]["data"]["vocab_size"] == int(np.fromfile(tokens, dtype=np.uint16).max()) + 1
    assert report["results"][0]["loss_oracle"] is not None


def test_transfer_quality_metrics_recover_known_values() -> None:
    from orchestrator.planner.quality import asymptotic_penalty, expected_penalty, robustness_exponent

    u = np.linspace(-3, 3, 13)
    curves = {float(w): (u + 1.0, 2.0 * (1 + 0.01 * np.abs(u) ** 1.5)) for w in (16, 32, 64)}
    kappa, c, n = robustness_exponent(curves, dict.fromkeys(curves, 1.0))
    assert kappa == pytest.approx(1.5) and c == pytest.approx(0.01) and n > 3
    # E|ε|² = σ² for a Gaussian: the expected penalty of a quadratic basin is c·σ²
    assert expected_penalty(2.0, 0.01, 0.5) == pytest.approx(0.01 * 0.25)
    assert asymptotic_penalty({16: 0.01 + 0.5 / 16, 64: 0.01 + 0.5 / 64}) == pytest.approx(0.01)


def test_export_runs_writes_every_training_run_once_in_the_import_format(bench, capsys, tmp_path) -> None:
    from orchestrator.backtest import run_backtest
    from orchestrator.planner.model_size import params_for
    from orchestrator.run_table import read_runs

    path = tmp_path / "runs" / "bench.csv"  # the folder does not exist yet: the export makes it
    report = run(bench, capsys, "--parametrizations", "mup,sp", "--seeds", "1", "--export-runs", str(path))
    assert report["exported_runs"]["path"] == str(path)
    table = read_runs(path, hps=["lr"])  # raises on a duplicate run, a missing loss or a bad value
    assert table.hps == ["lr"] and {"kind", "status"} <= set(table.ignored_columns)
    results = {r["parametrization"]: r for r in report["results"]}
    # one row per training run: every proxy (widenings included) and every target run, the transferred run
    # (the oracle's centre) once; the coordinate check trains no model to a validation loss
    every = {p: r["proxy_runs"] + r["oracle_runs"] for p, r in results.items()}
    assert len(table.runs) == report["exported_runs"]["rows"] == sum(len(v) for v in every.values())
    model = bench.parse_spec(bench.width_spec(bench.MODES["quick"], "gpt", ["mup"])).model
    base = 4 * 4 * 16  # steps × batch × context of the tiny mode; the target trains on the same budget
    for p, r in results.items():
        mine = [x for x in table.runs if x.parametrization == p]
        assert {x.width for x in mine} == {16, 32, 48, 64}
        assert sorted((x.width, x.hparams["lr"], x.seed) for x in mine) == sorted(
            (x["width"], x["lr"], x["seed"]) for x in every[p]
        )
        target = [x for x in mine if x.width == 64]
        assert len(target) == len(r["oracle_runs"])
        assert sum(x.hparams["lr"] == r["lr_transferred"] for x in target) == 1  # the centre, written once
        assert {(x.tokens, x.batch_size, x.context_length, x.batch_tokens) for x in mine} == {
            (base, 4, 16, 64)
        }
        assert all(x.depth == 1 and x.n_params == params_for(model, x.width, 1) for x in mine)
        losses = {(x["width"], x["lr"]): x["loss"] for x in every[p]}
        for x in mine:  # the final validation loss exactly; a diverged run's is inf, read back as diverged
            loss = losses[(x.width, x.hparams["lr"])]
            assert x.diverged == (loss is None) and (x.diverged or x.loss == loss)
    # the backtest reads it: the target width held out, planned from the proxies alone
    backtest = run_backtest("bench", table.runs, ["lr"], table.axes, "width == 64").to_dict()
    assert {c["parametrization"] for c in backtest["cells"]} == {"mup", "sp"}
    assert backtest["trained_on"] == sum(len(r["proxy_runs"]) for r in results.values())
