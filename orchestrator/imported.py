"""Imported studies: runs a team already has, planned by the same procedure as a sweep mutransfer trains.

`orchestrator/run_table.py` reads and validates the file; this module turns its runs into the planner's
inputs, a `StudyDesign` (orchestrator/planner/design.py) and `TrialResult`s, for a given target. The
choices a spec makes explicitly are read off the runs here (docs/import.md, "How an imported study is
planned"):

* **The size axis.** `width` when every run has one and depth is either fixed or varied as a grid (some width
  ran at ≥ 2 depths: the depth law is fitted as for a trained sweep); otherwise `n_params` (models known by
  their size only, or whose depth grows with their width, as in most published ladders), with one depth.
* **The base budget.** The width law is fitted across sizes at one budget, and other budgets are a scan the
  horizon law fits, as in a trained sweep. A trained sweep gives every width the same tokens; published
  ladders instead give each size the same tokens *per parameter* (20 B tokens for 1 B parameters, 4 B for
  200 M). So budgets are compared either in tokens or in tokens per parameter, whichever puts more sizes on
  one common budget (ties: tokens); the base is the budget shared by the most sizes (ties: the smallest).
  In tokens per parameter, a scan's budget is stated as the tokens that ratio gives the target, so the
  horizon law's move, log2(target / base), is the octaves between the target's ratio and the base ratio.
* **The batch size.** An axis (not a swept HP): the base is the batch shared by the most sizes, in tokens
  when known, and other batches are a scan. A swept HP (`--hps lr,batch_size`): it is fitted and
  transferred like the learning rate.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from orchestrator.planner import HPAxis, TrialResult, non_embedding_params
from orchestrator.planner.design import StudyDesign
from orchestrator.run_table import ImportedRun

# Two budgets within this factor are one budget (a ladder's "20 tokens per parameter" is rarely exact).
SAME_BUDGET = 1.1
TARGET_FIELDS = ("width", "depth", "n_params", "tokens", "batch_size", "context_length", "batch_tokens")


class DesignError(ValueError):
    """The runs (or the target) cannot be planned as given; the message says what to change."""


@dataclass(frozen=True)
class Target:
    """The run a plan of an imported study is made for. Any field left out is read from the runs: the
    largest size, its depth, and the base budget (the plan then warns that no target was given)."""

    width: int | None = None
    depth: int | None = None
    n_params: int | None = None
    tokens: int | None = None
    batch_size: int | None = None  # sequences
    context_length: int | None = None
    batch_tokens: int | None = None

    @classmethod
    def parse(cls, text: str | None) -> Target | None:
        """`"width=4096,depth=32,tokens=2e11"` → a Target; a clear `DesignError` for anything else."""
        if text is None or not text.strip():
            return None
        values: dict[str, int] = {}
        for part in text.split(","):
            key, sep, raw = part.partition("=")
            key = key.strip()
            if not sep or key not in TARGET_FIELDS:
                raise DesignError(
                    f"target: {part.strip()!r} is not NAME=VALUE with NAME one of {', '.join(TARGET_FIELDS)}"
                )
            try:
                number = float(raw)
            except ValueError:
                raise DesignError(f"target: {key}={raw.strip()!r} is not a number") from None
            if not math.isfinite(number) or number <= 0 or number != round(number):
                raise DesignError(f"target: {key} must be a positive whole number, got {raw.strip()}")
            values[key] = int(round(number))
        return cls(**values)

    @classmethod
    def from_dict(cls, data: dict[str, Any] | None) -> Target | None:
        if not data:
            return None
        unknown = sorted(set(data) - set(TARGET_FIELDS))
        if unknown:
            raise DesignError(f"target: unknown field(s) {unknown}; use {', '.join(TARGET_FIELDS)}")
        return cls.parse(",".join(f"{k}={v}" for k, v in data.items() if v is not None))

    def to_dict(self) -> dict[str, int]:
        return {k: v for k, v in self.__dict__.items() if v is not None}

    @property
    def batch(self) -> int | None:
        """The batch in tokens when the context length is known, else in sequences."""
        if self.batch_tokens is not None:
            return self.batch_tokens
        if self.batch_size is not None and self.context_length is not None:
            return self.batch_size * self.context_length
        return self.batch_size


@dataclass
class ImportedDesign:
    """A study's design for one target, the runs as the planner's trials, and what was read off the runs."""

    design: StudyDesign
    trials: list[TrialResult]
    budget_unit: str  # "tokens" | "tokens_per_param" | "none"
    notes: list[str] = field(default_factory=list)


def study_design(
    name: str,
    runs: Sequence[ImportedRun],
    hps: Sequence[str],
    target: Target | None = None,
    *,
    bounds: dict[str, tuple[float, float]] | None = None,
) -> ImportedDesign:
    """The planner's view of imported `runs` planned for `target` (module docstring for every choice).

    `bounds` are each HP's searched range (HP units); by default the runs' own range. A backtest passes the
    whole study's range, so that holding runs out does not make the searched range look narrower."""
    if not runs:
        raise DesignError("no runs to plan from")
    scale_name = _scale_name(runs)
    depth_of = _depth_reader(runs, scale_name)
    params = _params_reader(runs, scale_name, depth_of)
    scale_of = _scale_reader(scale_name)
    scales = sorted({scale_of(r) for r in runs})
    depths = sorted({depth_of(r) for r in runs})
    notes: list[str] = []
    warnings: list[tuple[str, str]] = []

    t = target or Target()
    if target is None:
        warnings.append(
            (
                "no_target",
                f"no target was given: the plan is made for the largest {scale_name} in the study "
                f"({scales[-1]:,}) at the base budget; give a target (width=, n_params=, tokens=) "
                "to plan one",
            )
        )
    t_scale = (t.width if scale_name == "width" else t.n_params) or scales[-1]
    t_depth = t.depth if scale_name == "width" and t.depth else depths[-1]
    fit_depth = t_depth if t_depth in depths else depths[-1]
    t_params = _target_params(t, scale_name, t_scale, t_depth, params)

    unit, base, budget_of = _budgets(runs, scale_of, depth_of, params, t_params)
    tokens_known = unit != "none"
    t_tokens = t.tokens or (_base_tokens(unit, base, t_params) if tokens_known else 0)
    if tokens_known and t.tokens is None:
        warnings.append(
            (
                "target_budget_assumed",
                f"the target's tokens were not given: {t_tokens:,} assumed ("
                + ("the base budget" if unit == "tokens" else f"{base:.3g} tokens per parameter")
                + ")",
            )
        )
    if not tokens_known:
        notes.append("no tokens column: compute and the horizon law are not available")
    proxy_tokens = _base_tokens(unit, base, t_params) if tokens_known else 0

    batch_is_hp = "batch_size" in hps or "batch_tokens" in hps
    b_base, batch_of = (None, None) if batch_is_hp else _batches(runs, scale_of)
    t_batch = None if batch_is_hp else _target_batch(t, runs)

    trials = [
        _trial(r, scale_of, depth_of, hps, budget_of, base, unit, t_params, batch_of, b_base) for r in runs
    ]
    axes = hp_axes(runs, hps, bounds)
    covers = _coverage(unit, base, t_tokens, proxy_tokens, scale_name, t_scale)
    design = StudyDesign(
        name=name,
        parametrizations=list(dict.fromkeys(r.parametrization for r in runs)),
        axes=axes,
        scale_name=scale_name,
        proxy_scales=scales,
        depths=depths,
        fit_depth=fit_depth,
        target_scale=t_scale,
        target_depth=t_depth,
        target_params=t_params,
        target_tokens=t_tokens,
        target_batch=(t_batch or b_base or 0),
        proxy_tokens=proxy_tokens,
        proxy_batch=b_base or 0,
        params=params,
        run_tokens=lambda trial: trial.tokens_trained or 0,
        base_tokens_at=lambda scale: (
            _base_tokens(unit, base, params(scale, fit_depth)) if tokens_known else 0
        ),
        weight_decay_mode="coupled",
        weight_decay=None,  # a decay the runs do not sweep is not read: the plan states no timescale
        # a swept batch size is an HP of the plan, not a budget: no batch to state for either run
        target_info={
            "scale": scale_name,
            "tokens_per_param": t_tokens / t_params if t_params else None,
            **({"batch_size": None} if batch_is_hp else {}),
        },
        proxy_info={
            **({"batch_size": None} if batch_is_hp else {}),
            "scale": scale_name,
            "budget_unit": unit,
            "base_budget": base,
            "token_budgets": sorted({b for b in (budget_of(r) for r in runs) if b is not None}),
            "batch_sizes": sorted({b for b in (batch_of(r) for r in runs)}) if batch_of else [],
        },
        coverage_text=covers,
        resolver=None,
        extra_warnings=warnings,
    )
    return ImportedDesign(design, trials, unit, notes)


def _scale_name(runs: Sequence[ImportedRun]) -> str:
    if all(r.width is not None for r in runs) and _width_design(runs) != "mixed":
        return "width"
    if all(r.n_params is not None for r in runs):
        return "n_params"
    if all(r.width is not None for r in runs):
        return "width"  # depth changes with width and no n_params: fitted along width, depth ignored
    raise DesignError(
        "every run needs a width, or every run an n_params: the size axis cannot be read from a mix of runs "
        "that have only one or the other"
    )


def _width_design(runs: Sequence[ImportedRun]) -> str:
    """ "one_depth" (depth fixed), "grid" (widths crossed with depths: some depth ran ≥ 2 widths and some
    width ≥ 2 depths, so a width law at one depth and a depth law at one width both exist), or "mixed"
    (depth changes with width, as in most published ladders: no width law at a fixed depth)."""
    widths_at: dict[int, set[int]] = {}
    depths_at: dict[int, set[int]] = {}
    for r in runs:
        w, d = int(r.width or 0), int(r.depth or 1)
        widths_at.setdefault(d, set()).add(w)
        depths_at.setdefault(w, set()).add(d)
    if len(widths_at) == 1:
        return "one_depth"
    if max(len(ws) for ws in widths_at.values()) >= 2 and max(len(ds) for ds in depths_at.values()) >= 2:
        return "grid"
    return "mixed"


def _scale_reader(scale_name: str) -> Callable[[ImportedRun], int]:
    if scale_name == "width":
        return lambda r: int(r.width or 0)
    return lambda r: int(r.n_params or 0)


def _depth_reader(runs: Sequence[ImportedRun], scale_name: str) -> Callable[[ImportedRun], int]:
    """A run's depth as the planner sees it: its own on a width × depth grid or at one fixed depth; one
    depth (1) when the size axis is n_params or depth was ignored."""
    if scale_name == "width" and _width_design(runs) != "mixed":
        return lambda r: int(r.depth or 1)
    return lambda r: 1


def _params_reader(
    runs: Sequence[ImportedRun], scale_name: str, depth_of: Callable[[ImportedRun], int]
) -> Callable[[int, int], int]:
    """Non-embedding parameters at (scale, depth): the file's `n_params` where given (the median of a
    size's runs), else a GPT block's count (model_size.non_embedding_params), which the plan states."""
    if scale_name == "n_params":
        return lambda scale, depth: int(scale)
    given: dict[tuple[int, int], list[int]] = {}
    for r in runs:
        if r.n_params is not None:
            given.setdefault((int(r.width or 0), depth_of(r)), []).append(int(r.n_params))
    table = {k: int(np.median(v)) for k, v in given.items()}

    def params(scale: int, depth: int) -> int:
        return table.get((int(scale), int(depth))) or non_embedding_params(int(scale), max(int(depth), 1))

    return params


def _target_params(
    t: Target,
    scale_name: str,
    t_scale: int,
    t_depth: int,
    params: Callable[[int, int], int],
) -> int:
    """The target's non-embedding parameters: as given, else the count at its width and depth."""
    if t.n_params is not None:
        return t.n_params
    if scale_name == "n_params":
        return t_scale
    return params(t_scale, t_depth)


def _budgets(
    runs: Sequence[ImportedRun],
    scale_of: Callable[[ImportedRun], int],
    depth_of: Callable[[ImportedRun], int],
    params: Callable[[int, int], int],
    t_params: int,
) -> tuple[str, float, Callable[[ImportedRun], float | None]]:
    """(unit, base budget, a run's budget in that unit): see the module docstring."""
    if any(r.tokens is None for r in runs):
        return "none", 0.0, lambda r: None

    def ratio(r: ImportedRun) -> float:
        return float(r.tokens or 0) / params(scale_of(r), depth_of(r))

    raw_base, raw_cover = _common(runs, lambda r: float(r.tokens or 0), scale_of)
    ratio_base, ratio_cover = _common(runs, ratio, scale_of)
    if raw_cover >= ratio_cover:
        return "tokens", raw_base, lambda r: _snap(float(r.tokens or 0), raw_base)
    return "tokens_per_param", ratio_base, lambda r: _snap(ratio(r), ratio_base)


def _common(
    runs: Sequence[ImportedRun], value: Callable[[ImportedRun], float], scale_of: Callable[[ImportedRun], int]
) -> tuple[float, int]:
    """The value (to within SAME_BUDGET) shared by the most sizes, and how many sizes share it."""
    values = sorted({value(r) for r in runs})
    groups: list[list[float]] = []
    for v in values:
        if groups and v <= groups[-1][0] * SAME_BUDGET:
            groups[-1].append(v)
        else:
            groups.append([v])
    best: tuple[int, float] = (-1, 0.0)
    for group in groups:
        lo, hi = group[0], group[-1]
        cover = len({scale_of(r) for r in runs if lo <= value(r) <= hi})
        if cover > best[0]:
            best = (cover, float(np.median(group)))
    return best[1], best[0]


def _snap(value: float, base: float) -> float:
    """A budget within SAME_BUDGET of the base is the base."""
    return base if base > 0 and max(value, base) <= min(value, base) * SAME_BUDGET else value


def _base_tokens(unit: str, base: float, n_params: int) -> int:
    return int(round(base * n_params)) if unit == "tokens_per_param" else int(round(base))


def _batches(
    runs: Sequence[ImportedRun], scale_of: Callable[[ImportedRun], int]
) -> tuple[int | None, Callable[[ImportedRun], int] | None]:
    """The base batch (as an axis) and a run's batch, in tokens when known, else sequences."""
    if any(_batch(r) is None for r in runs):
        return None, None
    base, _ = _common(runs, lambda r: float(_batch(r) or 0), scale_of)
    return int(round(base)), lambda r: int(_snap(float(_batch(r) or 0), base))


def _target_batch(t: Target, runs: Sequence[ImportedRun]) -> int | None:
    """The target's batch in the runs' unit: a batch in sequences becomes tokens at the runs' context length
    when the runs give theirs in tokens and all share one."""
    if t.batch_size is not None and t.batch_tokens is None and t.context_length is None:
        contexts = {r.context_length for r in runs}
        if len(contexts) == 1 and None not in contexts and all(r.batch_tokens is not None for r in runs):
            return t.batch_size * int(contexts.pop() or 1)
    return t.batch


def _batch(r: ImportedRun) -> int | None:
    if r.batch_tokens is not None:
        return r.batch_tokens
    return r.batch_size


def _trial(
    r: ImportedRun,
    scale_of: Callable[[ImportedRun], int],
    depth_of: Callable[[ImportedRun], int],
    hps: Sequence[str],
    budget_of: Callable[[ImportedRun], float | None],
    base: float,
    unit: str,
    t_params: int,
    batch_of: Callable[[ImportedRun], int] | None,
    b_base: int | None,
) -> TrialResult:
    budget = budget_of(r)
    scan_tokens = None
    if budget is not None and budget != base:
        scan_tokens = _base_tokens(unit, budget, t_params)
    batch = batch_of(r) if batch_of else None
    return TrialResult(
        parametrization=r.parametrization,
        width=scale_of(r),
        depth=depth_of(r),
        seed=r.seed,
        hparams={h: float(r.hparams[h]) for h in hps if h in r.hparams},
        final_loss=None if r.diverged else r.loss,
        diverged=r.diverged,
        status="diverged" if r.diverged else "completed",
        tokens=scan_tokens,
        batch_size=batch if batch is not None and batch != b_base else None,
        tokens_trained=r.tokens,
    )


def hp_axes(
    runs: Sequence[ImportedRun], hps: Sequence[str], bounds: dict[str, tuple[float, float]] | None = None
) -> list[HPAxis]:
    """One fit axis per swept HP: log2 when every value is positive, over the searched range (`bounds`,
    else the runs' own)."""
    limits = bounds or hp_bounds(runs, hps)
    return [
        HPAxis(name, name in limits and limits[name][0] > 0, *limits.get(name, (0.0, 0.0))) for name in hps
    ]


def hp_bounds(runs: Iterable[ImportedRun], hps: Sequence[str]) -> dict[str, tuple[float, float]]:
    """Each HP's searched range over `runs` (HP units)."""
    runs = list(runs)
    out = {}
    for name in hps:
        values = [r.hparams[name] for r in runs if name in r.hparams]
        if values:
            out[name] = (min(values), max(values))
    return out


def _coverage(unit: str, base: float, t_tokens: int, proxy_tokens: int, scale_name: str, t_scale: int) -> str:
    where = f"the target's size ({scale_name} {t_scale:,})"
    if unit == "none":
        return (
            f"predicted_loss is L(N) of the imported runs extrapolated to {where}; their tokens are not known"
        )
    budget = f"{base:,.0f} tokens per run" if unit == "tokens" else f"{base:.3g} tokens per parameter"
    text = f"predicted_loss is L(N) at the imported runs' base budget ({budget}), extrapolated to {where}"
    if t_tokens == proxy_tokens:
        return text + "; the target trains on that budget"
    return (
        text
        + f". The target trains on {t_tokens:,} tokens: L(N, D) is not fitted, so expect the realized "
        + "loss to "
        + ("be lower" if t_tokens > proxy_tokens else "be higher")
        + " than predicted"
    )
