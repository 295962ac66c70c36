"""Transfer verdicts only when tested: "holds" needs a held-out proxy (≥ 3 widths); two widths are "untested",
still recommended (so the target auto-launches) but said so everywhere the plan is read."""

from __future__ import annotations

import json

import numpy as np
from support.synthetic import Surface, grid_trials, make_spec

from orchestrator.planner import build_plan
from orchestrator.planner.verdict import Verdict, recommend
from orchestrator.planning import choose_target

MUP, SP = Surface(gamma=0.0, u0=-8.0, E=1.5), Surface(gamma=-1.0, u0=-6.0, E=1.6)


def plan_for(widths: list[int], low: float = 2**-14, high: float = 2**-2, seed: int = 0):
    spec = make_spec(widths, 1024, parametrizations=("mup", "sp"), low=low, high=high, points=13)
    return build_plan(
        spec, grid_trials(spec, {"mup": MUP, "sp": SP}, np.random.default_rng(seed)), lambda *a: []
    )


def test_two_widths_are_untested_yet_recommended_and_the_target_still_launches() -> None:
    plan = plan_for([32, 64])
    for pp in plan.parametrizations.values():
        assert pp.transfer_verdict == "untested" and not pp.transfer_holds
        assert "≥ 3 scales" in pp.verdict.reason and "lr over width" in pp.verdict.reason
    encoded = json.loads(json.dumps(plan.to_dict(), allow_nan=False))
    mup = encoded["parametrizations"]["mup"]
    assert mup["transfer_verdict"] == "untested" and mup["transfer_holds"] is False
    assert "≥ 3" in mup["transfer_verdict_reason"]
    assert plan.recommended == "mup" and "untested" in plan.recommendation
    (warning,) = [w for w in plan.warnings if w.code == "transfer_untested"]
    assert warning.parametrization == "mup"
    choice = choose_target(encoded)  # what auto-launch reads: the recommendation, not a fallback
    assert choice.parametrization == "mup" and not choice.fallback


def test_three_widths_give_a_verdict() -> None:
    plan = plan_for([32, 64, 128])
    mup = plan.parametrizations["mup"]
    assert mup.transfer_verdict == "holds" and mup.transfer_holds and mup.transfer_notes == []
    assert plan.recommended == "mup" and "untested" not in plan.recommendation
    assert "transfer_untested" not in [w.code for w in plan.warnings]
    assert plan.to_dict()["parametrizations"]["mup"]["transfer_verdict"] == "holds"


def test_a_failed_check_fails_even_when_the_law_is_untested() -> None:
    plan = plan_for([32, 64], low=2**-12, high=2**-9)  # every optimum beyond the searched range
    mup = plan.parametrizations["mup"]
    assert mup.transfer_verdict == "fails" and "edge of the searched range" in mup.verdict.reason
    assert plan.parametrizations["sp"].transfer_verdict == "fails" and plan.recommended is None


def test_a_tested_transfer_that_holds_is_preferred_to_a_better_predicted_untested_one() -> None:
    holds, untested = Verdict("holds", "ok"), Verdict("untested", "two widths")
    best, why, flagged = recommend({"sp": (holds, 2.0), "mup": (untested, 1.0)})
    assert (best, flagged) == ("sp", False) and "transfer holds" in why
    best, why, flagged = recommend({"sp": (Verdict("fails", "edge"), 0.5), "mup": (untested, 1.0)})
    assert (best, flagged) == ("mup", True) and "untested" in why and "≥ 3" in why
    assert recommend({"sp": (Verdict("fails", "edge"), 0.5)})[0] is None
