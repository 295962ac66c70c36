"""`mutransfer status ID` prints the plan's verdict per parametrization: "untested" for a 2-width plan (with
the reason and what the intervals leave out), never "holds"; a 3-width plan gets its verdict."""

from __future__ import annotations

import json
import re
from typing import Any

import numpy as np
import pytest
from support.synthetic import Surface, grid_trials, make_spec
from typer.testing import CliRunner

from api.cli import app, commands_sweeps
from orchestrator.planner import build_plan

runner = CliRunner()


def stored_plan(widths: list[int]) -> dict[str, Any]:
    """A plan as the API returns it (JSON round trip) for an SP + μP study over `widths`."""
    spec = make_spec(widths, 1024, parametrizations=("mup", "sp"), low=2**-14, high=2**-2, points=13)
    surfaces = {"mup": Surface(), "sp": Surface(gamma=-1.0, u0=-6.0)}
    plan = build_plan(spec, grid_trials(spec, surfaces, np.random.default_rng(0)), lambda *a: [])
    return json.loads(json.dumps(plan.to_dict(), allow_nan=False))


def status_output(monkeypatch: pytest.MonkeyPatch, plan: dict[str, Any]) -> str:
    """`mutransfer status 1` against a stub of the API serving `plan` as version 1."""
    answers = {
        "/sweeps/1": {
            "id": 1,
            "name": "study",
            "status": "awaiting_approval",
            "progress": {"total": 4, "done": 4, "counts": {"completed": 4}, "eta_s": None},
            "error": None,
        },
        "/sweeps/1/outputs": {"plan_version": 1, "target_run": None},
        "/sweeps/1/plan": {"version": 1, "plan": plan},
    }
    monkeypatch.setattr(commands_sweeps.ApiClient, "request", lambda self, method, path, **kw: answers[path])
    monkeypatch.setattr(commands_sweeps.console, "width", 240)
    result = runner.invoke(app, ["status", "1"])
    assert result.exit_code == 0, result.output
    return result.output


def test_a_two_width_plan_prints_untested_with_its_reason_and_caveats(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    output = status_output(monkeypatch, stored_plan([32, 64]))
    assert "transfer plan v1" in output
    rows = [line for line in output.splitlines() if line.startswith(("│ mup", "│ sp"))]
    assert len(rows) == 2 and all("untested" in row and "holds" not in row for row in rows), rows
    assert "mup: transfer untested: not tested" in output and "≥ 3 scales" in output
    assert "not in the intervals: predicted loss: with fewer than 4 widths" in output
    assert "run noise σ" in output and "(proxy_seeds)" in output
    assert "transfer is untested" in output  # the recommendation says what it rests on


def test_a_three_width_plan_prints_its_verdict(monkeypatch: pytest.MonkeyPatch) -> None:
    output = status_output(monkeypatch, stored_plan([32, 64, 128]))
    (row,) = [line for line in output.splitlines() if line.startswith("│ mup")]
    assert "holds" in row and "untested" not in output


def test_a_plan_stored_before_verdicts_never_reads_holds_untested() -> None:
    """Old plans have only `transfer_holds`, which was true for 2-width plans: the printer derives the verdict
    from whether the extrapolation check ran."""
    from api.cli.plan_view import verdict_of

    legacy = {"transfer_holds": True, "quality": {"extrapolation": {"lr": {"relative_penalty": None}}}}
    assert verdict_of(legacy)[0] == "untested"
    legacy["quality"]["extrapolation"]["lr"]["relative_penalty"] = 0.001
    assert verdict_of(legacy)[0] == "holds"
    assert verdict_of({"transfer_holds": False, "transfer_notes": ["lr: edge"]}) == ("fails", "lr: edge")


def test_a_horizon_plan_prints_each_axis_the_lr_moved_along_and_the_target_budget(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    base = 200 * 8 * 64
    spec = make_spec([32, 64, 128], 1024, token_budgets=[2 * base], target_tokens=8 * base)
    trials = grid_trials(spec, {"mup": Surface(gamma_horizon=-0.4)}, np.random.default_rng(0))
    plan = json.loads(json.dumps(build_plan(spec, trials, lambda *a: []).to_dict(), allow_nan=False))
    output = status_output(monkeypatch, plan)
    (line,) = [line for line in output.splitlines() if line.startswith("mup: lr moved along")]
    factor = float(re.search(r"horizon ×([0-9.]+) \(γ", line).group(1))  # type: ignore[union-attr]
    assert "width ×" in line and 0.3 < factor < 0.6, line  # 3 doublings at γ = −0.4: ×2^−1.2 ≈ 0.44
    assert f"target: width 1024, depth 2, {8 * base:,} tokens, batch 8, 1,600 steps" in output
