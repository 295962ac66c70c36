"""How an imported study's design is read off its runs (orchestrator/imported.py), and the hold-out
conditions (orchestrator/holdout.py)."""

from __future__ import annotations

import pytest
from support.runs import csv_text, ladder

from orchestrator.holdout import HoldOutError, parse_hold_out
from orchestrator.imported import DesignError, Target, study_design
from orchestrator.planner.plan import plan_study
from orchestrator.run_table import parse_runs


def table(rows: list[dict], **kwargs: object):
    return parse_runs(csv_text(rows), format="csv", **kwargs)


def test_a_width_ladder_at_one_depth_and_budget_is_planned_along_width() -> None:
    runs = table(ladder((32, 64, 128))).runs
    imported = study_design("w", runs, ["lr"], Target(width=512, depth=2, tokens=4_000_000))
    design = imported.design
    assert design.scale_name == "width" and design.proxy_scales == [32, 64, 128]
    assert design.depths == [2] and design.fit_depth == 2 and design.target_depth == 2
    assert imported.budget_unit == "tokens" and design.proxy_tokens == 1_000_000
    assert design.target_tokens == 4_000_000  # 4× the proxies' budget: the plan says it is not transferred
    assert all(t.is_base for t in imported.trials)
    plan = plan_study(design, imported.trials)
    codes = {w.code for w in plan.warnings}
    assert "horizon_not_transferred" in codes and "no_target" not in codes


def test_a_ladder_whose_depth_grows_with_width_is_planned_along_n_params_at_equal_tokens_per_param() -> None:
    rows = []
    for width, depth, ratio_tokens in ((64, 2, 20), (128, 4, 20), (256, 6, 20), (256, 6, 80)):
        for row in ladder((width,), depth=depth):
            row["tokens"] = ratio_tokens * row["n_params"]
            rows.append(row)
    runs = table(rows).runs
    imported = study_design("ladder", runs, ["lr"], None)
    design = imported.design
    assert design.scale_name == "n_params" and design.depths == [1]
    assert imported.budget_unit == "tokens_per_param"
    assert design.proxy_info["base_budget"] == pytest.approx(20)
    scans = [t for t in imported.trials if not t.is_base]
    assert scans and {t.width for t in scans} == {design.proxy_scales[-1]}  # the 80-per-param runs
    # no target given: the largest size at the base budget, said in a warning
    assert design.target_scale == design.proxy_scales[-1]
    assert design.target_tokens == pytest.approx(20 * design.target_params, rel=1e-6)
    assert [c for c, _ in design.extra_warnings] == ["no_target", "target_budget_assumed"]


def test_a_batch_size_swept_inside_each_cell_is_an_hp_not_an_axis() -> None:
    rows = []
    for batch in (8, 16, 32):
        for row in ladder((32, 64)):
            rows.append({**row, "batch_size": batch})
    parsed = table(rows, hps=["lr", "batch_size"])
    assert "batch_size" not in parsed.axes and "batch_tokens" not in parsed.axes
    imported = study_design("b", parsed.runs, parsed.hps, Target(width=256))
    assert [a.name for a in imported.design.axes] == ["lr", "batch_size"]
    assert all(t.batch_size is None and "batch_size" in t.hparams for t in imported.trials)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("width=big", "not a number"),
        ("width=64.5", "positive whole number"),
        ("height=64", "NAME=VALUE"),
        ("width", "NAME=VALUE"),
        ("tokens=-1", "positive whole number"),
    ],
)
def test_a_bad_target_says_what_to_write(text: str, message: str) -> None:
    with pytest.raises(DesignError, match=message):
        Target.parse(text)


def test_a_target_reads_numbers_with_exponents() -> None:
    assert Target.parse("n_params=1.3e9, tokens=2e11") == Target(
        n_params=1_300_000_000, tokens=200_000_000_000
    )
    assert Target.parse("  ") is None


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("width = 64", "not a condition"),
        ("depth == 2", "not one of the study's axes"),
        ("width == 'x'", "neither a column nor a number"),
        ("width in (1, 2)", "use =="),
        ("__import__('os')", "only comparisons"),
        ("64 == 64", "must name a column"),
    ],
)
def test_a_hold_out_condition_is_read_never_evaluated(text: str, message: str) -> None:
    with pytest.raises(HoldOutError, match=message):
        parse_hold_out(text, ["width", "n_params"])


def test_hold_out_conditions_combine_and_chain() -> None:
    held = parse_hold_out("64 <= width < 512 and not (n_params > 1e9 or width == 128)", ["width", "n_params"])
    assert held({"width": 64, "n_params": 1e6}) and held({"width": 256, "n_params": 1e6})
    assert not held({"width": 128, "n_params": 1e6}) and not held({"width": 512, "n_params": 1e6})
    assert not held({"width": 256, "n_params": 2e9}) and not held({"width": None, "n_params": 1e6})
    assert parse_hold_out("width >= -1", ["width"])({"width": 0})
