"""Plan glue: a sweep's trials from the store → the pure planner → a NEW stored plan version.

Plans are never overwritten (a re-plan after more trials, or with another planner version, is version
n+1: `orchestrator/store/plans.py`), so a target run always points at the exact plan it was launched from.
Besides the planner's output, each stored plan carries `target_choice`: which parametrization and
values the target run uses. That is the planner's `recommended` parametrization; when there is none
(no parametrization's transfer holds) it falls back to the best-predicted μP-family parametrization and
says so in `target_choice.fallback` and in a `recommendation_fallback` warning, never silently.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any

from orchestrator.importing import is_imported, plan_imported
from orchestrator.planner import TrialResult, build_plan
from orchestrator.spec import stored_spec
from orchestrator.store import Conflict, NotFound, SweepStore, TransferPlan

# Parametrizations whose HPs are meant to transfer across width (docs/parametrizations.md); SP is the control.
MUP_FAMILY = ("mup", "u-mup", "completep")


@dataclass(frozen=True)
class TargetChoice:
    """What the target run trains with, read from one plan."""

    parametrization: str
    hparams: dict[str, float]
    predicted_loss: float | None
    predicted_low: float | None
    predicted_high: float | None
    fallback: bool
    reason: str


def load_trial_results(store: SweepStore, sweep_id: int) -> list[TrialResult]:
    """Every stored trial of the sweep as the planner's input (the planner ignores unusable ones)."""
    return [TrialResult.from_record(row) for row in store.all_trials(sweep_id)]


def make_plan(store: SweepStore, sweep_id: int, *, level: float = 0.9, seed: int = 0) -> TransferPlan:
    """Fit the sweep's trials and store the result as the next plan version; returns the stored row."""
    sweep = store.get_sweep(sweep_id)
    if is_imported(sweep.spec):  # runs trained elsewhere: planned from the stored runs (importing.py)
        return plan_imported(store, sweep_id, level=level, seed=seed)
    spec = stored_spec(sweep.spec)
    trials = load_trial_results(store, sweep_id)
    if not any(t.is_usable for t in trials):
        raise Conflict(
            f"sweep {sweep_id} has no completed or diverged proxy trials to plan from "
            f"({len(trials)} trials stored); wait for its proxies to finish"
        )
    plan = build_plan(spec, trials, level=level, seed=seed).to_dict()
    try:
        plan["target_choice"] = asdict(choose_target(plan))
    except Conflict as exc:
        plan["target_choice"] = None
        plan["warnings"].append({"code": "no_target", "message": str(exc)})
    else:
        if plan["target_choice"]["fallback"]:
            plan["warnings"].append(
                {"code": "recommendation_fallback", "message": plan["target_choice"]["reason"]}
            )
    cut = store.last_event(sweep_id, "budget_reached")
    if cut is not None:  # the proxies stopped early: the plan rests on fewer trials than the spec asked
        plan["warnings"].append({"code": "budget_reached", "message": cut.message})
    return store.plans.add(sweep_id, plan)


def launchable_choice(
    store: SweepStore, sweep_id: int, version: int | None = None
) -> tuple[int, TargetChoice]:
    """(version, choice) of the latest plan (or `version`); `Conflict` when there is none to launch."""
    try:
        row = store.plans.get(sweep_id, version)
    except NotFound as exc:
        raise Conflict(str(exc)) from exc
    choice = row.plan.get("target_choice")
    if not choice:
        raise Conflict(
            f"plan v{row.version} of sweep {sweep_id} has nothing to launch: {no_target_reason(row.plan)}"
        )
    return row.version, TargetChoice(**choice)


def no_target_reason(plan: dict[str, Any]) -> str:
    """Why a plan has no target choice, in the plan's own words."""
    problems = [w["message"] for w in plan.get("warnings", []) if w.get("code") == "no_target"]
    return problems[0] if problems else "the plan has no target choice"


def choose_target(plan: dict[str, Any]) -> TargetChoice:
    """The recommended parametrization's values, else the best-predicted μP-family one (flagged).

    Raises `Conflict` when no parametrization has a transferred value for every swept HP.
    """
    candidates = plan.get("parametrizations", {})
    recommended = plan.get("recommended")
    if recommended in candidates and _values(candidates[recommended]) is not None:
        return _choice(recommended, candidates[recommended], False, plan.get("recommendation") or "")
    usable = {p: pp for p, pp in candidates.items() if p in MUP_FAMILY and _values(pp) is not None}
    if not usable:
        raise Conflict(
            "the plan has no parametrization to launch: none is recommended and no μP-family "
            f"parametrization ({', '.join(MUP_FAMILY)}) has a transferred value for every swept "
            "hyperparameter; see the plan's transfer_notes and warnings, widen the search and re-plan"
        )

    def predicted(p: str) -> float:
        value = usable[p]["predicted_loss"].get("value")
        return value if value is not None and math.isfinite(value) else math.inf

    best = min(usable, key=predicted)
    why = (
        f"no parametrization is recommended ({plan.get('recommendation')}); falling back to {best}, the "
        "μP-family parametrization with the best predicted target loss: its transfer did not pass every "
        "check, so treat the prediction with care"
    )
    return _choice(best, usable[best], True, why)


def _values(pp: dict[str, Any]) -> dict[str, float] | None:
    values = {k: v.get("value") for k, v in pp.get("hparams", {}).items()}
    if not values or any(v is None or not math.isfinite(v) for v in values.values()):
        return None
    return {k: float(v) for k, v in values.items()}


def _choice(p: str, pp: dict[str, Any], fallback: bool, reason: str) -> TargetChoice:
    loss = pp.get("predicted_loss") or {}
    if (pp.get("predicted_loss_budget") or {}).get("at_target_budget") is False:
        # the prediction is L(N) at the proxies' budget: not a prediction of this run to compare it with
        loss = {}
        reason += (
            "; predicted_loss is at the proxies' token budget, not the target's, so the realized loss is not "
            "compared with it"
        )
    return TargetChoice(
        parametrization=p,
        hparams=_values(pp) or {},
        predicted_loss=loss.get("value"),
        predicted_low=loss.get("low"),
        predicted_high=loss.get("high"),
        fallback=fallback,
        reason=reason,
    )
