"""The coordinate check (TP5 §D.1; microsoft/mup `coord_check`), made quantitative (science.md §6).

Train one model per width (or per depth) for a few steps at a large LR on one fixed batch of real text, and
record for every module output the mean |x| (`l1`), the RMS (`rms`) and the RMS of the change since step 0
(`delta_rms`) before each update. Fit log2(stat) against log2(width) per module, stat and step. Under a
correct μP every curve is flat; under SP the hidden and output activations grow with width after the first
update. The verdict passes iff every judged slope has |slope| ≤ tolerance. Judged (`JUDGED`):

- `delta_rms` at every step after ≥ 1 update, every module: μP's promise is Θ(1) feature *updates*
  (TP5 Def. 3.1 / Desideratum); it is the statistic SP violates first;
- `rms` at every step, every module except the one whose *initial* size μP shrinks along the axis by
  design (`SHRINKING_BY_DESIGN`): the logits with width, the residual stream with depth; their change is
  judged.

The check runs by default on a zero-initialized readout (TP5 App. D.2, microsoft/mup's recommendation) and
on a small batch of 4 × 16 = 64 tokens. With a σ-initialized readout the logits' change contains W₀·Δh,
which μP makes vanish like 1/√m but which dominates at proxy widths (measured slope −0.27 over 64..512 for a
correct μP with AdamW). The batch size is a finite-size knob, measured over widths 64..512 (GPT, depth 2,
3 updates; max judged |slope|): with only 16 tokens (2 × 8) the first body update under μP+SGD carries a
finite-width excess that makes widths 64/128 sit high (0.12 with 8 seeds, 0.13-0.20 with 2 seeds), and
CompleteP's depth check is as noisy (0.18 with 6 seeds); with 64 tokens μP+SGD gives 0.04 (8 seeds) /
0.09 (2 seeds), AdamW 0.04, Muon 0.06, CompleteP vs depth 2..8 at width 64 0.08, while SP still fails
with slopes > 1. Larger batches stay flat for μP too (256 tokens: SGD 0.08, AdamW 0.05) but cost more.
Both are settings of the check, not of the trial.
`l1` is recorded for the microsoft/mup-style plot but never judged (it carries the same information as rms).
The depth variant (axis="depth") varies depth at fixed width and averages each kind of block output over
blocks (`blocks.attn`, `blocks.mlp`), so curves are comparable across depths (CompleteP's claim).
"""

from __future__ import annotations

import math
import re
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field, replace
from typing import Any

import numpy as np
import torch
from torch import nn

from workers.config import TrialConfig
from workers.models import build_model
from workers.parametrization import build_optimizer

STATS = ("l1", "rms", "delta_rms")
JUDGED = {
    "delta_rms": "steps >= 1, all modules",
    "rms": "all steps, all modules but logits (width axis) / residual (depth axis)",
}
# A large LR per optimizer: big enough that SP's width dependence shows within a few steps.
DEFAULT_LR = {"adamw": 3e-3, "adopt": 3e-3, "lamb": 3e-3, "muon": 3e-3, "sgd": 2e-2}


@dataclass
class CoordCheckResult:
    """JSON-able: `stats[module][stat][step][i]` is the stat at point i (x[i]: widths or depths)."""

    axis: str
    x: list[int]
    widths: list[int]
    depths: list[int]
    steps: list[int]
    modules: list[str]
    stats: dict[str, dict[str, list[list[float]]]]
    slopes: dict[str, dict[str, list[float | None]]]
    tolerance: float
    passed: bool
    failing: list[dict[str, Any]]
    settings: dict[str, Any] = field(default_factory=dict)
    judged: dict[str, str] = field(default_factory=lambda: dict(JUDGED))
    wall_s: float = 0.0

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON types; a NaN/inf statistic (a diverged width) becomes null."""
        return _json_safe(asdict(self))


def _json_safe(value: Any) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: _json_safe(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_json_safe(v) for v in value]
    return value


def fixed_batch(
    config: TrialConfig, batch_size: int, context_length: int
) -> tuple[torch.Tensor, torch.Tensor, int]:
    """One batch of real text from the trial's dataset (seeded, so every width sees the same tokens)."""
    from workers.data import load_dataset

    data = load_dataset(replace(config, context_length=context_length))
    idx, targets = data.batch("train", batch_size, context_length, seed=1234, index=0)
    return idx, targets, data.vocab_size


def _record(model: nn.Module) -> tuple[dict[str, torch.Tensor], list[Any]]:
    """Forward hooks that keep each coord module's latest activation (detached)."""
    seen: dict[str, torch.Tensor] = {}
    handles = []
    for label, (module, where) in model.coord_modules().items():

        def keep(_m: nn.Module, args: Any, out: Any = None, label: str = label, where: str = where) -> None:
            seen[label] = (args[0] if where == "input" else out).detach().clone()

        if where == "input":
            handles.append(module.register_forward_pre_hook(keep))
        else:
            handles.append(module.register_forward_hook(keep))
    return seen, handles


def _group(label: str, axis: str) -> str:
    """Block outputs are averaged over blocks in the depth variant: 'blocks.3.attn' -> 'blocks.attn'."""
    return re.sub(r"\.\d+(?=\.|$)", "", label) if axis == "depth" else label


def _trajectory(
    config: TrialConfig,
    idx: torch.Tensor,
    targets: torch.Tensor,
    vocab: int,
    steps: int,
    axis: str,
    dtype: torch.dtype,
) -> dict[str, dict[str, list[float]]]:
    """stats[module][stat][step] for one model trained `steps` updates on the fixed batch."""
    model = build_model(config, vocab).to(dtype)
    optimizer = build_optimizer(model, config)
    seen, handles = _record(model)
    first: dict[str, torch.Tensor] = {}
    sums: dict[str, dict[str, list[float]]] = {}
    counts: dict[str, int] = {}
    try:
        for step in range(steps + 1):
            _, loss = model(idx, targets)
            for label, x in seen.items():
                first.setdefault(label, x)
                group = _group(label, axis)
                values = (x.abs().mean(), x.pow(2).mean().sqrt(), (x - first[label]).pow(2).mean().sqrt())
                per_stat = sums.setdefault(group, {s: [0.0] * (steps + 1) for s in STATS})
                for stat, value in zip(STATS, values, strict=True):
                    per_stat[stat][step] += float(value)
                if step == 0:
                    counts[group] = counts.get(group, 0) + 1
            if step < steps:
                assert loss is not None
                optimizer.zero_grad(set_to_none=True)
                loss.backward()
                optimizer.step()
    finally:
        for handle in handles:
            handle.remove()
    return {g: {s: [v / counts[g] for v in vals] for s, vals in per.items()} for g, per in sums.items()}


def slope(x: Sequence[float], y: Sequence[float]) -> float | None:
    """Least-squares slope of log2(y) on log2(x); None when some y is not a positive finite number."""
    if any(not (math.isfinite(v) and v > 0) for v in y):
        return None
    return float(np.polyfit(np.log2(x), np.log2(y), 1)[0])


# Activations whose *initial* size μP deliberately shrinks along the axis, so only their change is judged:
# the logits with width (readout × α_out/m, TP5 Table 8) and the residual stream with depth (L branches
# × L^-α sum to L^(½−α) at init, Dey et al. 2025).
SHRINKING_BY_DESIGN = {"width": "logits", "depth": "residual"}


def is_judged(module: str, stat: str, step: int, axis: str) -> bool:
    """Whether the verdict reads this slope (see the module docstring)."""
    if stat == "delta_rms":
        return step >= 1
    return stat == "rms" and module != SHRINKING_BY_DESIGN[axis]


def coord_check(
    config: TrialConfig,
    parametrization: str | None = None,
    optimizer: str | None = None,
    widths: Sequence[int] = (64, 128, 256, 512),
    steps: int = 3,
    seeds: Sequence[int] = (0, 1),
    lr: float | None = None,
    depths: Sequence[int] | None = None,
    tolerance: float = 0.1,
    batch_size: int = 4,
    context_length: int = 16,
    readout_zero_init: bool = True,
    dtype: torch.dtype = torch.float32,
) -> CoordCheckResult:
    """Run the check for `config`'s model family with the given parametrization/optimizer (default: the
    config's). Varies width over `widths`, or depth over `depths` at config.width when depths is given."""
    start = time.perf_counter()
    parametrization = parametrization or config.parametrization
    optimizer = optimizer or config.optimizer
    lr = lr if lr is not None else DEFAULT_LR.get(optimizer, 1e-2)
    axis = "depth" if depths is not None else "width"
    points = [int(v) for v in (depths if depths is not None else widths)]
    if len(points) < 2 or len(set(points)) != len(points) or min(points) < 1:
        raise ValueError(f"coord check needs >= 2 distinct positive {axis}s, got {points}")
    if steps < 1 or not seeds:
        raise ValueError(
            f"coord check needs steps >= 1 and at least one seed (got steps={steps}, seeds={seeds})"
        )
    if not (math.isfinite(lr) and lr > 0) or not (math.isfinite(tolerance) and tolerance > 0):
        raise ValueError(f"lr and tolerance must be finite and > 0 (got lr={lr}, tolerance={tolerance})")
    base = replace(
        config,
        parametrization=parametrization,
        optimizer=optimizer,
        lr=lr,
        context_length=context_length,
        readout_zero_init=readout_zero_init,
    )
    idx, targets, vocab = fixed_batch(base, batch_size, context_length)
    runs = []
    for point in points:
        trajectories = [
            _trajectory(replace(base, seed=seed, **{axis: point}), idx, targets, vocab, steps, axis, dtype)
            for seed in seeds
        ]
        runs.append(
            {
                g: {
                    s: [float(np.mean([t[g][s][k] for t in trajectories])) for k in range(steps + 1)]
                    for s in STATS
                }
                for g in trajectories[0]
            }
        )
    modules = list(runs[0])
    stats = {
        g: {s: [[run[g][s][k] for run in runs] for k in range(steps + 1)] for s in STATS} for g in modules
    }
    slopes = {
        g: {s: [slope(points, stats[g][s][k]) for k in range(steps + 1)] for s in STATS} for g in modules
    }
    failing = []
    for g in modules:
        for s in STATS:
            for k in range(steps + 1):
                if not is_judged(g, s, k, axis):
                    continue
                value = slopes[g][s][k]
                if value is None and all(v == 0 for v in stats[g][s][k]):
                    continue  # nothing moved at any size: no trend (the body at step 1 behind a zero readout)
                if value is None or abs(value) > tolerance:
                    failing.append({"module": g, "stat": s, "step": k, "slope": value})
    return CoordCheckResult(
        axis=axis,
        x=points,
        widths=points if axis == "width" else [config.width] * len(points),
        depths=points if axis == "depth" else [config.depth] * len(points),
        steps=list(range(steps + 1)),
        modules=modules,
        stats=stats,
        slopes=slopes,
        tolerance=tolerance,
        passed=not failing,
        failing=failing,
        settings={
            "family": config.family,
            "parametrization": parametrization,
            "optimizer": optimizer,
            "lr": lr,
            "seeds": list(seeds),
            "base_width": config.base_width,
            "base_depth": config.base_depth,
            "batch_size": batch_size,
            "context_length": context_length,
            "dtype": str(dtype),
        },
        wall_s=time.perf_counter() - start,
    )
