"""Imported studies in the store: import a run table, plan it, back-test it, and export a trained sweep's
runs in the same format (docs/import.md).

An imported study is a sweep in the `imported` state: its trials are the file's runs (finished, never
trained), its stored spec is a *view* a reader of any sweep understands (name, parametrizations, sizes,
swept HPs, target) with the import's own record under `imported` (source, axes, HPs, size axis, target).
Planning it builds the design from the stored runs (orchestrator/imported.py) and runs the planner's normal
procedure; a plan version is stored like a trained sweep's.
"""

from __future__ import annotations

import io
import math
from collections.abc import Mapping, Sequence
from typing import Any

from orchestrator.backtest import Backtest, BacktestError, run_backtest
from orchestrator.imported import DesignError, Target, hp_axes, study_design
from orchestrator.planner.model_size import params_for
from orchestrator.planner.plan import plan_study
from orchestrator.run_table import ImportedRun, RunTable, parse_runs, write_runs
from orchestrator.spec import stored_spec
from orchestrator.status import TrialStatus
from orchestrator.store import DEFAULT_PROJECT, Conflict, SweepStore, TransferPlan


def is_imported(spec: Mapping[str, Any] | None) -> bool:
    """Whether a stored spec is an imported study's view."""
    return bool(spec) and "imported" in (spec or {})


def import_study(
    store: SweepStore,
    table: RunTable,
    *,
    name: str | None = None,
    project: str = DEFAULT_PROJECT,
    target: Target | None = None,
    level: float = 0.9,
    seed: int = 0,
) -> tuple[int, TransferPlan | None]:
    """Store `table` as an imported study and plan it; (sweep id, plan). The design is checked before
    anything is stored (`DesignError`), so a study that cannot be planned is refused whole."""
    name = name or table.source
    imported = study_design(name, table.runs, table.hps, target)  # raises before storing
    view = _view(name, table, target, imported.design.scale_name)
    sweep = store.create_imported(name, view, [_trial_row(r, i) for i, r in enumerate(table.runs)], project)
    if not any(t.is_usable for t in imported.trials):
        return sweep.id, None
    return sweep.id, plan_imported(store, sweep.id, level=level, seed=seed)


def plan_imported(
    store: SweepStore, sweep_id: int, target: Target | None = None, *, level: float = 0.9, seed: int = 0
) -> TransferPlan:
    """A new plan version of an imported study, for `target` (default: the one stored with it)."""
    meta, runs = study_runs(store, sweep_id)
    chosen = target or Target.from_dict(meta.get("target"))
    try:
        imported = study_design(store.get_sweep(sweep_id).name, runs, meta["hps"], chosen)
    except DesignError as exc:
        raise Conflict(str(exc)) from exc
    plan = plan_study(imported.design, imported.trials, level=level, seed=seed).to_dict()
    plan["imported"] = {
        "source": meta.get("source"),
        "scale": imported.design.scale_name,
        "budget_unit": imported.budget_unit,
        "target": chosen.to_dict() if chosen else None,
        "notes": imported.notes,
    }
    plan["target_choice"] = None  # nothing to launch: the study's runs were trained elsewhere
    return store.plans.add(sweep_id, plan)


def backtest_study(
    store: SweepStore, sweep_id: int, hold_out: str, *, level: float = 0.9, seed: int = 0
) -> Backtest:
    """Back-test a stored study: an imported one, or a trained sweep read as its exported runs."""
    sweep = store.get_sweep(sweep_id)
    if is_imported(sweep.spec):
        meta, runs = study_runs(store, sweep_id)
        hps, axes = meta["hps"], meta["axes"]
    else:
        rows = export_rows(store, sweep_id)
        if not rows:
            raise BacktestError(f"sweep {sweep_id} has no finished proxy runs to back-test")
        space = (sweep.spec.get("search") or {}).get("space") or {"lr": {}}
        hps = [h for h in space if all(h in row for row in rows)]  # a trial stored without an HP has none
        table = _as_table(rows, hps)
        runs, axes = table.runs, table.axes
    return run_backtest(sweep.name, runs, hps, axes, hold_out, level=level, seed=seed)


def study_runs(store: SweepStore, sweep_id: int) -> tuple[dict[str, Any], list[ImportedRun]]:
    """An imported study's record and its runs, as the file gave them."""
    sweep = store.get_sweep(sweep_id)
    if not is_imported(sweep.spec):
        raise Conflict(f"sweep {sweep_id} is not an imported study")
    meta = dict(sweep.spec["imported"])
    runs = [_run_of(row, meta["hps"]) for row in store.all_trials(sweep_id)]
    return meta, runs


def export_rows(store: SweepStore, sweep_id: int) -> list[dict[str, Any]]:
    """A trained sweep's finished proxy runs in the import format (docs/import.md): one row per completed
    or diverged trial, with its size, parameters, tokens, batch, seed, swept HPs and final validation loss
    (inf for a diverged run). Pruned, failed and cancelled trials ran a partial budget and are left out."""
    sweep = store.get_sweep(sweep_id)
    if is_imported(sweep.spec):
        return [_row_of(r) for r in study_runs(store, sweep_id)[1]]
    spec = stored_spec(sweep.spec)
    context = spec.model.context_length
    rows = []
    order = {p: i for i, p in enumerate(spec.parametrizations)}  # the spec's order: an import keeps it
    for t in sorted(
        store.all_trials(sweep_id), key=lambda t: (order.get(t.parametrization, len(order)), t.id)
    ):
        if t.status not in (TrialStatus.COMPLETED, TrialStatus.DIVERGED):
            continue
        steps, batch = spec.trial_budget(t.tokens, t.batch_size)
        loss = t.final_val_loss if t.final_val_loss is not None else t.final_loss
        diverged = bool(t.diverged) or t.status == TrialStatus.DIVERGED or loss is None
        rows.append(
            {
                "parametrization": t.parametrization,
                "width": t.width,
                "depth": t.depth,
                "n_params": params_for(spec.model, t.width, t.depth),
                "tokens": (t.steps_done or steps) * batch * context,
                "batch_size": batch,
                "context_length": context,
                "seed": t.seed,
                **{k: v for k, v in (t.hparams or {}).items() if isinstance(v, int | float)},
                "loss": math.inf if diverged else loss,
            }
        )
    return rows


def _view(name: str, table: RunTable, target: Target | None, scale: str) -> dict[str, Any]:
    """What a reader of any sweep's spec finds (module docstring)."""
    runs = table.runs
    sizes = sorted({(r.width if scale == "width" else r.n_params) or 0 for r in runs})
    space = {
        a.name: {"scale": "log" if a.log else "linear", "low": a.low, "high": a.high}
        for a in hp_axes(runs, table.hps)
    }
    return {
        "name": name,
        "parametrizations": list(dict.fromkeys(r.parametrization for r in runs)),
        "proxy": {"widths": sizes if scale == "width" else [], "seeds": sorted({r.seed for r in runs})},
        "search": {"algorithm": "grid", "space": space},
        "target": {"width": target.width if target else None, "auto_launch": False},
        "preflight": "off",
        "tags": [],
        "imported": {**table.to_dict(), "scale": scale, "target": target.to_dict() if target else None},
    }


def _trial_row(run: ImportedRun, index: int) -> dict[str, Any]:
    """The `Trial` columns of one imported run."""
    return {
        "trial_key": f"import-{run.line}",
        "parametrization": run.parametrization,
        "width": run.width or 0,
        "depth": run.depth or 0,
        "seed": run.seed,
        "search_index": index,
        "hparams": dict(run.hparams),
        "status": (TrialStatus.DIVERGED if run.diverged else TrialStatus.COMPLETED).value,
        "final_loss": run.loss,
        "final_val_loss": run.loss,
        "diverged": run.diverged,
        "tokens": run.tokens,
        "batch_size": run.batch_size,
        "n_params": run.n_params,
        "imported": {
            "line": run.line,
            "context_length": run.context_length,
            "batch_tokens": run.batch_tokens,
        },
    }


def _run_of(row: Any, hps: Sequence[str]) -> ImportedRun:
    """A stored trial of an imported study back as the run the file gave."""
    extra = row.imported or {}
    return ImportedRun(
        line=int(extra.get("line") or 0),
        parametrization=row.parametrization,
        width=row.width or None,
        depth=row.depth or None,
        n_params=row.n_params,
        tokens=row.tokens,
        batch_size=row.batch_size,
        context_length=extra.get("context_length"),
        batch_tokens=extra.get("batch_tokens"),
        seed=row.seed,
        loss=None if row.diverged else row.final_val_loss,
        diverged=bool(row.diverged),
        hparams={k: float(v) for k, v in (row.hparams or {}).items()},
    )


def _row_of(run: ImportedRun) -> dict[str, Any]:
    return {
        "parametrization": run.parametrization,
        "width": run.width,
        "depth": run.depth,
        "n_params": run.n_params,
        "tokens": run.tokens,
        "batch_size": run.batch_size,
        "context_length": run.context_length,
        "batch_tokens": run.batch_tokens,
        "seed": run.seed,
        **run.hparams,
        "loss": math.inf if run.diverged else run.loss,
    }


def _as_table(rows: Sequence[dict[str, Any]], hps: Sequence[str]) -> RunTable:
    """A trained sweep's exported rows read back as the import reads a file (the same validation)."""
    buffer = io.StringIO()
    write_runs(rows, buffer)
    return parse_runs(buffer.getvalue(), format="csv", source="export", hps=list(hps))
