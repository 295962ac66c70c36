"""A sweep's budget: how much of each limit its proxies have used, and whether one is reached
(docs/operations.md, "Budgets").

Three limits, each optional: wall time since the sweep started, trial time summed over trials (two trials
running for 30 minutes use one hour), and the proxies' training FLOPs (6·N·tokens per trial with N the
non-embedding parameters, Kaplan et al. 2020: the measure the planner's compute fit and the benchmark's
compute fraction use). Running trials count with the time and steps they have so far, so a limit is
noticed while trials run, not after.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from typing import Any

from orchestrator.planner.model_size import params_for
from orchestrator.spec import BudgetSpec, SweepSpec
from orchestrator.store import SweepStore


@dataclass(frozen=True)
class BudgetUse:
    wall_time: float  # seconds since the sweep started (0 before it starts)
    trial_hours: float
    proxy_flops: float


def use(store: SweepStore, sweep_id: int, spec: SweepSpec) -> BudgetUse:
    started, trials = store.budget_rows(sweep_id)
    now = datetime.now(UTC)
    seconds, flops = 0.0, 0.0
    for row in trials:
        tokens_per_step = (row.batch_size or spec.proxy.batch_size) * spec.model.context_length
        if row.duration_s is not None:
            seconds += row.duration_s
        else:
            seconds += ((row.finished_at or now) - row.started_at).total_seconds()
        flops += 6.0 * params_for(spec.model, row.width, row.depth) * row.steps * tokens_per_step
    wall = (now - started).total_seconds() if started is not None else 0.0
    return BudgetUse(wall_time=wall, trial_hours=seconds / 3600.0, proxy_flops=flops)


def reached(budget: BudgetSpec | None, spent: BudgetUse) -> str | None:
    """The first limit reached, in words; None while every limit holds (or there is no budget)."""
    if budget is None:
        return None
    for name, unit in (("max_wall_time", "s"), ("max_trial_hours", "h"), ("max_proxy_flops", " FLOPs")):
        limit = getattr(budget, name)
        used = getattr(spent, name.removeprefix("max_"))
        if limit is not None and used >= limit:
            return f"budget.{name} reached: {used:.4g}{unit} used of {limit:.4g}{unit}"
    return None


def describe(store: SweepStore, sweep_id: int, spec: SweepSpec) -> dict[str, Any] | None:
    """Limits, use and the limit reached, for the API and the UI; None without a budget."""
    if spec.budget is None:
        return None
    spent = use(store, sweep_id, spec)
    cut = store.last_event(sweep_id, "budget_reached")  # once it stopped the proxies, it stays reached
    why = (cut.data or {}).get("reason") if cut is not None else reached(spec.budget, spent)
    return {"limits": spec.budget.model_dump(), "used": asdict(spent), "reached": why}
