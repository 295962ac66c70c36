"""bench/transfer.py, the headline figure, runs its whole procedure (proxy sweep, plan, oracle sweep,
transferred run) and prints the fields issue 5 names; tiny sizes here, the numbers come from `--quick`."""

from __future__ import annotations

import importlib.util
import json
import math
import sys
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parents[2] / "bench" / "transfer.py"
FIELDS = {
    "parametrization",
    "proxy_widths",
    "target_width",
    "lr_transferred",
    "lr_oracle",
    "loss_transferred",
    "loss_oracle",
    "regret",
    "compute_fraction",
}


@pytest.fixture(scope="module")
def bench():
    spec = importlib.util.spec_from_file_location("transfer_bench", BENCH)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["transfer_bench"] = module  # the process pool pickles its functions by module name
    spec.loader.exec_module(module)
    module.MODES["quick"] = module.Mode([16, 32], 64, 64, 64, 1, 4, 4, 16, 2.0**-8, 2.0**-5, 3, 16)
    yield module
    sys.modules.pop("transfer_bench", None)


def run(bench, capsys, *args: str) -> list[dict]:
    assert bench.main(["--quick", "--json", "--jobs", "2", *args]) == 0
    return json.loads(capsys.readouterr().out)


def test_width_mode_reports_regret_and_compute_for_mup_and_sp(bench, capsys) -> None:
    results = run(bench, capsys)
    assert [r["parametrization"] for r in results] == ["mup", "sp"]
    for r in results:
        assert FIELDS | {"regret_copied", "lr_copied"} <= set(r)
        assert r["proxy_widths"] == [16, 32] and r["target_width"] == 64
        assert len(r["oracle_runs"]) == 3 and len(r["proxy_runs"]) == 6
        assert math.isfinite(r["regret"]) and r["regret"] >= -0.5
        assert r["loss_oracle"] == min(run["loss"] for run in r["oracle_runs"])
        flops = sum(x["flops"] for x in r["proxy_runs"]) / sum(x["flops"] for x in r["oracle_runs"])
        assert r["compute_fraction"] == pytest.approx(flops) and 0 < flops < 1
        # SP makes no width promise, so its LR always follows the fitted line; μP keeps γ = 0 unless refuted
        allowed = {"invariant", "power_law"} if r["parametrization"] == "mup" else {"power_law"}
        assert r["transfer_model"] in allowed


def test_depth_mode_transfers_completep_to_depth_eight(bench, capsys) -> None:
    results = run(bench, capsys, "--vary", "depth", "--parametrizations", "completep")
    (r,) = results
    assert r["proxy_depths"] == [2, 4] and r["target_depth"] == 8
    assert {x["depth"] for x in r["oracle_runs"]} == {8} and math.isfinite(r["regret"])
