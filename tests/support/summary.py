"""Trials with known values for the trial-summary tests, and the summary recomputed from them in plain Python
(no SQL, bins found with logarithms rather than edges), so the store's aggregates are checked against an
independent computation, not against themselves."""

from __future__ import annotations

import math
import random
import statistics
from collections import defaultdict
from typing import Any

import pytest

from orchestrator.store import HpAxis, SweepStore
from orchestrator.store.models import Trial

GroupKey = tuple[str, int, int, int | None, int | None]
# per group, per hyperparameter: (value, best, mean, sem, count, diverged), by ascending value
Summary = dict[GroupKey, dict[str, list[tuple[float, float | None, float | None, float | None, int, int]]]]


def store_trials(store: SweepStore, sweep_id: int, rows: list[dict[str, Any]]) -> None:
    """Insert trial rows (the Trial columns as a dict; keys made up when absent) as the runner would."""
    with store.session() as session:
        for i, row in enumerate(rows):
            session.add(Trial(sweep_id=sweep_id, trial_key=f"t{i}", search_index=i, attempts=1, **row))


def grid_trials(lrs: list[float], stds: list[float], seeds: int = 2) -> list[dict[str, Any]]:
    """A 2-HP grid for SP and μP at two widths and two seeds, plus a token scan at width 32: a few trials
    diverge, some have no validation loss (the train loss counts), some never finished (nothing counts)."""
    rows = []
    rng = random.Random(1)
    for p in ("sp", "mup"):
        for width, tokens in ((32, None), (64, None), (32, 4096)):
            for lr in lrs:
                for std in stds:
                    for seed in range(seeds):
                        loss = 2.0 + 0.1 * math.log2(lr) ** 2 / 16 + 0.05 * math.log2(std) ** 2 / 4
                        loss += 0.3 * 32 / width + rng.gauss(0, 0.01) + 0.1 * (p == "sp")
                        row = completed(p, width, seed, {"lr": lr, "init_std": std}, loss, tokens=tokens)
                        if p == "sp" and width == 64 and lr == lrs[-1]:
                            row |= {"status": "diverged", "diverged": True, "final_val_loss": None}
                            row |= {"final_loss": None}
                        elif seed == 1 and std == stds[0]:
                            row["final_val_loss"] = None  # the train loss stands in
                        elif seed == 1 and std == stds[-1] and lr == lrs[0]:
                            row |= {"status": "running", "final_val_loss": None, "final_loss": None}
                        rows.append(row)
    rows.append(completed("mup", 32, 0, {"lr": lrs[0], "init_std": stds[0]}, 9.0) | {"status": "failed"})
    return rows


def completed(
    p: str, width: int, seed: int, hparams: dict[str, float], loss: float, tokens: int | None = None
) -> dict[str, Any]:
    return {
        "parametrization": p,
        "width": width,
        "depth": 2,
        "seed": seed,
        "hparams": hparams,
        "status": "completed",
        "diverged": False,
        "final_val_loss": loss,
        "final_loss": loss + 0.05,
        "best_loss": loss,
        "tokens": tokens,
    }


def objective(row: dict[str, Any]) -> float | None:
    return row["final_val_loss"] if row.get("final_val_loss") is not None else row.get("final_loss")


def bin_of(value: float, axis: HpAxis) -> int:
    assert axis.bins is not None and axis.low is not None and axis.high is not None
    if axis.log:
        t = math.log(value / axis.low) / math.log(axis.high / axis.low)
    else:
        t = (value - axis.low) / (axis.high - axis.low)
    return min(max(math.floor(t * axis.bins), 0), axis.bins - 1)


def bin_centre(i: int, axis: HpAxis) -> float:
    assert axis.bins is not None and axis.low is not None and axis.high is not None
    t = (i + 0.5) / axis.bins
    return axis.low * (axis.high / axis.low) ** t if axis.log else axis.low + (axis.high - axis.low) * t


def expected_summary(rows: list[dict[str, Any]], axes: list[HpAxis]) -> Summary:
    """The summary as defined: per group and value (or bin), best over the other HPs' configurations (each
    averaged over its seeds), mean and standard error over the completed trials, and the diverged count."""
    cells: dict[tuple[GroupKey, str, float], dict[str, Any]] = {}
    for row in rows:
        scored = row["status"] == "completed" and not row.get("diverged") and objective(row) is not None
        if not scored and not row.get("diverged"):
            continue
        group = (row["parametrization"], row["width"], row["depth"], row.get("tokens"), row.get("batch_size"))
        for axis in axes:
            value = row["hparams"].get(axis.name)
            if value is None or (axis.log and value <= 0):
                continue
            x = bin_centre(bin_of(value, axis), axis) if axis.bins else float(value)
            cell = cells.setdefault(
                (group, axis.name, x), {"configs": defaultdict(list), "losses": [], "div": 0}
            )
            if scored:
                cell["configs"][tuple(sorted(row["hparams"].items()))].append(objective(row))
                cell["losses"].append(objective(row))
            cell["div"] += bool(row.get("diverged"))
    out: Summary = {}
    for (group, hp, x), cell in sorted(cells.items(), key=lambda item: (str(item[0][:2]), item[0][2])):
        losses = cell["losses"]
        best = min((statistics.fmean(c) for c in cell["configs"].values()), default=None)
        mean = statistics.fmean(losses) if losses else None
        sem = statistics.stdev(losses) / math.sqrt(len(losses)) if len(losses) > 1 else None
        out.setdefault(group, {}).setdefault(hp, []).append((x, best, mean, sem, len(losses), cell["div"]))
    return out


def summary_of(groups: list[dict[str, Any]]) -> Summary:
    """The API's (or the store's, as dicts) groups in `expected_summary`'s shape."""
    return {
        (g["parametrization"], g["width"], g["depth"], g["tokens"], g["batch_size"]): {
            hp: [(p["value"], p["best"], p["mean"], p["sem"], p["count"], p["diverged"]) for p in points]
            for hp, points in g["points"].items()
        }
        for g in groups
    }


def assert_same(actual: Summary, expected: Summary) -> None:
    """Counts equal; value, best, mean and sem equal to rounding (None where the other is None)."""
    assert actual.keys() == expected.keys()
    for group, per_hp in expected.items():
        assert actual[group].keys() == per_hp.keys(), group
        for hp, points in per_hp.items():
            got = actual[group][hp]
            assert [p[4:] for p in got] == [p[4:] for p in points], (group, hp)  # counts exactly
            for a, e in zip(got, points, strict=True):
                for x, y in zip(a[:4], e[:4], strict=True):  # value, best, mean, sem
                    assert (x is None) == (y is None), (group, hp, a, e)
                    assert x is None or x == pytest.approx(y, rel=1e-9, abs=1e-12), (group, hp, a, e)
