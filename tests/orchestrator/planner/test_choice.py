"""Which parametrization the target trains with: the recommendation, else a flagged μP-family fallback."""

from __future__ import annotations

import pytest

from orchestrator.planning import choose_target
from orchestrator.store.repository import Conflict


def _pp(lr: float | None, loss: float | None) -> dict:
    return {
        "hparams": {"lr": {"value": lr, "low": None, "high": None, "level": 0.9}},
        "predicted_loss": {
            "value": loss,
            "low": None if loss is None else loss - 0.1,
            "high": None,
            "level": 0.9,
        },
    }


def test_the_recommended_parametrization_is_used_as_is() -> None:
    plan = {"recommended": "sp", "recommendation": "sp: lowest", "parametrizations": {"sp": _pp(1e-3, 2.0)}}
    choice = choose_target(plan)
    assert (choice.parametrization, choice.hparams, choice.fallback) == ("sp", {"lr": 1e-3}, False)
    assert choice.predicted_loss == 2.0 and choice.predicted_low == pytest.approx(1.9)


def test_without_a_recommendation_the_best_predicted_mup_family_member_is_chosen_and_flagged() -> None:
    plan = {
        "recommended": None,
        "recommendation": "no parametrization's transfer holds",
        "parametrizations": {
            "sp": _pp(1e-4, 1.0),  # best predicted, but SP is the control: never a fallback
            "mup": _pp(1e-2, 2.5),
            "u-mup": _pp(3e-2, 2.2),
            "completep": _pp(None, 2.0),  # no transferred value: cannot be launched
        },
    }
    choice = choose_target(plan)
    assert choice.parametrization == "u-mup" and choice.fallback
    assert "falling back to u-mup" in choice.reason and "transfer holds" in choice.reason


def test_nothing_launchable_is_a_conflict_that_says_what_to_do() -> None:
    plan = {"recommended": None, "parametrizations": {"sp": _pp(1e-3, 2.0), "mup": _pp(float("nan"), 2.0)}}
    with pytest.raises(Conflict, match="widen the search and re-plan"):
        choose_target(plan)
