"""The coordinate check across the number of experts at a fixed active width (Complete-muE, 2025).

Complete-muE's claim: with the routed gates summing to `top_k` and the expert rules read from the active
width, adding experts at a fixed `top_k` and `d_expert` changes no activation's size, at init or after
updates; no parametrization's rule reads n_experts, so every activation is predicted flat
(`workers.coord_predictions`, axis "n_experts"). This varies `moe.n_experts` with everything else fixed,
with the same statistics, fixed batch and verdict as `workers.coord_check`.

The load-balancing loss is off by default here: behind the check's zero readout it is the body's only
gradient at step 0, and Adam turns that tiny gradient into a full-size update whose direction depends on
n_experts by construction (n·Σ f·P), which says nothing about the parametrization (measured: slopes up to
0.38 with weight 0.01, ≤ 0.05 without, depth 1, widths 64, top_k 2, n_experts 4..16). The batch is larger
than the width check's (8 × 16 tokens): with 16 experts and 16 tokens each expert sees about 2 tokens and
the slopes are seed noise (measured up to 0.11 over 6 seeds at mlp_ratio 2; ≤ 0.09 with 128 tokens).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import replace
from typing import Any

import numpy as np
import torch

from workers.config import TrialConfig
from workers.coord_check import DEFAULT_LR, STATS, TOLERANCE, _trajectory, fixed_batch, judge, recorded_sites
from workers.coord_predictions import predictions


def expert_count_check(
    config: TrialConfig,
    n_experts: Sequence[int] = (4, 8, 16),
    steps: int = 3,
    seeds: Sequence[int] = (0, 1),
    lr: float | None = None,
    tolerance: float = TOLERANCE["n_experts"],
    batch_size: int = 8,
    context_length: int = 16,
    aux_loss_weight: float = 0.0,
) -> dict[str, Any]:
    """{'passed', 'failing', 'slopes', 'predicted', 'x'} for `config` (family moe) at each n_experts."""
    if config.family != "moe":
        raise ValueError(f"the expert-count check needs family 'moe', got {config.family!r}")
    points = [int(n) for n in n_experts]
    top_k = (config.moe or {}).get("top_k", 2)
    if len(set(points)) < 2 or min(points) < top_k:
        raise ValueError(f"n_experts needs >= 2 distinct values, each >= top_k ({top_k}); got {points}")
    lr = lr if lr is not None else DEFAULT_LR.get(config.optimizer, 1e-2)
    if not (math.isfinite(lr) and lr > 0):
        raise ValueError(f"lr must be finite and > 0, got {lr}")
    base = replace(config, lr=lr, weight_decay=0.0, context_length=context_length, readout_zero_init=True)
    idx, targets, vocab = fixed_batch(base, batch_size, context_length)
    runs = []
    for n in points:
        point = replace(base, moe={**(config.moe or {}), "n_experts": n, "aux_loss_weight": aux_loss_weight})
        trajectories = [
            _trajectory(replace(point, seed=s), idx, targets, vocab, steps, "width", torch.float32)
            for s in seeds
        ]
        runs.append(
            {
                g: {st: np.mean([t[g][st] for t in trajectories], axis=0) for st in STATS}
                for g in trajectories[0]
            }
        )
    stats = {
        g: {st: [[float(run[g][st][k]) for run in runs] for k in range(steps + 1)] for st in STATS}
        for g in runs[0]
    }
    sites = recorded_sites(base, vocab, "width")
    predicted = predictions(config.parametrization, config.optimizer, "n_experts", sites, range(steps + 1))
    slopes, failing = judge(points, stats, predicted, tolerance)
    return {
        "x": points,
        "slopes": slopes,
        "predicted": predicted,
        "failing": failing,
        "passed": not failing,
        "tolerance": tolerance,
    }
