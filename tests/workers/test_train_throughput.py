"""bench/throughput.py runs the real training step on both models and reports comparable numbers."""

from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path

import pytest
import torch

from workers.config import TrialConfig

BENCH = Path(__file__).resolve().parents[2] / "bench" / "throughput.py"


@pytest.fixture(scope="module")
def bench():
    spec = importlib.util.spec_from_file_location("throughput_bench", BENCH)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # its dataclasses look their module up while being defined
    spec.loader.exec_module(module)
    return module


def test_plain_model_is_the_same_architecture_as_the_mup_gpt(bench) -> None:
    config = TrialConfig(width=64, depth=2, head_dim=16, context_length=32, tokenizer="char")
    mup, plain = bench.build_contenders(config, vocab_size=100, device=torch.device("cpu"))
    assert [tuple(p.shape) for p in mup.model.parameters()] == [
        tuple(p.shape) for p in plain.model.parameters()
    ]
    idx = torch.randint(0, 100, (2, 32))
    assert plain.model(idx, idx)[0].shape == mup.model(idx, idx)[0].shape == (2, 32, 100)


def test_quick_benchmark_reports_tokens_per_second_and_ratio(
    bench, capsys: pytest.CaptureFixture[str]
) -> None:
    argv = (
        "--json --widths 32,64 --context 16 --batch-size 4 --steps 2 --repeats 2 --warmup 1 --no-coord-check"
    )
    report = bench.main([*argv.split(), "--device", "cpu", "--clock", "cpu"])
    assert json.loads(capsys.readouterr().out) == json.loads(json.dumps(report))
    assert [row["width"] for row in report["widths"]] == [32, 64]
    for row in report["widths"]:
        assert row["mup_tokens_per_s"] > 0 and row["plain_tokens_per_s"] > 0
        assert row["ratio_min"] <= row["ratio"] <= row["ratio_max"]  # the median of per-repeat paired ratios
    assert report["coord_check"] is None


def test_widths_must_fit_the_head_dim(bench) -> None:
    with pytest.raises(SystemExit):
        bench.parse_args(["--widths", "40", "--head-dim", "16"])
