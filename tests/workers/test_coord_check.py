"""The coordinate check on real text, each parametrization judged by its own predicted slopes: every
parametrization and optimizer the table defines passes its own check over widths 64..512, CompleteP over
depths 2..8, and a deliberately broken rule fails, naming the module and the slope its parametrization
predicts.

Each check trains 4 widths (or 3 depths) for 3 steps; results are cached so that every assertion about one
configuration shares one run (broken-rule runs are not cached: they patch the table).
"""

from __future__ import annotations

import json
import math
from dataclasses import replace
from functools import cache

import pytest
import torch

from workers.config import TrialConfig
from workers.coord_check import CoordCheckReport, coord_check, judge, slope
from workers.coord_plot import save_artifacts
from workers.parametrization import table
from workers.roles import Role

torch.set_num_threads(2)

WIDTHS = (64, 128, 256, 512)
# Muon's Newton–Schulz on the 4·width MLP matrices dominates CPU time: one block, MLP ratio 1.
SMALLER = {"muon": {"depth": 1, "mlp_ratio": 1}}


def defined(parametrization: str, optimizer: str) -> bool:
    """Whether the table has rules for this pair (u-μP is defined for the Adam family only)."""
    try:
        table.lookup(parametrization, Role.HIDDEN, optimizer)
    except ValueError:
        return False
    return True


PAIRS = [(s, o) for s in table.PARAMETRIZATIONS for o in table.OPTIMIZERS if defined(s, o)]


@cache
def check(parametrization: str, optimizer: str) -> CoordCheckReport:
    return coord_check(TrialConfig(**SMALLER.get(optimizer, {})), parametrization, optimizer, widths=WIDTHS)


def judged(result: CoordCheckReport) -> list[tuple[str, str, int, float, float | None]]:
    """(module, stat, step, predicted, measured) of every slope the verdict reads."""
    return [
        (module, stat, k, expected, result.slopes[module][stat][k])
        for module, per in result.predicted.items()
        for stat, by_step in per.items()
        for k, expected in enumerate(by_step)
        if expected is not None
    ]


def test_slope_is_the_log_log_exponent() -> None:
    assert slope([64, 128, 256], [1.0, 2.0, 4.0]) == pytest.approx(1.0)
    assert slope([64, 128, 256], [3.0, 3.0, 3.0]) == pytest.approx(0.0, abs=1e-12)
    assert slope([64, 128], [1.0, math.nan]) is None


def test_a_jump_at_the_widest_width_fails_its_doubling_though_the_ladder_fit_passes() -> None:
    """0/0/0/+0.4: the least-squares line over 64..512 is +0.12 (inside ±0.15), the last doubling +0.4
    (outside 2 × 0.15): it fails there, and says between which widths."""
    x = [64, 128, 256, 512]
    stats = {"blocks.0.mlp": {"rms": [[1.0, 1.0, 1.0, 2**0.4]]}}
    slopes, failing = judge(x, stats, {"blocks.0.mlp": {"rms": [0.0]}}, 0.15)
    assert slopes["blocks.0.mlp"]["rms"][0] == pytest.approx(0.12, abs=0.005)
    assert len(failing) == 1 and failing[0]["between"] == [256, 512]
    assert failing[0]["measured"] == pytest.approx(0.4) and failing[0]["tolerance"] == pytest.approx(0.3)
    flat = {"blocks.0.mlp": {"rms": [[1.0, 2**0.1, 2**0.05, 2**0.15]]}}  # noise within the doubling tolerance
    assert judge(x, flat, {"blocks.0.mlp": {"rms": [0.0]}}, 0.15)[1] == []


@pytest.mark.parametrize(("parametrization", "optimizer"), PAIRS)
def test_every_scheme_passes_its_own_check(parametrization: str, optimizer: str) -> None:
    result = check(parametrization, optimizer)
    assert result.passed, result.failing
    judged_modules = {module for module, *_ in judged(result)}
    assert {"embedding", "blocks.0.mlp", "ln_f", "logits"} <= judged_modules
    assert result.widths == list(WIDTHS) and result.steps == [0, 1, 2, 3]
    assert result.predicted.keys() == result.slopes.keys()


def test_each_scheme_is_judged_by_its_own_exponents() -> None:
    """μP: flat. SP: two σ-initialized width×width matrices make an MLP branch start at +1, the readout's
    first update sums `width` coherent terms (+1), and the body's later growth is recorded but not judged
    (measured above +1). u-μP: the embedding's update shrinks like m^-½. SP + embedding LR × m: +1."""
    mup, sp = check("mup", "adamw"), check("sp", "adamw")
    assert mup.predicted["blocks.0.mlp"]["delta_rms"] == [None, None, 0.0, 0.0]  # the body moves at step 2
    assert sp.predicted["blocks.0.mlp"]["rms"] == [1.0, 1.0, None, None]
    assert sp.predicted["blocks.0.mlp"]["delta_rms"] == [None, None, None, None]
    assert sp.predicted["logits"]["delta_rms"] == [None, 1.0, None, None]
    assert sp.slopes["blocks.0.mlp"]["delta_rms"][3] > 1.0
    assert mup.slopes["blocks.0.mlp"]["delta_rms"][3] == pytest.approx(0.0, abs=0.15)
    u_mup = check("u-mup", "adamw")
    assert u_mup.predicted["embedding"]["delta_rms"][2:] == [-0.5, -0.5]
    assert u_mup.slopes["embedding"]["delta_rms"][3] == pytest.approx(-0.5, abs=0.05)
    assert check("sp-embedding-lr", "adamw").predicted["embedding"]["delta_rms"][2] == 1.0
    assert check("mup", "adopt").predicted["blocks.0.mlp"]["delta_rms"] == [None, None, None, 0.0]


def break_rule(
    monkeypatch: pytest.MonkeyPatch, parametrization: str, role: Role, optimizer: str, **rule: object
) -> None:
    """Replace the row `lookup` finds for (parametrization, role, optimizer) by a copy with `rule`'s
    fields."""
    found = table.lookup(parametrization, role, optimizer)
    rows = tuple(replace(row, **rule) if row is found else row for row in table.RULES)
    monkeypatch.setattr(table, "RULES", rows)


def failures(result: CoordCheckReport) -> dict[tuple[str, str], dict]:
    return {(f["module"], f["stat"]): f for f in result.failing}


def test_mup_with_the_hidden_lr_not_divided_by_m_fails_on_the_hidden_outputs(monkeypatch) -> None:
    break_rule(monkeypatch, "mup", Role.HIDDEN, "adamw", lr=table.one)
    result = coord_check(TrialConfig(), "mup", "adamw", widths=WIDTHS)
    assert not result.passed
    failing = failures(result)
    for module in ("blocks.0.attn", "blocks.0.mlp", "blocks.1.attn", "blocks.1.mlp", "residual"):
        assert failing[(module, "delta_rms")]["predicted"] == 0.0
        assert failing[(module, "delta_rms")]["measured"] > 0.5  # Adam's η per entry, summed over width
    assert ("embedding", "delta_rms") not in failing


def test_u_mup_with_the_embedding_lr_scaled_like_mups_fails_on_the_embedding(monkeypatch) -> None:
    break_rule(monkeypatch, "u-mup", Role.INPUT, "adamw", lr=table.one)
    result = coord_check(TrialConfig(), "u-mup", "adamw", widths=WIDTHS)
    failing = failures(result)
    assert not result.passed and {module for module, _ in failing} == {"embedding"}
    embedding = failing[("embedding", "delta_rms")]
    assert embedding["predicted"] == -0.5 and abs(embedding["measured"]) < 0.15


def test_sp_with_mups_hidden_init_fails_where_sp_predicts_growth(monkeypatch) -> None:
    break_rule(monkeypatch, "sp", Role.HIDDEN, "adamw", init=table.sigma_over_sqrt_m)
    result = coord_check(TrialConfig(), "sp", "adamw", widths=WIDTHS)
    failing = failures(result)
    assert {("blocks.0.mlp", "rms"), ("blocks.1.mlp", "rms")} <= failing.keys()
    assert failing[("blocks.0.mlp", "rms")]["predicted"] == 1.0
    assert abs(failing[("blocks.0.mlp", "rms")]["measured"]) < 0.25


@cache
def depth_check() -> CoordCheckReport:
    return coord_check(
        TrialConfig(width=64, base_depth=2), "completep", "adamw", depths=(2, 4, 8), seeds=(0, 1, 2)
    )


def test_completep_passes_across_depths() -> None:
    """CompleteP's claim along depth: the residual stream's change is Θ(1) (L branches × 1/L, each Θ(1))
    and nothing else moves with L. Each block's own change is recorded, not judged: its input is the
    LayerNorm of a residual stream that mixes the embedding with the branches' L^(½−α) at init, a crossover
    inside 2..8 (docs/coordinate-check.md)."""
    result = depth_check()
    assert result.axis == "depth" and result.x == [2, 4, 8]
    assert {"blocks.attn", "blocks.mlp", "residual"} <= set(result.modules)
    assert result.passed, result.failing
    assert result.predicted["residual"]["delta_rms"] == [None, None, 0.0, 0.0]


def test_completep_without_its_residual_multiplier_fails_on_the_residual_stream(monkeypatch) -> None:
    """Without the branch multiplier L^-α CompleteP is μP along depth: L branches' Θ(1) updates add up."""
    monkeypatch.setattr("workers.parametrization.resolve.residual_multiplier", lambda *_: 1.0)
    result = coord_check(
        TrialConfig(width=64, base_depth=2), "completep", "adamw", depths=(2, 4, 8), seeds=(0, 1, 2)
    )
    residual = failures(result)[("residual", "delta_rms")]
    assert residual["predicted"] == 0.0 and residual["measured"] > 0.5


def test_a_scheme_without_a_depth_rule_is_not_checked_along_depth() -> None:
    with pytest.raises(ValueError, match="mup makes no prediction along depth"):
        coord_check(TrialConfig(width=64), "mup", "adamw", depths=(2, 4))


def test_results_are_json_and_plots_are_written(tmp_path) -> None:
    paths = save_artifacts(check("mup", "adamw"), tmp_path)
    data = json.loads(paths["json"].read_text())
    assert data["passed"] is True and data["widths"] == list(WIDTHS)
    assert len(data["stats"]["logits"]["rms"]) == len(data["steps"])
    assert len(data["stats"]["logits"]["rms"][0]) == len(data["widths"])
    assert data["predicted"]["logits"]["delta_rms"] == [None, 0.0, 0.0, 0.0]
    assert paths["png"].read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    html = paths["html"].read_text()
    assert len(html) > 1_000_000 and '<script src="http' not in html  # plotly.js inlined: works offline


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"widths": (64,)}, "needs >= 2 distinct positive widths"),
        ({"steps": 0}, "steps >= 1"),
        ({"lr": math.inf}, "lr must be finite"),
        ({"growing_tolerance": 0.0}, "growing_tolerance must be finite"),
        ({"widths": (64, 100)}, "not a multiple of head_dim"),
    ],
)
def test_bad_arguments_say_what_to_fix(kwargs: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        coord_check(TrialConfig(), "mup", "adamw", **kwargs)
