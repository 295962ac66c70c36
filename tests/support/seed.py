"""Stored sweeps with known contents, for UI tests whose assertions need exact counts (series per plot,
rows per table) that a live sweep's timing cannot promise. Rows go through the real store's session into
the real database the served API reads; the loss values come from a closed-form surface (marked as such
in every sweep's tags), not from training. The live behaviour (progress, cancel) is tested on real sweeps.
"""

from __future__ import annotations

import math
from itertools import product
from typing import Any

from orchestrator.planner import TrialResult, build_plan
from orchestrator.planner.plan import default_multiplier_resolver
from orchestrator.spec import parse_spec
from orchestrator.store.models import (
    CoordCheckResult,
    SweepStatus,
    TargetMetric,
    TargetRun,
    TransferPlan,
    Trial,
    TrialMetric,
)
from orchestrator.store.repository import SweepStore
from support.statuses import move_to

SYNTHETIC_TAG = "synthetic-ui-fixture"


def study_spec(
    name: str, widths: list[int], lrs: int, auto_launch: bool = False, init_stds: int = 0
) -> dict[str, Any]:
    """An SP + μP learning-rate grid over `widths` (the shape of the tiny CPU example); with `init_stds` > 0
    the grid also sweeps `init_std` over that many points (the two-HP study the demo runs)."""
    space: dict[str, Any] = {"lr": {"scale": "log", "low": 2**-10, "high": 2**-2, "grid_points": lrs}}
    if init_stds:
        space["init_std"] = {"scale": "log", "low": 2**-5, "high": 2**-1, "grid_points": init_stds}
    return {
        "name": name,
        "tags": [SYNTHETIC_TAG],
        "parametrizations": ["sp", "mup"],
        "base_width": widths[0],
        "model": {"family": "gpt", "depth": 2, "head_dim": 16, "context_length": 32},
        "proxy": {"widths": widths, "steps": 40, "batch_size": 8, "eval_every": 10},
        "search": {"algorithm": "grid", "space": space},
        "target": {"width": widths[-1] * 4, "auto_launch": auto_launch},
    }


# Octaves the LR optimum of a scan's trial moves per doubling of its tokens (it falls, as Bjorck et al. 2025
# measured) and per doubling of its batch size at the same tokens (√B scaling).
HORIZON_DRIFT = -0.4
BATCH_DRIFT = 0.5


def surface_loss(
    parametrization: str,
    width: int,
    base_width: int,
    lr: float,
    init_std: float | None = None,
    *,
    token_octaves: float = 0.0,
    batch_octaves: float = 0.0,
) -> float:
    """A μTransfer-shaped loss: the optimum stays put under μP and moves like 1/width under SP (the init's
    like 1/√width); +inf (diverged) far above the LR optimum. A token or batch scan's trial (`token_octaves`,
    `batch_octaves`: doublings over the base budget) sees the LR optimum drift by a known amount per doubling,
    so the planner's horizon and batch laws have a known answer; the base budget's surface is unchanged."""
    m = width / base_width
    u_star = -6.0 if parametrization == "mup" else -6.0 - math.log2(m)
    u_star += HORIZON_DRIFT * token_octaves + BATCH_DRIFT * batch_octaves
    du = math.log2(lr) - u_star
    if du > 2.6:
        return math.inf
    loss = 1.6 + 1.2 * m**-0.5 + 0.05 * du * du
    if init_std is not None:
        s_star = -3.0 if parametrization == "mup" else -3.0 - 0.5 * math.log2(m)
        loss += 0.03 * (math.log2(init_std) - s_star) ** 2
    return loss


def seed_sweep(
    store: SweepStore,
    spec_data: dict[str, Any],
    *,
    status: SweepStatus = SweepStatus.COMPLETED,
    metrics_steps: int = 5,
    coord_check: bool = True,
    plan: bool = True,
    target_metrics: int = 0,
) -> int:
    """Store a sweep whose trials ran on `surface_loss`, plus optionally a coordinate check, the real
    planner's plan for those trials, and a finished target run; returns the sweep id."""
    spec = parse_spec(spec_data)
    sweep = store.create_sweep(spec)
    if status is SweepStatus.QUEUED:  # nothing has run yet
        return sweep.id
    names = list(spec.search.space)
    grids = [spec.search.space[n].grid() for n in names]
    cells = [dict(zip(names, cell, strict=True)) for cell in product(*grids)]
    results: list[TrialResult] = []
    context = spec.model.context_length
    base_tokens = spec.proxy.base_tokens(context)
    with store.session() as session:
        for search in spec.searches():
            p, width, depth = search.parametrization, search.width, search.depth
            tokens, batch = search.tokens, search.batch_size
            octaves = {
                "token_octaves": math.log2(tokens / base_tokens) if tokens else 0.0,
                "batch_octaves": math.log2(batch / spec.proxy.batch_size) if batch else 0.0,
            }
            key = f"{p}-w{width}-d{depth}{f'-t{tokens}' if tokens else ''}{f'-b{batch}' if batch else ''}"
            for i, hparams in enumerate(cells):
                lr = hparams["lr"]
                loss = surface_loss(p, width, spec.base_width, lr, hparams.get("init_std"), **octaves)
                diverged = not math.isfinite(loss)
                outcome = "diverged" if diverged else "completed"
                final = None if diverged else loss
                results.append(
                    TrialResult(
                        p, width, depth, 0, hparams, final, diverged, outcome, tokens=tokens, batch_size=batch
                    )
                )
                trial = Trial(
                    sweep_id=sweep.id,
                    trial_key=f"{key}-i{i}-s0",
                    parametrization=p,
                    width=width,
                    depth=depth,
                    tokens=tokens,
                    batch_size=batch,
                    seed=0,
                    search_index=i,
                    hparams=hparams,
                    status=outcome,
                    diverged=diverged,
                    final_loss=None if final is None else final + 0.02,  # train loss of the last batch
                    final_val_loss=final,
                    best_loss=final,
                    steps_done=metrics_steps,
                    attempts=1,
                    duration_s=1.0 + 0.01 * width,
                )
                session.add(trial)
                session.flush()
                start = 4.2
                for step in range(1, metrics_steps + 1):
                    value = start + (loss - start) * step / metrics_steps if not diverged else start * step
                    session.add(TrialMetric(trial_id=trial.id, step=step, train_loss=value, lr=lr))
        if coord_check:
            for p in spec.parametrizations:
                session.add(
                    CoordCheckResult(
                        sweep_id=sweep.id,
                        parametrization=p,
                        passed=True,
                        data=coord_data(spec.proxy.widths, p),
                    )
                )
        if plan:
            planned = build_plan(spec, results, resolve_multipliers=default_multiplier_resolver(spec))
            session.add(TransferPlan(sweep_id=sweep.id, version=1, plan=planned.to_dict()))
        if target_metrics:
            run = TargetRun(
                sweep_id=sweep.id,
                plan_version=1,
                status="completed",
                hparams={"lr": 2**-6},
                predicted_loss=1.75,
                predicted_low=1.70,
                predicted_high=1.81,
                realized_loss=1.76,
                within_interval=True,
                steps_done=target_metrics,
                attempts=1,
            )
            session.add(run)
            session.flush()
            for step in range(1, target_metrics + 1):
                session.add(
                    TargetMetric(
                        target_run_id=run.id,
                        step=step,
                        train_loss=1.76 + 2.4 * (1 - step / target_metrics) ** 2,
                    )
                )
    move_to(store, sweep.id, status)
    return sweep.id


COORD_MODULES = ("embedding", "blocks.0.attn", "blocks.0.mlp", "logits")
COORD_STATS = ("l1", "rms", "delta_rms")
COORD_STEPS = 3


def coord_slope(parametrization: str, module: str, stat: str, step: int) -> tuple[float | None, float | None]:
    """(measured, predicted) slope: μP flat everywhere; SP's branches start at +1 and their change grows
    faster (recorded, not judged), its logits' first update +1; nothing has changed at step 0."""
    if stat == "delta_rms" and step == 0:
        return None, None
    if parametrization != "sp":
        return 0.02 * step, None if stat == "l1" else 0.0
    if module == "embedding":
        return 0.0, None if stat == "l1" else 0.0
    if module == "logits":
        return 1.0, 1.0 if step == 1 and stat != "l1" else None
    return 1.0 + 0.4 * step, 1.0 if step == 0 and stat == "rms" and module.endswith("mlp") else None


def coord_data(widths: list[int], parametrization: str) -> dict[str, Any]:
    """A passing coordinate check in the worker's JSON shape (`CoordCheckReport.to_dict()`): per module,
    statistic and step the stats (exact power laws of width), their measured slopes and the predicted ones."""
    stats: dict[str, dict[str, list[list[float]]]] = {}
    slopes: dict[str, dict[str, list[float | None]]] = {}
    predicted: dict[str, dict[str, list[float | None]]] = {}
    for mi, module in enumerate(COORD_MODULES):
        stats[module], slopes[module], predicted[module] = {}, {}, {}
        for si, stat in enumerate(COORD_STATS):
            pairs = [coord_slope(parametrization, module, stat, step) for step in range(COORD_STEPS)]
            slopes[module][stat] = [measured for measured, _ in pairs]
            predicted[module][stat] = [expected for _, expected in pairs]
            scale = 0.1 + 0.2 * mi + 0.1 * si
            stats[module][stat] = [
                [0.0 if measured is None else scale * (w / widths[0]) ** measured for w in widths]
                for measured, _ in pairs
            ]
    return {
        "axis": "width",
        "x": widths,
        "widths": widths,
        "steps": list(range(COORD_STEPS)),
        "modules": list(COORD_MODULES),
        "stats": stats,
        "slopes": slopes,
        "predicted": predicted,
        "tolerance": 0.15,
        "growing_tolerance": 0.25,
        "passed": True,
        "failing": [],
        "settings": {"parametrization": parametrization, "optimizer": "adamw"},
    }
