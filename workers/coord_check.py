"""The coordinate check (TP5 §D.1; microsoft/mup `coord_check`), judged by each parametrization's own
predictions.

Train one model per width (or per depth) for a few steps at a large LR on one fixed batch of real text, and
record for every module output the mean |x| (`l1`), the RMS (`rms`) and the RMS of the change since step 0
(`delta_rms`) before each update. Fit log2(stat) against log2(width) per module, stat and step, and compare
each slope with the one the parametrization's own theory predicts (`workers.coord_predictions`): the
verdict passes iff every judged slope lies within the tolerance of its prediction. A parametrization is a
claim about these exponents and the check tests the implementation against its claim: μP passes by staying
flat, SP by growing where SP predicts growth, u-μP by shrinking its embedding's update like m^-½, and a broken
rule fails, naming the module, the measured slope and the predicted one (docs/coordinate-check.md).

Settings of the check, not of the trial (measured over widths 64..512, GPT depth 2, 3 updates; the numbers
are in docs/coordinate-check.md):
- a zero-initialized readout (TP5 App. D.2, microsoft/mup's recommendation): with a σ-initialized readout
  the logits' change contains W₀·Δh, which μP makes vanish like m^-½ but which dominates at proxy widths
  (−0.27 over 64..512 for a correct μP with AdamW);
- a batch of 4 × 16 = 64 tokens: with 16 tokens μP+SGD's first body update carries a finite-width excess
  at widths 64/128; larger batches stay flat but cost more;
- no weight decay: decoupled decay shrinks each weight by a factor per step, so its share of an
  activation's change scales like the activation itself rather than like the update the LR rule claims,
  and the sum has no sharp exponent (gpu.yaml's independent decay of 0.1 turns u-μP's embedding change
  from −0.52 to +0.02); the decay rules are tested on the resolved table instead;
- 2 seeds, 4 under SGD: SGD's first body update hangs on a few random overlaps (the readout's rank-few
  first update times the body's init), so a width's value varies ±15-20 % across seeds, and the largest
  judged |slope| of a correct μP+SGD is 0.05-0.14 for four disjoint seed pairs, 0.02 over eight seeds;
- a tolerance of 0.15 around flat and shrinking predictions along width: the 2-seed noise above and Adam's
  ε, which damps the smallest gradients at the widest widths (u-μP+ADOPT's body: −0.11; −0.04 with
  ε = 1e-16); 0.25 around growing ones, whose prefactors move while the residual stream's composition
  crosses over inside the ladder (SP's logits at their first update: +0.87 to +1.22 across σ ∈ {0.02,
  1/√64} and optimizers; an MLP branch's init: +1.03 to +1.08); 0.3 along depth, where the residual
  stream's change sums L branch updates whose random parts add like √L beside the coherent Θ(1) sum, so
  it bends down at depths 2..16 (CompleteP: −0.07 to −0.23 over the GPT and MoE families at σ = 1/√64).
  A broken rule moves a slope by ½ or 1.
- an external model (workers/external) keeps its readout σ-initialized: a tied readout is the embedding
  and cannot start at zero, and behind a zero readout SP's judged growth would be the logits' first update,
  whose coherent part depends on how alike the batch's hidden states are (+0.75 over 64..512 on a
  `transformers` Llama, which has no position embedding, against the +1 it tends to), while the logits'
  initial rms is exact under both (SP +½, μP −½: measured +0.49 to +0.51 and −0.49 to −0.52 on the
  examples' decoder, Llama and GPT-2).
- every doubling's own slope is judged too, except the narrowest, at `PAIRWISE_FACTOR` × the tolerance: a
  jump at the widest width (0/0/0/+0.4) fits one line at +0.12 and passes the ladder's fit; its last
  doubling does not. The narrowest doubling carries finite-width terms that fade with width: a correct μP
  moves +0.32 to +0.43 per doubling from 64 to 128 in its branches' changes under SGD (+0.34 for one
  attention branch under AdamW), and ≤ 0.15 beyond.
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

from workers.activations import CoordSite
from workers.config import TrialConfig
from workers.coord_predictions import STATS, predictions
from workers.external import EXTERNAL_FAMILIES
from workers.parametrization import build_model, build_optimizer, make_structure

# A large LR per optimizer: big enough that SP's width dependence shows within a few steps.
DEFAULT_LR = {"adamw": 3e-3, "adopt": 3e-3, "lamb": 3e-3, "muon": 3e-3, "sgd": 2e-2}
DEFAULT_SEEDS = {"sgd": (0, 1, 2, 3)}
# How far a judged slope may sit from its prediction, per axis (see the module docstring).
TOLERANCE = {"width": 0.15, "depth": 0.3, "n_experts": 0.15}
GROWING_TOLERANCE = 0.25
# A single doubling's slope may miss by this many tolerances: it carries one pair's noise, not four points'.
PAIRWISE_FACTOR = 2.0
PAIR_NOISE_SES = 3.0  # ... or this many standard errors of the doubling's slope over the seeds

Slopes = dict[str, dict[str, list[float | None]]]


@dataclass
class CoordCheckReport:
    """JSON-able: `stats[module][stat][step][i]` is the stat at point i (x[i]: widths or depths);
    `slopes` and `predicted` are `[module][stat][step]`, `predicted` None where nothing is judged."""

    axis: str
    x: list[int]
    widths: list[int]
    depths: list[int]
    steps: list[int]
    modules: list[str]
    stats: dict[str, dict[str, list[list[float]]]]
    slopes: Slopes
    predicted: Slopes
    tolerance: float
    growing_tolerance: float
    passed: bool
    failing: list[dict[str, Any]]
    settings: dict[str, Any] = field(default_factory=dict)
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
    for label, site in model.coord_modules().items():

        def keep(
            _m: nn.Module, args: Any, out: Any = None, label: str = label, where: str = site.where
        ) -> None:
            value = args[0] if where == "input" else out
            if isinstance(value, list | tuple):  # an external leaf may return several tensors: the first
                value = next((v for v in value if isinstance(v, torch.Tensor)), None)
            if isinstance(value, torch.Tensor) and value.is_floating_point():
                seen[label] = value.detach().clone()

        if site.where == "input":
            handles.append(site.module.register_forward_pre_hook(keep))
        else:
            handles.append(site.module.register_forward_hook(keep))
    return seen, handles


def _group(label: str, axis: str) -> str:
    """Block outputs are averaged over blocks in the depth variant: 'blocks.3.attn' -> 'blocks.attn'."""
    return re.sub(r"\.\d+(?=\.|$)", "", label) if axis == "depth" else label


def recorded_sites(config: TrialConfig, vocab: int, axis: str) -> dict[str, CoordSite]:
    """What each recorded activation (grouped as `_trajectory` groups them) is, read from the model's
    structure on the meta device (no weights are allocated); an external model's on the CPU, at the ladder's
    first point, since which of its modules are norms is read from how they behave."""
    if config.family in EXTERNAL_FAMILIES:
        model = build_model(config, vocab)
    else:
        with torch.device("meta"):
            model = make_structure(config, vocab)
    sites: dict[str, CoordSite] = {}
    for label, site in model.coord_modules().items():
        sites.setdefault(_group(label, axis), site)
    return sites


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


def pairwise(x: Sequence[float], y: Sequence[float]) -> list[float | None]:
    """The slope of log2(y) on log2(x) over each step of the ladder (x[i] to x[i+1])."""
    return [slope(x[i : i + 2], y[i : i + 2]) for i in range(len(x) - 1)]


def judge(
    x: Sequence[float],
    stats: dict[str, dict[str, list[list[float]]]],
    predicted: Slopes,
    tolerance: float,
    growing_tolerance: float = GROWING_TOLERANCE,
    pair_noise: dict[str, dict[str, list[list[float]]]] | None = None,
) -> tuple[Slopes, list[dict[str, Any]]]:
    """(slopes, failing): every slope of `stats[module][stat][step]` against x, and each judged one that
    misses its prediction: the fit over the whole ladder by more than the tolerance (`growing_tolerance`
    for predictions above 0), or one doubling's slope, any but the narrowest, by more than
    `PAIRWISE_FACTOR` times it (a jump at the widest width that one least-squares line averages away:
    0/0/0/+0.4 fits at +0.12), or by 3 standard errors of that slope over the seeds where that is more
    (`pair_noise[module][stat][step][i]`: SGD's seeds move a width's value by 15-20 %)."""
    slopes = {
        g: {s: [slope(x, per_step) for per_step in values] for s, values in per.items()}
        for g, per in stats.items()
    }
    failing = []
    for g, per in predicted.items():
        for s, expected_by_step in per.items():
            for k, expected in enumerate(expected_by_step):
                measured, values = slopes[g][s][k], stats[g][s][k]
                if expected is None or (measured is None and not any(values)):
                    continue  # not judged, or nothing moved at any size (no trend to fit)
                allowed = growing_tolerance if expected > 0 else tolerance
                entry = {"module": g, "stat": s, "step": k, "predicted": expected}
                if measured is None or abs(measured - expected) > allowed:
                    failing.append({**entry, "measured": measured, "tolerance": allowed})
                    continue
                for i, local in enumerate(pairwise(x, values)):
                    if i == 0 and len(x) > 2:
                        continue  # the narrowest doubling carries the finite-width terms (module docstring)
                    noise = pair_noise[g][s][k][i] if pair_noise and g in pair_noise else 0.0
                    tol = max(PAIRWISE_FACTOR * allowed, PAIR_NOISE_SES * noise)
                    if local is not None and abs(local - expected) > tol:
                        between = [x[i], x[i + 1]]
                        failing.append({**entry, "measured": local, "tolerance": tol, "between": between})
                        break
    return slopes, failing


def _pair_noise(
    points: Sequence[int],
    per_seed: list[list[dict[str, dict[str, list[float]]]]],
    modules: list[str],
    steps: int,
) -> dict[str, dict[str, list[list[float]]]]:
    """[module][stat][step][i]: the standard error over seeds of the slope from points[i] to points[i+1]
    (0 with one seed, or where a seed's value is not positive)."""
    out: dict[str, dict[str, list[list[float]]]] = {}
    n = len(per_seed[0])
    for g in modules:
        out[g] = {}
        for s in STATS:
            out[g][s] = []
            for k in range(steps + 1):
                errors = []
                for i in range(len(points) - 1):
                    local = [
                        slope(points[i : i + 2], [per_seed[i][j][g][s][k], per_seed[i + 1][j][g][s][k]])
                        for j in range(n)
                    ]
                    finite = [v for v in local if v is not None]
                    ok = n > 1 and len(finite) == n
                    errors.append(float(np.std(finite, ddof=1) / math.sqrt(n)) if ok else 0.0)
                out[g][s].append(errors)
    return out


def coord_check(
    config: TrialConfig,
    parametrization: str | None = None,
    optimizer: str | None = None,
    widths: Sequence[int] = (64, 128, 256, 512),
    steps: int = 3,
    seeds: Sequence[int] | None = None,
    lr: float | None = None,
    depths: Sequence[int] | None = None,
    tolerance: float | None = None,
    growing_tolerance: float = GROWING_TOLERANCE,
    batch_size: int = 4,
    context_length: int = 16,
    readout_zero_init: bool = True,
    dtype: torch.dtype = torch.float32,
) -> CoordCheckReport:
    """Run the check for `config`'s model family with the given parametrization/optimizer (default: the
    config's). Varies width over `widths`, or depth over `depths` at config.width when depths is given."""
    start = time.perf_counter()
    parametrization = parametrization or config.parametrization
    optimizer = optimizer or config.optimizer
    lr = lr if lr is not None else DEFAULT_LR.get(optimizer, 1e-2)
    seeds = tuple(seeds) if seeds is not None else DEFAULT_SEEDS.get(optimizer, (0, 1))
    axis = "depth" if depths is not None else "width"
    tolerance = tolerance if tolerance is not None else TOLERANCE[axis]
    points = [int(v) for v in (depths if depths is not None else widths)]
    if len(points) < 2 or len(set(points)) != len(points) or min(points) < 1:
        raise ValueError(f"coord check needs >= 2 distinct positive {axis}s, got {points}")
    if steps < 1 or not seeds:
        raise ValueError(
            f"coord check needs steps >= 1 and at least one seed (got steps={steps}, seeds={seeds})"
        )
    for name, value in (("lr", lr), ("tolerance", tolerance), ("growing_tolerance", growing_tolerance)):
        if not (math.isfinite(value) and value > 0):
            raise ValueError(f"{name} must be finite and > 0, got {value}")
    base = replace(
        config,
        parametrization=parametrization,
        optimizer=optimizer,
        lr=lr,
        weight_decay=0.0,
        context_length=context_length,
        readout_zero_init=readout_zero_init,
    )
    idx, targets, vocab = fixed_batch(base, batch_size, context_length)
    if config.family in EXTERNAL_FAMILIES:  # keep an external model's readout σ-initialized (see above)
        readout_zero_init = False
        base = replace(base, readout_zero_init=False)
    sites = recorded_sites(replace(base, **{axis: points[0]}), vocab, axis)
    predicted = predictions(parametrization, optimizer, axis, sites, range(steps + 1), readout_zero_init)
    if all(p is None for per in predicted.values() for values in per.values() for p in values):
        raise ValueError(
            f"{parametrization} makes no prediction along {axis}: nothing to judge "
            "(along depth only completep, which scales the residual branches, does)"
        )
    runs, per_seed = [], []
    for point in points:
        trajectories = [
            _trajectory(replace(base, seed=seed, **{axis: point}), idx, targets, vocab, steps, axis, dtype)
            for seed in seeds
        ]
        per_seed.append(trajectories)
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
    predicted = {g: predicted[g] for g in modules}  # a leaf whose output is no float tensor is not recorded
    stats = {
        g: {s: [[run[g][s][k] for run in runs] for k in range(steps + 1)] for s in STATS} for g in modules
    }
    noise = _pair_noise(points, per_seed, modules, steps)
    slopes, failing = judge(points, stats, predicted, tolerance, growing_tolerance, noise)
    return CoordCheckReport(
        axis=axis,
        x=points,
        widths=points if axis == "width" else [config.width] * len(points),
        depths=points if axis == "depth" else [config.depth] * len(points),
        steps=list(range(steps + 1)),
        modules=modules,
        stats=stats,
        slopes=slopes,
        predicted=predicted,
        tolerance=tolerance,
        growing_tolerance=growing_tolerance,
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
            "readout_zero_init": readout_zero_init,
            "dtype": str(dtype),
        },
        wall_s=time.perf_counter() - start,
    )
