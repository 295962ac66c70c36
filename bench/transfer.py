"""The headline measurement: does an LR tuned on narrow proxies transfer to a wide target, and at what cost?

Per parametrization (default `mup,sp,sp-embedding-lr`), with the product's training function
(`orchestrator.trial_config.trial_config` → `workers.train.train`, in-process: a bench, not the service) and
`--seeds N` seeds for every run:
1. the preflight coordinate check the service runs (every parametrization but `sp`), timed and counted;
2. the LR grid at every proxy width × seed, widened by two half-octave points wherever a width's seed-mean
   optimum sits at an edge (docs/planner.md: widen and resample);
3. the product's planner (`orchestrator.planner.build_plan`) on those runs → the transferred LR;
4. the oracle, placed before the transfer is looked at: the target width swept directly on a grid centred
   on the widest proxy's fitted optimum (±1 octave, half-octave steps), widened one point at a time while its
   seed-mean optimum sits at an edge, then refined by two points a quarter octave either side of that
   optimum; and the target at the transferred LR (one run per seed), which may fall anywhere on that grid.

What is reported (docs/benchmark.md has the definitions and the reasoning):
- the oracle's optimum and the regret are read off fitted curves, not grid points: a parabola in log2 LR
  through the seed-mean losses within one octave of the grid's best (every run at the target: the oracle's
  and the transferred ones) gives η_oracle (its vertex) and L_oracle. Per seed s the same window's parabola
  gives r_s = L̂_s(η_transferred) / L̂_s(η_oracle) − 1, paired (same seed: same init, batches and held-out
  batches); `regret_mean` with a 95 % Student-t interval over seeds (`regret_ci`, df = N − 1). A regret of
  exactly 0 now means the transfer landed on the fitted optimum, not on a grid point. The grid reading of
  earlier runs (L_s(η_transferred) over L_s at the best grid point, the transferred run being the grid's
  centre) is kept as `regret_grid` for comparison.
- `noise_floor`: the std over seeds (ddof 1) of the target's loss at η_oracle, relative to its mean. Goal:
  μP's regret ≤ max(0.5 %, noise floor).
- `compute_fraction_vs_target_run` (TP5's measure, Yang et al. 2022: "about 7 % of one pretraining run"): all
  of that parametrization's proxy FLOPs (every grid point, seed and widening, and its coordinate check) over
  ONE target training run's FLOPs. FLOPs = 6·N_total·D + 6·L·T·d per token (Kaplan et al. 2020's forward
  2N + 2·n_layer·n_ctx·d_attn, ×3 for the backward), N_total every weight including the token and position
  embeddings and the readout (Chinchilla's convention of counting the embedding as a matmul), which
  overstates the narrow proxies' share. `wall_fraction_vs_target_run` is the same ratio in seconds measured
  in this run; `compute_fraction_vs_direct_sweep` divides by the oracle sweep instead (named as such: it is
  not TP5's measure). `all_parametrizations` gives the fractions for the whole run (all parametrizations).
- the transfer-quality metrics of Kalra & Barkeshli 2026 (orchestrator/planner/quality.py, README
  "Transfer quality"): `fit_error_octaves`, `robustness_exponent`, `expected_penalty_at_target` and
  `asymptotic_penalty` (here
  fitted to the proxies' leave-one-out penalties and the target's measured regret).

The loss is the final validation loss on `eval_batches` held-out batches (quick: 64 × 8 × 64 = 32,768
tokens; the trials' default is 4 batches). The base init is fixed in the bench (σ = base_width^-½), not taken
from the worker's default. `--data PATH` trains on a UTF-8 text file (char-tokenized) or, with
`--data-dtype uint16|uint32`, a flat token file (vocabulary: its largest id + 1, or `--vocab-size`).

    .venv/bin/python bench/transfer.py --quick [--seeds 3] [--json] [--out results.json]
        [--parametrizations mup,sp,sp-embedding-lr] [--vary width|depth|tokens] [--family gpt|mlp|moe|hf]
        [--data PATH [--data-dtype uint16|uint32] [--vocab-size V]] [--jobs 2] [--threads 1] [--estimate]
        [--device auto|cpu|cuda] [--export-runs runs.csv]

`--export-runs PATH` writes every training run (proxies with their widenings, the oracle, the transferred
run; not the coordinate check) in the import format (docs/import.md; `.jsonl` for JSON lines), one row per
run, so that `read_runs` and `run_backtest` can ask what the planner would have predicted at a width it did
not see and set that against the bench's own regret (docs/benchmark.md, "Backtest of the bench's own runs").

Quick mode, fixed before measuring from a cost estimate (`--estimate` times 10 steps per width): proxies at
widths 16, 32 and 64 (1/16, 1/8 and 1/4 of the target: 16 is one 16-dim head, the narrowest the model
allows; three widths are what the fit error needs), target 256, depth 2, 200 steps of batch 8 × 64 chars,
13 LRs 2^-12..2^-6, 3 seeds, base width 32. Timed on the dev machine (1 thread, another session loading
the 2 cores): a step costs 0.006 / 0.010 s at widths 32 / 64, 0.072 s at 256, 0.26 s at 512 and 1.27 s at
1024, about twice that with two runs at once. The oracle dominates: 3 parametrizations × 3 seeds × 5 points
is 45 target runs; at 512 that is ≈ 45 × 100 s / 2 jobs ≈ 38 min of oracle alone, over the 45-minute
budget once the proxies (117 grid runs × 3 widths, ≈ 8 min) are added, so the target is 256 (≈ 12 min of
oracle, ≈ 25 min in all). Five oracle points at half-octave steps around the widest proxy's optimum, placed
before the transfer is read, two refining points and the transferred run (8 runs per seed, 5 before
2026-12-08) bracket the target's optimum and the widening rule catches larger misses; a grid as wide as the
proxies' (13 points) would cost more for points far from either optimum.

Full mode (a GPU's budget): proxies 32, 64, 128 (≤ 1/16 of the 2048-wide target), depth 4, 1,000 steps of
32 × 128 tokens, 9 LRs 2^-12..2^-8 (widened where an optimum sits at an edge), 1 seed: by the accounting above
TP5's fraction is 5.5 % per parametrization (13 LRs: 8.0 %; 3 seeds: 16.6 %). The quick mode's sizes give
430 % (13 LRs × 3 seeds at 1/16..1/4 of the target): the CPU cannot afford a target 16× the widest proxy.

Measured 2026-12-04 (`--quick --seeds 3 --json`, default parametrizations, 2 runs at a time on the 2-core
dev machine shared with other sessions: load average 5.8 mean, 9.3 max): 1,975 s in all (the two workers
used 1,604 CPU-seconds). Regret is paired by seed, 95 % t-interval; compute is TP5's measure (FLOPs, and
summed run seconds) against ONE 256-wide target run; copying = the 64-wide proxy's optimum used verbatim.

| | lr transferred | lr oracle | regret [95 % CI] | noise floor | compute; wall | /sweep | copying |
|---|---|---|---|---|---|---|---|
| μP | 0.00951 (γ = 0 kept) | 0.00951 | 0.00 % [0.00, 0.00] | 1.20 % | 433 %; 1,981 % | 29 % | 0.06 % |
| SP | 0.00275 (γ = −0.65) | 0.00549 | 1.70 % [0.81, 2.58] | 0.67 % | 435 %; 2,309 % | 24 % | 0.26 % |
| SP+emb | 0.00213 (γ = −0.75) | 0.00601 | 1.45 % [−0.26, 3.17] | 0.88 % | 438 %; 1,948 % | 21 % | 0.02 % |

Transfer quality (quality.py), for μP / SP / SP+emb (SP with the embedding LR × m): fit error 0.21 / 0.07 /
0.03 octaves, κ 1.81 / 1.81 / 1.96, expected penalty at the target 0.21 % / 0.08 % / 0.07 %, asymptotic
penalty −0.02 % / 1.04 % / 0.88 % (from the proxies alone: −0.03 % / 0.03 % / 0.004 %). The whole run's
proxies (all three parametrizations): 1,305 % of one target run.

μP meets its regret goal (the transferred LR was the oracle's best point, within the half-octave grid; noise
floor 1.2 %). Both SP variants miss it: their optima drift by 0.6-0.8 octave per doubling of width from 16 to
64 but by only ≈ 0-0.15 from 64 to 256, so the fitted power law overshoots by 1-1.5 octaves, which neither the
fit error nor the expected penalty (in-sample quantities) foresaw; only the target's measured point moves the
asymptotic penalty. Seed 004's finding (SP with a width-scaled embedding LR transfers nearly as well as μP) is
not reproduced for the planner's procedure (1.45 % vs 0.00 %, 3 seeds, interval [−0.26, 3.17] %): copying its
64-wide optimum would have cost 0.02 % (μP's 0.06 %, plain SP's 0.26 %), but nothing in the proxies says to
copy rather than extrapolate. TP5's 7 % is missed by design at these sizes (see above).

The same, `--data` on a corpus the bench was never developed on (the first 4 MB of Vim's help files, 1,450
characters), `--parametrizations mup,sp-embedding-lr`, 1,130 s (load 3.7 mean): μP lr 0.0100 vs oracle 0.0100,
regret 0.00 % [0.00, 0.00], noise floor 0.49 %, copying 0.03 %; SP+emb lr 0.00437 (γ = −0.46) vs 0.00618,
regret 0.12 % [−0.23, 0.46], noise floor 0.61 %, copying 0.24 %; compute 802 % of one target run each (the
1,450-character vocabulary weighs on the narrow proxies); fit error 0.29 / 0.11 octaves, κ 1.81 / 1.94,
asymptotic penalty 0.03 % / 0.07 %. Here Kalra & Barkeshli's finding is reproduced (both meet their goals;
μP's loss is lower, 2.827 vs 2.919): it holds on one corpus of two.

`--family hf --parametrizations mup,sp` (a `transformers` Llama from `HF_LLAMA`; quick sizes unchanged),
726 s (load 2.3 mean): μP γ = −0.02 [−0.18, +0.12], lr 0.0111 vs oracle 0.0157, regret 0.53 % [−2.1, +3.2],
noise floor 1.78 %; SP γ = −0.49 [−0.84, −0.09], lr 0.0043 vs 0.0061, regret 0.42 % [−0.7, +1.6], noise
floor 1.10 %; target loss 2.125 (μP) vs 2.322 (SP); compute 478 % / 438 % of one target run
(docs/external-models.md).

`--vary depth` (CompleteP proxies at depths 2 and 4 → depth 8) and `--family moe` keep their spec and run the
same procedure; their figures in earlier versions of this docstring were measured with the previous one-seed
procedure (regret against a 15-point sweep, compute against the whole direct sweep) and are withdrawn.

Transfer across the token horizon (`--vary tokens`; docs/benchmark.md has the same section). The question: the
target trains 8× longer than the proxies' base budget; does the planner's horizon correction (a law
u*(D) = u₀ + γ_D·log2 D fitted to a token scan, orchestrator/planner/horizon.py) give the target a better LR
than copying the width-only transfer across the horizon? Design, fixed before measuring:
- μP only by default (`--parametrizations` overrides): its width law is the best-behaved (headline), so what
  is left to miss is the horizon. Width sweep at the base budget at proxies 16, 32 and 64 (13 LRs
  2^-12..2^-6, 3 seeds, widening, base width 32, depth 2: the headline's conventions and 200 steps of
  8 × 64 tokens, 102,400 tokens per run); the token scan at 2× and 4× the base (400 and 800 steps) at the
  narrowest proxy width only (`proxy.scan_widths: narrowest`, the planner's default), the same grid and
  seeds; the target 128 wide (2× the widest proxy) at depth 2, on 8× the base (`target.tokens`
  819,200: 1,600 steps). Three budgets give the horizon law a residual degree of freedom and a two-octave
  lever arm, and leave one octave of extrapolation (4× → 8×) instead of two.
- Corrected LR (`lr_corrected`, = `lr_transferred`): the plan's LR, with its horizon move. Width-only LR
  (`lr_copied`): the plan's LR before that move, read from `plan.parametrizations[p].moves` (the "horizon"
  entry's factor): lr_copied = lr_corrected / factor. As a check the same trials without the scan are
  planned again with the target at the base budget (`lr_width_only_plan`): the width law reads only the
  base-budget trials, so the two must agree; this is what the planner transfers when it ignores the
  horizon.
- Oracle: the target swept around the corrected LR (±1 octave, half-octave steps), its grid extended by
  half-octave points until it brackets the copied LR, plus a run at the copied LR itself where that falls
  between grid points (kind "copied"); widened one point at a time while its seed-mean optimum sits at an
  edge. Both regrets are read off the same oracle point on the same seeds: r_s = L_s(η) / L_s(η_oracle) − 1
  for η = the corrected and the copied LR, paired by seed (`regret_corrected`, `regret_copied`, each with a
  95 % t interval and by seed), and their paired difference copied − corrected (`regret_difference_*`): the
  correction "pays off" beyond noise when that interval lies above 0 (`correction_pays_off_beyond_noise`),
  "costs" when it lies below, "within noise" otherwise. `noise_floor` as in the headline.
- `gamma_horizon` (the fitted γ_D and its interval, the plan's level, at `horizon_fit_width`),
  `horizon_optima` (the scan width's optimum per budget), `horizon_move` (the plan's move).
- `compute_fraction_vs_target_run`: every proxy FLOP (the width sweep, the scan and the coordinate check)
  over ONE target run at 8× the base budget. The width metrics (fit error, asymptotic penalty) are reported
  as in the headline, but the target point they add is at 8× the budget, so they mix the two axes.
Cost (`--vary tokens --quick --estimate`, 1 thread, another session loading the 2 cores at load ≈ 3): a step
costs 0.006 / 0.010 / 0.017 / 0.031 s at widths 16 / 32 / 64 / 128 (the lower of two estimates; the other,
under heavier load, was up to 9× slower at width 16); 195 proxy runs (117 width sweep, 78 scan) ≈ 570
single-core seconds and 18 target runs (6 LRs × 3 seeds) ≈ 900, i.e. 730 s with two runs at once on idle
cores. The headline quick run took 2.5× its two-job ideal on this loaded machine (1,975 s for 1,604
CPU-seconds over 2 processes), which gives ≈ 30 min here, widenings and the coordinate check not counted:
inside the 45-minute budget. A 256-wide target at this budget (0.07-0.16 s a step, 1,600 steps, 18 runs) would
take the oracle alone past 45 minutes; a 100-step base would halve the horizon the scan sees. TP5's measure by
the estimate: 292 % of one target run (the target is only 2× the widest proxy).
Can the quick mode show the effect? Perhaps not. The literature's optimum falls by a fraction of an octave
per doubling of the tokens (Bjorck et al. 2025), so three doublings may move it by ≈ 0.5-1 octave; on the
headline's flat basins (κ ≈ 1.8) an LR half an octave off costs ≈ 0.1-0.5 % of loss, of the order of a
three-seed paired interval, and γ_D fitted from three budgets at width 16 carries its own error of several
tenths of an octave over three doublings. A "within noise" outcome is therefore likely and would not say the
horizon effect is absent; it would say this budget cannot resolve it. The scan runs at width 16 (one head):
μP promises a width-invariant optimum, not a width-invariant horizon law, and the bench measures the
planner's default, not the best place to scan.
Full mode (a GPU, `--device cuda`; not run here): proxies 32, 64, 128 at depth 4, 1,000 steps of 32 × 128
tokens (4.1 M per run), the scan at width 32 at 2× and 4×, the target 1024 wide on 8× (8,000 steps, 32.8 M
tokens, ≈ 1.0e16 FLOPs a run), 9 LRs; TP5's measure 3.8 % with one seed (11.4 % with `--seeds 3`). One seed
gives no interval, so the verdict needs `--seeds 3` (the oracle is then ≈ 18 target runs, ≈ 1.8e17 FLOPs).
Measured 2026-12-04 (`--vary tokens --quick --json`, 2 runs at a time, the 2 cores shared: load 3.5 mean,
7.0 max): 1,320 s in all (the proxies 11 min, no widening was needed; 1,668 CPU-seconds). The scan's optima at
width 16 fell 0.00784 → 0.00769 → 0.00668 over 1×, 2×, 4× the base: γ_D = −0.137 per doubling (90 %
interval [−0.297, −0.016]), so the plan moved the LR by −0.41 octave: lr_corrected 0.00700, lr_copied
0.00930 (the width-only plan agrees: 0.00930). The oracle at width 128 on 8× the base (seed-mean losses at
0.0035 / 0.0049 / 0.0070 / 0.0093 / 0.0099 / 0.0140: 1.825 / 1.742 / 1.690 / 1.677 / 1.683 / 1.747) put
its optimum at the copied LR: regret_corrected 0.76 % [0.32, 1.20] (by seed 0.56, 0.89, 0.84 %),
regret_copied 0.00 % [0.00, 0.00], noise floor 0.65 %; copied − corrected −0.76 % [−1.20, −0.32]: the
correction COSTS, beyond noise, and μP misses its regret goal with it (0.76 % > 0.65 %). The copied LR's 0 is
flattered by the oracle picking its best point on the same seeds, but the next grid point (0.0099) also beats
the corrected LR by ≈ 0.4 %. Compute: 293 % of one target run by FLOPs (the scan included; 16 % of the
oracle sweep), 2,164 % in summed run seconds, 1,210 % in process time. So at this budget the horizon law
fitted at width 16 did not hold at width 128: the target's optimum at 8× sits where the width-only transfer
put it (the headline's 256-wide target at the base budget had its μP optimum at 0.0095, a hint, from another
run and width, that the target's optimum barely moved with the horizon). Whether the law fails across width
(one 16-wide head), in the extrapolation from 4× to 8×, or only at these tiny budgets is not separated here.
The same quick design on an NVIDIA H200 (`--device cuda --jobs 8`, 136 s; Python 3.12's standard library as
the corpus there): γ_D = −0.21 [−0.86, +0.50], move −0.64 octave, the oracle again at the copied LR,
regret_corrected 0.57 % [−0.58, +1.73], copied − corrected −0.57 % [−1.73, +0.58]: within noise (floor
0.87 %), same sign. The full mode was not run (it needs far more than the 15 GPU minutes that session had).
"""

from __future__ import annotations

import argparse
import json
import math
import os
import sys
import time
from collections.abc import Callable
from concurrent.futures import Executor, ProcessPoolExecutor, as_completed
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np
import torch
from scipy import stats

from orchestrator.planner import Plan, build_plan
from orchestrator.planner.horizon import HORIZON
from orchestrator.planner.model_size import params_for, target_tokens
from orchestrator.planner.numeric import json_safe
from orchestrator.planner.quality import asymptotic_penalty, asymptotic_penalty_interval
from orchestrator.planner.types import TrialResult
from orchestrator.spec import ModelSpec, SweepSpec, parse_spec, preflight_widths
from orchestrator.trial_config import target_steps, trial_config
from workers.train import train


@dataclass(frozen=True)
class Mode:
    """The sizes of one bench run: proxies, targets, budget, LR grid and seeds."""

    proxy_widths: list[int]
    target_width: int  # --vary width, dense families
    moe_target_width: int  # --vary width --family moe: the MoE dispatch is the slow part on CPU
    depth_target_width: int  # --vary depth: the target is also at depth 8
    depth: int
    steps: int
    batch_size: int
    context_length: int
    lr_low: float
    lr_high: float
    lr_points: int
    base_width: int
    seeds: int
    eval_batches: int = 64
    oracle_span: float = 1.0  # octaves each side of the transferred LR
    oracle_step: float = 0.5  # octaves between oracle points
    proxy_widenings: int = 3  # rounds of two extra LRs where a proxy's optimum is at an edge
    oracle_widenings: int = 4  # rounds of one extra LR where the oracle's optimum is at an edge
    # --vary tokens (module docstring, "Transfer across the token horizon")
    tokens_target_width: int = 128
    token_multiples: tuple[int, ...] = (2, 4)  # the token scan's budgets, × steps × batch × context
    target_token_multiple: int = 8  # the target's tokens, × the base


# fmt: off
MODES = {
    # why these sizes: the module docstring (a cost estimate, fixed before measuring)
    "quick": Mode([16, 32, 64], 256, 256, 256, 2, 200, 8, 64, 2.0**-12, 2.0**-6, 13, 32, 3),
    # proxies ≤ 1/16 of the target and 9 LRs × 1 seed: TP5's fraction 5.5 % per parametrization (docstring)
    "full": Mode([32, 64, 128], 2048, 2048, 2048, 4, 1000, 32, 128, 2.0**-12, 2.0**-8, 9, 32, 1,
                 tokens_target_width=1024),
}
# fmt: on
DEFAULT_PARAMETRIZATIONS = {"width": "mup,sp,sp-embedding-lr", "depth": "completep,mup", "tokens": "mup"}
# workers.coord_check's defaults, used only when its result does not say what it ran
COORD_CHECK = {"steps": 3, "seeds": [0, 1], "batch_size": 4, "context_length": 16}
CI_LEVEL = 0.95
REGRET_GOAL = 0.005


def width_spec(mode: Mode, family: str, parametrizations: list[str]) -> dict[str, Any]:
    """The spec a user would submit for this bench: proxies vary the width, the target is wider."""
    target = mode.moe_target_width if family == "moe" else mode.target_width
    model: dict[str, Any] = {"family": family, "depth": mode.depth, "context_length": mode.context_length}
    if family == "hf":
        model["config"] = HF_LLAMA
    return {
        "name": f"bench-transfer-{family}-width",
        "model": model,
        "parametrizations": parametrizations,
        "base_width": mode.base_width,
        "proxy": {
            "widths": mode.proxy_widths,
            "steps": mode.steps,
            "batch_size": mode.batch_size,
            "eval_every": mode.steps,
            "seeds": list(range(mode.seeds)),
        },
        "search": {
            "algorithm": "grid",
            "space": {
                "lr": {
                    "scale": "log",
                    "low": mode.lr_low,
                    "high": mode.lr_high,
                    "grid_points": mode.lr_points,
                }
            },
        },
        "target": {"width": target, "steps": mode.steps},
    }


def depth_spec(mode: Mode, family: str, parametrizations: list[str]) -> dict[str, Any]:
    """Proxies at depths 2 and 4 (at every proxy width, which the width fit needs), the target at depth 8 and
    `depth_target_width` (CompleteP's claim: the depth law is applied on top of the width law)."""
    spec = width_spec(mode, family, parametrizations)
    spec["name"] = f"bench-transfer-{family}-depth"
    spec["model"]["depth"] = 2
    spec["base_depth"] = 2
    spec["proxy"] = {**spec["proxy"], "depths": [2, 4]}
    spec["target"] = {"width": mode.depth_target_width, "depth": 8, "steps": mode.steps}
    return spec


def tokens_spec(mode: Mode, family: str, parametrizations: list[str]) -> dict[str, Any]:
    """The width sweep at the base budget plus the token scan (`token_multiples` × the base, at the narrowest
    proxy width: the planner's default), the target `tokens_target_width` wide on `target_token_multiple` ×
    the base budget."""
    spec = width_spec(mode, family, parametrizations)
    spec["name"] = f"bench-transfer-{family}-tokens"
    base = mode.steps * mode.batch_size * mode.context_length
    spec["proxy"] = {
        **spec["proxy"],
        "token_budgets": [m * base for m in mode.token_multiples],
        "scan_widths": "narrowest",
    }
    spec["target"] = {"width": mode.tokens_target_width, "tokens": mode.target_token_multiple * base}
    return spec


# --vary: which axis the proxies shrink (or, for tokens, the budget the target grows along) → the spec for it.
AXES: dict[str, Callable[[Mode, str, list[str]], dict[str, Any]]] = {
    "width": width_spec,
    "depth": depth_spec,
    "tokens": tokens_spec,
}
# moe: the default `model.moe` (8 experts, top-2; workers/models/moe.py)
FAMILIES = ("gpt", "mlp", "moe", "hf")
# --family hf: a `transformers` Llama from this config (docs/external-models.md), fixed before measuring;
# Llama's own shape ratios (SwiGLU MLP of 8/3 × width rounded as Llama-7B's 11008/4096, RMSNorm, rotary
# positions, untied readout) at head size 16, one key/value head per query head so the 16-wide proxy (one
# head) builds.
HF_LLAMA = {
    "model_type": "llama",
    "hidden_size": 64,
    "num_attention_heads": 4,
    "num_key_value_heads": 4,
    "intermediate_size": 172,
}


def run_flops(model: ModelSpec, width: int, depth: int, vocab: int, tokens: int, context: int) -> float:
    """Training FLOPs of one run: 6·N_total·D + 6·L·T·d·D (module docstring). N_total = the non-embedding
    weights (active ones for MoE) + the token embedding and readout (V·d each) + the position table (T·d)."""
    n_total = params_for(model, width, depth) + 2 * vocab * width
    attention = 0
    if model.family != "mlp":
        attention = depth * context * width
    if model.family in ("gpt", "moe"):  # a learned position table (the Llama's positions are rotary)
        n_total += model.context_length * width
    return 6.0 * float(tokens) * float(n_total + attention)


@dataclass(frozen=True)
class Job:
    """One run the bench needs: a proxy, an oracle point, the transferred run, or a coordinate check."""

    kind: str  # proxy | oracle | transferred | copied | coord_check
    parametrization: str
    width: int
    depth: int
    lr: float
    seed: int = 0
    tokens: int | None = None  # a token scan's budget (None: the base); a target run's: the target's tokens


TARGET_KINDS = ("oracle", "transferred", "copied")  # runs at the target's size and budget


@dataclass
class Run:
    width: int
    lr: float
    loss: float | None  # final validation loss; None when it diverged (coord check: None)
    status: str
    seconds: float
    flops: float
    depth: int | None = None
    kind: str = "proxy"
    parametrization: str = ""
    seed: int = 0
    cpu_seconds: float | None = None  # the run's own process time: what the wall time is without other load
    tokens: int | None = None  # as Job.tokens


@dataclass
class Result:
    parametrization: str
    proxy_widths: list[int]
    target_width: int
    seeds: int = 0
    proxy_depths: list[int] = field(default_factory=list)
    target_depth: int | None = None
    lr_transferred: float | None = None
    lr_oracle: float | None = None
    oracle_lrs: list[float] = field(default_factory=list)
    loss_transferred: float | None = None  # seed means
    loss_oracle: float | None = None
    regret_by_seed: list[float] = field(default_factory=list)
    regret_mean: float | None = None
    regret_ci: list[float] | None = None
    regret_ci_method: str = f"paired by seed, Student-t {100 * CI_LEVEL:g} % interval, df = seeds − 1"
    regret_method: str | None = None  # "fitted" (parabola, module docstring) or "grid" (too few points)
    lr_oracle_grid: float | None = None  # the oracle grid's best point (its seed-mean loss: loss_oracle_grid)
    loss_oracle_grid: float | None = None
    regret_grid: float | None = None  # the old reading: transferred run over the best grid point, seed-mean
    regret_grid_ci: list[float] | None = None
    oracle_centre: float | None = None  # where the oracle grid was centred: the widest proxy's optimum
    noise_floor: float | None = None  # relative std over seeds of the target's loss at lr_oracle
    noise_floor_abs: float | None = None
    regret_goal: float | None = None
    meets_regret_goal: bool | None = None
    # the naive alternative to a plan: copy the widest proxy's fitted optimum verbatim, priced on the oracle's
    # seed-mean curve (interpolated in log LR; None outside the oracle's grid)
    lr_copied: float | None = None
    regret_copied: float | None = None
    compute_fraction_vs_target_run: float | None = None
    compute_fraction_vs_direct_sweep: float | None = None
    wall_fraction_vs_target_run: float | None = None
    cpu_fraction_vs_target_run: float | None = None  # the same in process time: independent of other load
    proxy_flops: float = 0.0  # the coordinate check's included
    coord_check_flops: float = 0.0
    target_run_flops: float | None = None
    direct_sweep_flops: float = 0.0
    proxy_seconds: float = 0.0  # the coordinate check's included
    coord_check_seconds: float = 0.0
    target_run_seconds: float | None = None
    coord_check_passed: bool | None = None
    fit_error_octaves: float | None = None
    fit_error_loo_octaves: float | None = None
    robustness_exponent: float | None = None
    robustness_coefficient: float | None = None
    expected_penalty_at_target: float | None = None
    asymptotic_penalty: float | None = None  # proxies' leave-one-out penalties + the measured target point
    asymptotic_penalty_interval: tuple[float, float] | None = None  # bootstrap over the widths' points, 90 %
    asymptotic_penalty_proxies_only: float | None = None  # the plan's value
    penalty_by_width: dict[str, float] = field(default_factory=dict)
    predicted_loss: dict[str, Any] | None = None
    # the width law's form: "invariant" (shrunk toward γ = 0), "power_law", "saturating_p…" (the largest
    # weight of the mixture) or "unresolved" (a move whose interval holds 0, not made)
    transfer_model: str | None = None
    gamma: dict[str, Any] | None = None
    depth_model: str | None = None
    gamma_depth: dict[str, Any] | None = None
    proxy_optima: dict[str, float | None] = field(default_factory=dict)
    proxy_runs: list[Run] = field(default_factory=list)
    oracle_runs: list[Run] = field(default_factory=list)  # the transferred runs included (kind "transferred")
    coord_check_runs: list[Run] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        runs = ("proxy_runs", "oracle_runs", "coord_check_runs")
        out = {k: v for k, v in self.__dict__.items() if k not in runs}
        for name in runs:
            out[name] = [r.__dict__ for r in getattr(self, name)]
        return json_safe(out)


@dataclass
class HorizonResult(Result):
    """`--vary tokens`: the target trains on more tokens than the proxies' base budget. The plan's LR is the
    horizon-corrected one (`lr_corrected`, = `lr_transferred`; its runs are kind "transferred"); `lr_copied`
    is the width-only transfer, the plan's LR before its horizon move (its runs are kind "copied", or the
    oracle point at that LR). Both regrets are paired by seed against the same oracle point."""

    base_tokens: int | None = None  # tokens per run of the width sweep
    scan_tokens: list[int] = field(default_factory=list)  # the token scan's budgets (the base excluded)
    target_tokens: int | None = None
    horizon_fit_width: int | None = None  # the widest proxy width the horizon law pools
    horizon_model: str | None = None
    gamma_horizon: dict[str, Any] | None = None  # γ_D per doubling of tokens, with the plan's interval
    horizon_optima: dict[str, float | None] = field(default_factory=dict)  # (width, tokens) → LR optimum
    horizon_move: dict[str, Any] | None = None  # the plan's move of the LR along the horizon (None: none)
    horizon_move_octaves: float | None = None  # log2 of its factor
    lr_corrected: float | None = None
    lr_width_only_plan: float | None = None  # the same spec planned without the scan and at the base budget
    loss_corrected: float | None = None  # seed means
    loss_copied: float | None = None
    regret_corrected: float | None = None
    regret_corrected_ci: list[float] | None = None
    regret_corrected_by_seed: list[float] = field(default_factory=list)
    regret_copied_ci: list[float] | None = None
    regret_copied_by_seed: list[float] = field(default_factory=list)
    # copied − corrected, per seed: > 0 where the horizon correction lowered the target's loss
    regret_difference_mean: float | None = None
    regret_difference_ci: list[float] | None = None
    regret_difference_by_seed: list[float] = field(default_factory=list)
    correction_pays_off_beyond_noise: bool | None = None  # the difference's interval lies above 0
    correction_verdict: str | None = None


def job_budget(spec: SweepSpec, job: Job) -> tuple[int, int]:
    """(steps, batch) of a run: the target's budget for a target run (`target_steps`: its steps or tokens),
    the proxy's for a proxy (`trial_budget`: the base, or a token scan's budget)."""
    if job.kind in TARGET_KINDS:
        return target_steps(spec), spec.target_batch()
    return spec.trial_budget(job.tokens, None)


def run_job(spec_data: dict[str, Any], job: Job, threads: int, mode: Mode, vocab: int,
            device: str = "auto") -> Run:  # fmt: skip
    """One run with the product's config mapping and training loop (in a pool worker process)."""
    torch.set_num_threads(threads)
    spec = parse_spec(spec_data)
    init_std = mode.base_width**-0.5  # fixed here: the bench does not follow the worker's default
    steps, batch = job_budget(spec, job)
    config = trial_config(
        spec,
        parametrization=job.parametrization,
        width=job.width,
        depth=job.depth,
        seed=job.seed,
        hparams={"lr": job.lr, "init_std": init_std},
        steps=steps,
        batch_size=batch,
        threads=threads,
        device=device,
    )
    config.eval_every = config.steps  # the loss is the final one: no evaluation on the way
    started, cpu = time.perf_counter(), time.process_time()
    if job.kind == "coord_check":
        run = _coord_check(spec, job, config, vocab, started)
        return replace(run, cpu_seconds=time.process_time() - cpu)
    config.eval_batches = mode.eval_batches
    last = None
    for record in train(config):
        last = record
    assert last is not None
    loss = last.final_val_loss if last.status == "completed" else None
    if loss is not None and not math.isfinite(loss):
        loss = None
    tokens = config.steps * config.batch_size * config.context_length
    flops = run_flops(spec.model, job.width, job.depth, vocab, tokens, config.context_length)
    seconds = time.perf_counter() - started
    return Run(
        job.width,
        job.lr,
        loss,
        last.status,
        seconds,
        flops,
        job.depth,
        job.kind,
        job.parametrization,
        job.seed,
        time.process_time() - cpu,
        job.tokens,
    )


def _coord_check(spec: SweepSpec, job: Job, config: Any, vocab: int, started: float) -> Run:
    """The service's preflight (orchestrator/executor/preflight.py) for one parametrization: its ladder of
    widths, the coord check's own steps, seeds and batch (workers/coord_check.py)."""
    from workers.coord_check import coord_check

    config.width = spec.base_width
    widths = preflight_widths(spec)
    result = coord_check(config, parametrization=job.parametrization, widths=widths)
    c = {**COORD_CHECK, **(getattr(result, "settings", None) or {})}
    steps = len(result.steps) - 1 if getattr(result, "steps", None) else c["steps"]
    # steps updates plus the final forward, per seed, on the check's own batch
    tokens = (steps + 1) * c["batch_size"] * c["context_length"] * len(c["seeds"])
    flops = sum(run_flops(spec.model, w, job.depth, vocab, tokens, c["context_length"]) for w in widths)
    status = "passed" if result.passed else "failed"
    seconds = time.perf_counter() - started
    return Run(job.width, 0.0, None, status, seconds, flops, job.depth, job.kind, job.parametrization, 0)


class Pool:
    """The process pool plus the bench's log; tracks the load average it saw."""

    def __init__(self, executor: Executor, spec_data: dict[str, Any], threads: int, mode: Mode, vocab: int,
                 log: Callable[[str], None], device: str = "auto") -> None:  # fmt: skip
        self.executor, self.spec_data, self.threads, self.mode, self.vocab, self.log = (
            executor, spec_data, threads, mode, vocab, log
        )  # fmt: skip
        self.device = device
        self.spec = parse_spec(spec_data)
        self.loads: list[float] = []

    def run(self, jobs: list[Job]) -> list[Run]:
        """Run `jobs`, the widest and deepest first (so the pool ends evenly), logging each end."""
        order = sorted(range(len(jobs)), key=lambda i: -_cost(self.spec, jobs[i]))
        futures = {
            self.executor.submit(
                run_job, self.spec_data, jobs[i], self.threads, self.mode, self.vocab, self.device
            ): i
            for i in order
        }
        runs: list[Run | None] = [None] * len(jobs)
        for done, future in enumerate(as_completed(futures), 1):
            run = future.result()
            runs[futures[future]] = run
            self.loads.append(os.getloadavg()[0])
            self.log(
                f"[{done}/{len(jobs)}] {run.parametrization} {run.kind} width={run.width} depth={run.depth} "
                f"seed={run.seed} lr={run.lr:.3g}{_tokens(run.tokens)} loss={_fmt(run.loss)} {run.status} "
                f"({run.seconds:.1f}s)"
            )
        return [r for r in runs if r is not None]


def _cost(spec: SweepSpec, job: Job) -> float:
    """Relative cost, for the pool's order: the coordinate check (its ladder reaches 8× the base) first."""
    if job.kind == "coord_check":
        return math.inf
    steps, batch = job_budget(spec, job)
    return float(job.width * job.width * job.depth * steps * batch)


def _tokens(tokens: int | None) -> str:
    return "" if tokens is None else f" tokens={tokens:,}"


def seed_means(runs: list[Run]) -> dict[float, float]:
    """log2(lr) → mean loss over seeds (inf when any seed diverged or failed)."""
    groups: dict[float, list[float]] = {}
    for r in runs:
        groups.setdefault(round(math.log2(r.lr), 9), []).append(math.inf if r.loss is None else r.loss)
    return {u: float(np.mean(v)) for u, v in groups.items()}


def edge(runs: list[Run]) -> int:
    """+1 / −1 when the seed-mean optimum is the highest / lowest LR tried, else 0."""
    means = seed_means(runs)
    finite = {u: m for u, m in means.items() if math.isfinite(m)}
    if not finite:
        return 0
    best = min(finite, key=finite.__getitem__)
    return 1 if best == max(means) else -1 if best == min(means) else 0


def widen(groups: dict[tuple[str, int, int, int | None], list[Run]], points: int, step: float, kind: str,
          seeds: list[int]) -> list[Job]:  # fmt: skip
    """Jobs for `points` more LRs beyond the edge of every group whose optimum sits there."""
    jobs = []
    for (p, w, d, tokens), runs in groups.items():
        side = edge(runs)
        if side == 0:
            continue
        us = seed_means(runs)
        start = max(us) if side > 0 else min(us)
        for k in range(1, points + 1):
            lr = 2.0 ** (start + side * k * step)
            jobs += [Job(kind, p, w, d, lr, s, tokens) for s in seeds]
    return jobs


def proxy_jobs(spec: SweepSpec, p: str) -> list[Job]:
    """The LR grid × seeds in every search of `p`: the width (and depth) sweep, then any token scan."""
    grid = spec.search.space["lr"].grid()
    return [
        Job("proxy", p, c.width, c.depth, lr, s, c.tokens)
        for c in spec.searches()
        if c.parametrization == p
        for lr in grid
        for s in spec.proxy.seeds
    ]


def target_jobs(spec: SweepSpec, result: Result, kind: str, lrs: list[float]) -> list[Job]:
    """One run per LR and seed at the target's width, depth and tokens."""
    depth = spec.target.depth or spec.model.depth
    p, w, tokens = result.parametrization, spec.target.width, spec.target.tokens
    return [Job(kind, p, w, depth, lr, s, tokens) for lr in lrs for s in spec.proxy.seeds]


def grid_around(centre: float, mode: Mode) -> list[float]:
    """The oracle's half-octave grid, ±`oracle_span` octaves around `centre`."""
    k = round(mode.oracle_span / mode.oracle_step)
    return [centre * 2.0 ** (i * mode.oracle_step) for i in range(-k, k + 1)]


def oracle_jobs(spec: SweepSpec, result: Result, mode: Mode) -> list[Job]:
    """The oracle grid centred on the widest proxy's fitted optimum (set before the transferred LR is read),
    and the target at the transferred LR (kind "transferred")."""
    centre = result.proxy_optima.get(str(max(result.proxy_widths)))
    if centre is None:  # no fitted optimum: the widest proxy's best grid LR
        widest = [r for r in result.proxy_runs if r.width == max(result.proxy_widths)]
        centre = 2.0 ** min(seed_means(widest).items(), key=lambda kv: kv[1])[0]
    result.oracle_centre = centre
    jobs = target_jobs(spec, result, "oracle", grid_around(centre, mode))
    if result.lr_transferred is not None:
        jobs += target_jobs(spec, result, "transferred", [result.lr_transferred])
    return jobs


def refine_jobs(spec: SweepSpec, result: Result, mode: Mode) -> list[Job]:
    """Two points a quarter octave either side of the oracle's seed-mean best point (once it is bracketed),
    so the parabola the optimum is read from has five points within half an octave of it."""
    grid = [r for r in result.oracle_runs if r.kind == "oracle"]
    finite = {u: m for u, m in seed_means(grid).items() if math.isfinite(m)}
    if not finite or edge(grid) != 0:
        return []
    best = min(finite, key=finite.__getitem__)
    quarter = mode.oracle_step / 2
    return target_jobs(spec, result, "oracle", [2.0 ** (best - quarter), 2.0 ** (best + quarter)])


def legacy_oracle_jobs(spec: SweepSpec, result: Result, mode: Mode) -> list[Job]:
    """`--vary tokens`: the grid centred on the corrected LR, whose centre is the transferred run."""
    centre = result.lr_transferred
    if centre is None:
        centre = 2.0 ** min(seed_means(result.proxy_runs).items(), key=lambda kv: kv[1])[0]
    lrs = grid_around(centre, mode)
    middle = len(lrs) // 2
    return (
        target_jobs(spec, result, "oracle", lrs[:middle])
        + target_jobs(spec, result, "transferred", [lrs[middle]])
        + target_jobs(spec, result, "oracle", lrs[middle + 1 :])
    )


def proxy_trials(spec: SweepSpec, result: Result) -> list[TrialResult]:
    """The proxy runs as the planner sees them (a token scan's trial carries its budget)."""
    p = result.parametrization
    return [
        TrialResult(
            p,
            r.width,
            r.depth or spec.model.depth,
            r.seed,
            {"lr": r.lr},
            r.loss,
            r.status == "diverged",
            r.status,
            tokens=r.tokens,
        )
        for r in result.proxy_runs
    ]


def plan_transfer(spec: SweepSpec, result: Result, log: Callable[[str], None]) -> Plan:
    """The product's planner on the proxy runs: the transferred LR and the transfer-quality metrics."""
    p = result.parametrization
    plan = build_plan(spec.model_copy(update={"parametrizations": [p]}), proxy_trials(spec, result))
    pp = plan.parametrizations[p]
    law = pp.width_transfer["lr"]
    result.lr_transferred = pp.hparams["lr"].value
    result.predicted_loss = pp.predicted_loss.__dict__
    result.transfer_model = law.model
    result.gamma = law.gamma.__dict__
    depth_law = pp.depth_transfer.get("lr")
    if depth_law is not None:
        result.depth_model, result.gamma_depth = depth_law.model, depth_law.gamma.__dict__
    result.proxy_optima = {str(int(f.scale)): f.optimum.value for f in pp.optima["lr"]}
    quality = pp.transfer_quality.get("lr")
    if quality is not None:
        result.fit_error_octaves = quality.fit_error_octaves
        result.fit_error_loo_octaves = quality.fit_error_loo_octaves
        result.robustness_exponent = quality.robustness_exponent
        result.robustness_coefficient = quality.robustness_coefficient
        result.expected_penalty_at_target = quality.expected_penalty_at_target
        result.asymptotic_penalty_proxies_only = quality.asymptotic_penalty
        result.penalty_by_width = dict(quality.penalty_by_width)
    log(f"{p} plan: lr={_fmt(result.lr_transferred)} law={law.model} γ={_fmt(law.gamma.value)}")
    return plan


def plan_horizon(spec: SweepSpec, result: HorizonResult, plan: Plan, log: Callable[[str], None]) -> None:
    """The horizon law and move of the plan; the width-only LR read from the move and, as a check, planned
    again without the scan trials and with the target at the base budget."""
    p = result.parametrization
    pp = plan.parametrizations[p]
    context = spec.model.context_length
    result.base_tokens = spec.proxy.base_tokens(context)
    result.scan_tokens = [t for t in spec.proxy.horizons(context) if t != result.base_tokens]
    result.target_tokens = target_tokens(spec)
    result.lr_corrected = result.lr_transferred
    move = next((m for m in pp.moves if m["hparam"] == "lr" and m["axis"] == HORIZON), None)
    result.horizon_move = move
    factor = float(move["factor"]) if move is not None else 1.0
    result.horizon_move_octaves = math.log2(factor)
    if result.lr_corrected is not None:
        result.lr_copied = result.lr_corrected / factor
    law = pp.horizon_transfer
    if law is not None:
        result.horizon_fit_width = law.width
        lr_law = law.laws.get("lr")
        if lr_law is not None:
            result.horizon_model, result.gamma_horizon = lr_law.model, lr_law.gamma.__dict__
        result.horizon_optima = {
            f"width {int(w)}, {int(f.scale)} tokens": f.optimum.value
            for f, w in zip(law.optima.get("lr", []), law.groups, strict=True)
        }
    without = spec.model_copy(
        update={
            "parametrizations": [p],
            "proxy": spec.proxy.model_copy(update={"token_budgets": None}),
            "target": spec.target.model_copy(update={"tokens": None}),
        }
    )
    base = [t for t in proxy_trials(spec, result) if t.tokens is None]
    result.lr_width_only_plan = build_plan(without, base).parametrizations[p].hparams["lr"].value
    gamma = (result.gamma_horizon or {}).get("value")
    log(
        f"{p} horizon: γ_D={_fmt(gamma)} at width {result.horizon_fit_width}, move "
        f"{_fmt(result.horizon_move_octaves)} oct: lr corrected {_fmt(result.lr_corrected)}, copied "
        f"{_fmt(result.lr_copied)} (width-only plan {_fmt(result.lr_width_only_plan)})"
    )


def horizon_oracle_jobs(spec: SweepSpec, result: HorizonResult, mode: Mode) -> list[Job]:
    """The oracle around the corrected LR (`oracle_jobs`), its half-octave grid extended until it brackets the
    copied LR, and a run at the copied LR itself where it is off that grid."""
    jobs = legacy_oracle_jobs(spec, result, mode)
    centre, copied = result.lr_transferred, result.lr_copied
    if centre is None or copied is None:
        return jobs
    depth = spec.target.depth or spec.model.depth
    step, k = mode.oracle_step, round(mode.oracle_span / mode.oracle_step)
    d = math.log2(copied / centre) / step  # in grid steps
    low, high = min(-k, math.floor(d + 1e-9)), max(k, math.ceil(d - 1e-9))
    p, w, seeds, tokens = result.parametrization, spec.target.width, spec.proxy.seeds, spec.target.tokens
    for i in [*range(low, -k), *range(k + 1, high + 1)]:
        jobs += [Job("oracle", p, w, depth, centre * 2.0 ** (i * step), s, tokens) for s in seeds]
    if abs(d - round(d)) * step > 1e-6:
        jobs += [Job("copied", p, w, depth, copied, s, tokens) for s in seeds]
    return jobs


def score(result: Result) -> None:
    """Paired regret, noise floor, compute and wall fractions, the asymptotic penalty with the target."""
    oracle = result.oracle_runs
    means = seed_means(oracle)
    finite = {u: m for u, m in means.items() if math.isfinite(m)}
    result.oracle_lrs = sorted(2.0**u for u in means)
    transferred = [r for r in oracle if r.kind == "transferred"]
    result.seeds = len({r.seed for r in transferred})
    if finite:
        u_best = min(finite, key=finite.__getitem__)
        result.lr_oracle_grid, result.loss_oracle_grid = 2.0**u_best, finite[u_best]
        result.lr_oracle, result.loss_oracle = result.lr_oracle_grid, result.loss_oracle_grid
        at_best = {r.seed: r.loss for r in oracle if round(math.log2(r.lr), 9) == u_best}
        losses = [v for v in at_best.values() if v is not None]
        if len(losses) >= 2:
            result.noise_floor_abs = float(np.std(losses, ddof=1))
            result.noise_floor = result.noise_floor_abs / float(np.mean(losses))
        paired = [(r.loss, at_best.get(r.seed)) for r in transferred]
        grid: list[float] = []
        if paired and all(t is not None and o for t, o in paired):
            grid = [t / o - 1.0 for t, o in paired]  # type: ignore[operator]
            result.regret_grid, result.regret_grid_ci = mean_ci(grid)
            result.loss_transferred = float(np.mean([t for t, _ in paired]))
        # `--vary tokens` keeps the grid reading: its oracle is centred on the corrected LR and both of its
        # regrets are paired against one grid point (score_horizon)
        horizon = isinstance(result, HorizonResult)
        fitted = None if horizon else fitted_regrets(oracle, transferred, u_best)
        if fitted is not None:
            (result.lr_oracle, result.loss_oracle), regrets = fitted
            result.regret_method = "fitted"
        else:
            regrets = grid
            result.regret_method = "grid" if grid else None
        if regrets:
            result.regret_by_seed = regrets
            result.regret_mean, result.regret_ci = mean_ci(regrets)
        result.regret_goal = max(REGRET_GOAL, result.noise_floor or 0.0)
        if result.regret_mean is not None:
            result.meets_regret_goal = result.regret_mean <= result.regret_goal
    widest = result.proxy_optima.get(str(max(result.proxy_widths)))
    # --vary tokens: lr_copied is the width-only transfer instead, its regret paired (score_horizon)
    if widest is not None and result.loss_oracle and not isinstance(result, HorizonResult):
        result.lr_copied = widest
        curve = parabola(finite, math.log2(result.lr_oracle_grid)) if result.lr_oracle_grid else None
        copied = curve(math.log2(widest)) if curve is not None else None
        copied = copied if copied is not None else curve_at(finite, math.log2(widest))
        if copied is not None:
            result.regret_copied = copied / result.loss_oracle - 1.0
    result.coord_check_flops = sum(r.flops for r in result.coord_check_runs)
    result.coord_check_seconds = sum(r.seconds for r in result.coord_check_runs)
    if result.coord_check_runs:
        result.coord_check_passed = all(r.status == "passed" for r in result.coord_check_runs)
    result.proxy_flops = sum(r.flops for r in result.proxy_runs) + result.coord_check_flops
    result.proxy_seconds = sum(r.seconds for r in result.proxy_runs) + result.coord_check_seconds
    result.direct_sweep_flops = sum(r.flops for r in oracle)
    if transferred:
        result.target_run_flops = float(np.mean([r.flops for r in transferred]))
        result.target_run_seconds = float(np.mean([r.seconds for r in transferred]))
        result.compute_fraction_vs_target_run = result.proxy_flops / result.target_run_flops
        result.wall_fraction_vs_target_run = result.proxy_seconds / result.target_run_seconds
        proxies = [*result.proxy_runs, *result.coord_check_runs]
        if all(r.cpu_seconds is not None for r in [*proxies, *transferred]):
            target_cpu = float(np.mean([r.cpu_seconds or 0.0 for r in transferred]))
            if target_cpu > 0:
                result.cpu_fraction_vs_target_run = sum(r.cpu_seconds or 0.0 for r in proxies) / target_cpu
    if result.direct_sweep_flops:
        result.compute_fraction_vs_direct_sweep = result.proxy_flops / result.direct_sweep_flops
    points = {float(w): v for w, v in result.penalty_by_width.items()}
    if result.regret_mean is not None:
        points[float(result.target_width)] = max(result.regret_mean, 0.0)
        result.penalty_by_width = {f"{w:g}": v for w, v in sorted(points.items())}
    result.asymptotic_penalty = asymptotic_penalty(points)
    result.asymptotic_penalty_interval = asymptotic_penalty_interval(points)


ORACLE_WINDOW = 1.0  # octaves either side of the grid's best point that the oracle's parabola is fitted over


def parabola(points: dict[float, float], centre: float) -> Callable[[float], float | None] | None:
    """A least-squares parabola through the finite (log2 lr, loss) points within `ORACLE_WINDOW` of `centre`,
    as a function that is None outside that window; None with < 3 points or a curve that opens downward."""
    near = {u: v for u, v in points.items() if abs(u - centre) <= ORACLE_WINDOW + 1e-9 and math.isfinite(v)}
    if len(near) < 3:
        return None
    a, b, c = np.polyfit(list(near), list(near.values()), 2)
    if not a > 0:
        return None
    lo, hi = min(near), max(near)
    return lambda u: float(a * u * u + b * u + c) if lo - 1e-9 <= u <= hi + 1e-9 else None


def fitted_regrets(
    oracle: list[Run], transferred: list[Run], u_best: float
) -> tuple[tuple[float, float], list[float]] | None:
    """((η_oracle, L_oracle), regret per seed) read off parabolas (module docstring): the seed-mean curve's
    vertex, and each seed's curve at the transferred LR over its value at that vertex (the transferred run's
    own loss where it lies outside the window). None where the curves cannot be fitted."""
    means = seed_means(oracle)
    curve = parabola(means, u_best)
    if curve is None or not transferred:
        return None
    near = sorted(u for u in means if abs(u - u_best) <= ORACLE_WINDOW + 1e-9)
    grid = np.linspace(near[0], near[-1], 401)
    values = [curve(float(u)) for u in grid]
    u_star = float(grid[int(np.argmin([v if v is not None else math.inf for v in values]))])
    loss_star = curve(u_star)
    regrets = []
    for run in transferred:
        mine: dict[float, list[float]] = {}
        for r in oracle:
            if r.seed == run.seed:
                mine.setdefault(round(math.log2(r.lr), 9), []).append(math.inf if r.loss is None else r.loss)
        seed_curve = parabola({u: float(np.mean(v)) for u, v in mine.items()}, u_best)
        if seed_curve is None or run.loss is None:
            return None
        at_star = seed_curve(u_star)
        at_t = seed_curve(math.log2(run.lr))
        at_t = at_t if at_t is not None else run.loss
        if not at_star or at_star <= 0:
            return None
        regrets.append(at_t / at_star - 1.0)
    assert loss_star is not None
    return (2.0**u_star, loss_star), regrets


def losses_at(runs: list[Run], lr: float) -> dict[int, float]:
    """Seed → loss of the runs at `lr` (inf where a run diverged or failed)."""
    u = math.log2(lr)
    return {r.seed: math.inf if r.loss is None else r.loss for r in runs if abs(math.log2(r.lr) - u) < 1e-6}


def mean_ci(values: list[float]) -> tuple[float | None, list[float] | None]:
    """The mean and its Student-t interval (CI_LEVEL, df = n − 1); no interval for one value or a
    non-finite one."""
    if not values:
        return None, None
    mean = float(np.mean(values))
    if len(values) < 2 or not all(math.isfinite(v) for v in values):
        return mean, None
    half = stats.t.ppf(0.5 + CI_LEVEL / 2, len(values) - 1) * np.std(values, ddof=1) / math.sqrt(len(values))
    return mean, [mean - half, mean + half]


def score_horizon(result: HorizonResult) -> None:
    """Both regrets against the same oracle point on the same seeds, and their paired difference."""
    oracle = result.oracle_runs
    if result.lr_oracle_grid is None or result.lr_corrected is None or result.lr_copied is None:
        return
    best = losses_at(oracle, result.lr_oracle_grid)
    corrected, copied = losses_at(oracle, result.lr_corrected), losses_at(oracle, result.lr_copied)
    seeds = sorted(s for s in best if s in corrected and s in copied and 0 < best[s] < math.inf)
    if not seeds:
        return
    r_corr = [corrected[s] / best[s] - 1.0 for s in seeds]
    r_copy = [copied[s] / best[s] - 1.0 for s in seeds]
    result.loss_corrected = float(np.mean([corrected[s] for s in seeds]))
    result.loss_copied = float(np.mean([copied[s] for s in seeds]))
    result.regret_corrected_by_seed, result.regret_copied_by_seed = r_corr, r_copy
    result.regret_corrected, result.regret_corrected_ci = mean_ci(r_corr)
    result.regret_copied, result.regret_copied_ci = mean_ci(r_copy)
    diff = [b - a for a, b in zip(r_corr, r_copy, strict=True)]
    result.regret_difference_by_seed = diff
    result.regret_difference_mean, ci = mean_ci(diff)
    result.regret_difference_ci = ci
    if result.horizon_move is None:
        result.correction_verdict = "no horizon move: the plan copied the LR across the horizon"
    elif ci is not None:
        result.correction_pays_off_beyond_noise = ci[0] > 0
        result.correction_verdict = "pays off" if ci[0] > 0 else "costs" if ci[1] < 0 else "within noise"
    elif len(seeds) < 2:
        result.correction_verdict = "one seed: no interval"
    else:
        result.correction_verdict = "a target run diverged: see the regrets by seed"


def curve_at(curve: dict[float, float], u: float) -> float | None:
    """A seed-mean curve (log2 lr → loss) at u, linear between its points (None outside)."""
    points = sorted(curve.items())
    for (u0, y0), (u1, y1) in zip(points, points[1:], strict=False):
        if u0 <= u <= u1:
            return y0 + (y1 - y0) * (u - u0) / (u1 - u0)
    return None


def _groups(runs: list[Run]) -> dict[tuple[str, int, int, int | None], list[Run]]:
    out: dict[tuple[str, int, int, int | None], list[Run]] = {}
    for r in runs:
        out.setdefault((r.parametrization, r.width, r.depth or 0, r.tokens), []).append(r)
    return out


def bench(spec: SweepSpec, mode: Mode, names: list[str], jobs: int, threads: int, vocab: int,
          log: Callable[[str], None], device: str = "auto") -> tuple[list[Result], list[float]]:  # fmt: skip
    """Coordinate checks and proxies in one pool, the plans, then every parametrization's oracle. With a
    token scan in the spec (`--vary tokens`) the results are `HorizonResult`s: the oracle also brackets the
    width-only LR, and both LRs are scored against it."""
    data = spec.model_dump(mode="json")
    target_depth = spec.target.depth or spec.model.depth
    seeds = spec.proxy.seeds
    grid = spec.search.space["lr"].grid()
    step = math.log2(grid[1] / grid[0]) if len(grid) > 1 else 0.5
    kind = HorizonResult if spec.proxy.token_budgets else Result
    results = {p: kind(p, list(spec.proxy.widths), spec.target.width) for p in names}

    def targets(result: Result) -> list[Job]:
        if isinstance(result, HorizonResult):
            return horizon_oracle_jobs(spec, result, mode)
        return oracle_jobs(spec, result, mode)

    with ProcessPoolExecutor(max_workers=jobs) as executor:
        pool = Pool(executor, data, threads, mode, vocab, log, device)
        # every parametrization is preflighted, SP included (its check is judged against SP's own predictions)
        first = [Job("coord_check", p, spec.base_width, spec.depths()[0], 0.0) for p in names]
        for run in pool.run(first + [j for p in names for j in proxy_jobs(spec, p)]):
            r = results[run.parametrization]
            (r.coord_check_runs if run.kind == "coord_check" else r.proxy_runs).append(run)
        for _ in range(mode.proxy_widenings):
            extra = widen(
                _groups([x for r in results.values() for x in r.proxy_runs]), 2, step, "proxy", seeds
            )
            if not extra:
                break
            for run in pool.run(extra):
                results[run.parametrization].proxy_runs.append(run)
        for result in results.values():
            result.proxy_depths, result.target_depth = spec.depths(), target_depth
            plan = plan_transfer(spec, result, log)
            if isinstance(result, HorizonResult):
                plan_horizon(spec, result, plan, log)
        for run in pool.run([j for r in results.values() for j in targets(r)]):
            results[run.parametrization].oracle_runs.append(run)
        for _ in range(mode.oracle_widenings):
            # the width oracle widens its own grid (the transferred LR may lie anywhere); the horizon's grid
            # is centred on the transferred run, which is one of its points
            grid = [
                x
                for r in results.values()
                for x in r.oracle_runs
                if x.kind == "oracle" or kind is HorizonResult
            ]
            extra = widen(_groups(grid), 1, mode.oracle_step, "oracle", seeds)
            if not extra:
                break
            for run in pool.run(extra):
                results[run.parametrization].oracle_runs.append(run)
        refine = [
            j
            for r in results.values()
            if not isinstance(r, HorizonResult)
            for j in refine_jobs(spec, r, mode)
        ]
        for run in pool.run(refine):
            results[run.parametrization].oracle_runs.append(run)
    for result in results.values():
        score(result)
        if isinstance(result, HorizonResult):
            score_horizon(result)
    return list(results.values()), pool.loads


def totals(results: list[Result]) -> dict[str, Any]:
    """The whole run's proxies (every parametrization, coordinate checks included) against one target run."""
    target_flops = [r.target_run_flops for r in results if r.target_run_flops]
    target_seconds = [r.target_run_seconds for r in results if r.target_run_seconds]
    flops = sum(r.proxy_flops for r in results)
    seconds = sum(r.proxy_seconds for r in results)
    every = [x for r in results for x in [*r.proxy_runs, *r.coord_check_runs, *r.oracle_runs]]
    cpu = sum(x.cpu_seconds for x in every if x.cpu_seconds is not None)
    return json_safe(
        {
            "proxy_flops": flops,
            "proxy_seconds": seconds,
            "run_seconds_all_runs": sum(x.seconds for x in every),
            "cpu_seconds_all_runs": cpu if all(x.cpu_seconds is not None for x in every) else None,
            "compute_fraction_vs_target_run": flops / float(np.mean(target_flops)) if target_flops else None,
            "wall_fraction_vs_target_run": seconds / float(np.mean(target_seconds))
            if target_seconds
            else None,
            "compute_fraction_vs_direct_sweep": flops / sum(r.direct_sweep_flops for r in results)
            if any(r.direct_sweep_flops for r in results)
            else None,
        }
    )


def export_rows(spec: SweepSpec, results: list[Result], log: Callable[[str], None]) -> list[dict[str, Any]]:
    """Every training run of the bench as a row of the import format (docs/import.md), so the runs can be
    read back (`read_runs`) and back-tested (`orchestrator/backtest.py`): a hold-out of the target width
    asks what the planner would have said there, on runs trained with the product's own loop, and can be
    set against the bench's own regret.

    One row per run: the proxies at every width × LR × seed (widenings and any token scan included), every
    oracle point at the target, and the transferred (and, with `--vary tokens`, copied) runs. The oracle's
    centre point is the transferred run, so it is written once. The coordinate checks are left out: they
    train a few steps on their own ladder and have no validation loss. `tokens` is what the run trained on
    (steps × batch × context, whole steps, as `run_job` ran it), `n_params` the non-embedding weights
    (`params_for`: the import format's convention), the loss the final validation loss or inf where the run
    diverged or failed (`status` says which). `kind` (proxy | oracle | transferred | copied) and `status`
    are extra columns the importer ignores; they say which run the bench transferred to."""
    context = spec.model.context_length
    rows: list[dict[str, Any]] = []
    seen: set[tuple[Any, ...]] = set()
    for result in results:
        for run in [*result.proxy_runs, *result.oracle_runs]:
            depth = run.depth or spec.model.depth
            job = Job(run.kind, run.parametrization, run.width, depth, run.lr, run.seed, run.tokens)
            steps, batch = job_budget(spec, job)
            tokens = steps * batch * context
            u = round(math.log2(run.lr), 12)
            key = (run.parametrization, run.width, depth, tokens, batch, run.seed, u)
            if key in seen:  # the procedure never trains a point twice; if it did, the first run stands
                log(f"export: {run.kind} run {key} duplicates an earlier one, left out")
                continue
            seen.add(key)
            rows.append(
                {
                    "parametrization": run.parametrization,
                    "width": run.width,
                    "depth": depth,
                    "n_params": params_for(spec.model, run.width, depth),
                    "tokens": tokens,
                    "batch_size": batch,
                    "context_length": context,
                    "batch_tokens": batch * context,
                    "seed": run.seed,
                    "lr": run.lr,  # the one HP the bench sweeps; init_std is fixed (`run_job`)
                    "kind": run.kind,
                    "status": run.status,
                    "loss": math.inf if run.loss is None else run.loss,
                }
            )
    return rows


def write_export(path: Path, rows: list[dict[str, Any]]) -> None:
    """`write_runs` in the format the suffix names (.jsonl, .ndjson, .json: JSON lines; else CSV), which is
    also how `read_runs` reads it back."""
    from orchestrator.run_table import FORMATS, write_runs

    kind = FORMATS.get(path.suffix.lower().lstrip("."), "csv")
    path.parent.mkdir(parents=True, exist_ok=True)
    write_runs(rows, path, format=kind)


def data_section(path: Path, dtype: str | None, vocab_size: int | None, tokenizer: str) -> dict[str, Any]:
    """The spec's `data` for `--data`: a token file as is, or a text file tokenized once into one."""
    from workers.data.text_file import token_file_vocab, tokenize_text_file

    if dtype is not None:
        return {
            "path": str(path),
            "token_dtype": dtype,
            "vocab_size": vocab_size or token_file_vocab(path, dtype),
        }
    return tokenize_text_file(path, tokenizer).data_section()


def vocab_of(spec: SweepSpec) -> int:
    from workers.data import load_dataset

    config = trial_config(
        spec, parametrization=spec.parametrizations[0], width=spec.proxy.widths[0], depth=spec.depths()[0],
        seed=0, hparams={},
    )  # fmt: skip
    return load_dataset(config).vocab_size


def estimate(spec: SweepSpec, mode: Mode, names: list[str], jobs: int, vocab: int) -> dict[str, Any]:
    """The cost estimate the quick mode was sized with: 10 timed steps per width (1 thread), times the runs,
    and TP5's compute fraction by `run_flops`."""
    from workers.train import train as train_

    per_step: dict[int, float] = {}
    target_depth = spec.target.depth or spec.model.depth
    warm = trial_config(spec, parametrization=names[0], width=spec.proxy.widths[0], depth=spec.depths()[0],
                        seed=0, hparams={"lr": 1e-3}, steps=1, threads=1)  # fmt: skip
    for _ in train_(warm):  # the first run in a process loads the corpus: keep it out of the timings
        pass
    for w in [*spec.proxy.widths, spec.target.width]:
        depth = target_depth if w == spec.target.width else spec.depths()[-1]
        times = []
        for steps in (2, 2, 12):  # the first run at a width allocates (and on a GPU, builds kernels): untimed
            config = trial_config(spec, parametrization=names[0], width=w, depth=depth, seed=0,
                                  hparams={"lr": 1e-3}, steps=steps, threads=1)  # fmt: skip
            config.eval_batches = 1
            started = time.perf_counter()
            for _ in train_(config):
                pass
            times.append(time.perf_counter() - started)
        per_step[w] = max(times[2] - times[1], 1e-4) / 10
    seeds = len(spec.proxy.seeds)
    runs = len(spec.search.space["lr"].grid()) * seeds  # per search (one parametrization's cell)
    cells = [c for c in spec.searches() if c.parametrization == names[0]]
    context = mode.context_length
    proxy_s = proxy_flops = 0.0
    for c in cells:
        steps, batch = spec.trial_budget(c.tokens, c.batch_size)
        proxy_s += runs * per_step[c.width] * (steps + mode.eval_batches / 3)
        proxy_flops += runs * run_flops(spec.model, c.width, c.depth, vocab, steps * batch * context, context)
    # the oracle's grid around the plan's LR, and with a token scan one more point (the width-only LR)
    oracle_points = 2 * round(mode.oracle_span / mode.oracle_step) + 1 + bool(spec.proxy.token_budgets)
    t_steps = target_steps(spec)
    t_run = per_step[spec.target.width] * (t_steps + mode.eval_batches / 3)
    oracle_s = len(names) * oracle_points * seeds * t_run
    t_tokens = t_steps * spec.target_batch() * context
    target = run_flops(spec.model, spec.target.width, target_depth, vocab, t_tokens, context)
    return {
        "seconds_per_step": per_step,
        "proxy_runs_per_parametrization": runs * len(cells),
        "target_runs_per_parametrization": oracle_points * seeds,
        "proxy_seconds_single_core": len(names) * proxy_s,
        "oracle_seconds_single_core": oracle_s,
        "wall_seconds_estimate": (len(names) * proxy_s + oracle_s) / jobs,
        "tp5_compute_fraction_per_parametrization": proxy_flops / target,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="the small mode (default: full)")
    parser.add_argument("--seeds", type=int, help="seeds per run (default: 3 quick, 1 full)")
    parser.add_argument("--json", action="store_true", help="print the results as JSON")
    parser.add_argument("--family", choices=FAMILIES, default="gpt")
    parser.add_argument("--vary", choices=sorted(AXES), default="width")
    parser.add_argument("--parametrizations", help="comma-separated (default: mup,sp,sp-embedding-lr; depth: "
                        "completep,mup)")  # fmt: skip
    parser.add_argument("--data", type=Path, help="a UTF-8 text file, or a token file with --data-dtype")
    parser.add_argument("--data-dtype", choices=["uint16", "uint32"], help="--data is a flat token file")
    parser.add_argument("--vocab-size", type=int, help="a token file's vocabulary (default: its max id + 1)")
    parser.add_argument("--jobs", type=int, default=2, help="runs in parallel (processes)")
    parser.add_argument("--threads", type=int, default=1, help="torch threads per run")
    parser.add_argument("--device", choices=["auto", "cpu", "cuda"], default="auto",
                        help="where every run trains (auto: the GPU when there is one)")  # fmt: skip
    parser.add_argument(
        "--estimate", action="store_true", help="time a few steps per width and print the cost"
    )
    parser.add_argument("--out", type=Path, help="also write the JSON here")
    parser.add_argument(
        "--export-runs", type=Path, metavar="PATH", help="write every training run in the import format"
    )
    args = parser.parse_args(argv)
    mode = MODES["quick" if args.quick else "full"]
    if args.seeds is not None:
        if args.seeds < 1:
            parser.error("--seeds must be ≥ 1")
        mode = replace(mode, seeds=args.seeds)
    chosen = args.parametrizations or DEFAULT_PARAMETRIZATIONS[args.vary]
    names = [p.strip() for p in chosen.split(",") if p.strip()]
    spec_data = AXES[args.vary](mode, args.family, names)
    if args.data is not None:
        spec_data["data"] = data_section(args.data, args.data_dtype, args.vocab_size, "char")
    spec = parse_spec(spec_data)
    vocab = vocab_of(spec)

    def log(line: str) -> None:
        print(f"[{time.strftime('%H:%M:%S')}] {line}", file=sys.stderr, flush=True)

    if args.estimate:
        print(json.dumps(estimate(spec, mode, names, args.jobs, vocab), indent=2))
        return 0
    load_start = os.getloadavg()[0]
    started = time.perf_counter()
    results, loads = bench(spec, mode, names, args.jobs, args.threads, vocab, log, args.device)
    wall = time.perf_counter() - started
    log(f"done in {wall:.0f} s")
    exported = None
    if args.export_runs is not None:
        rows = export_rows(spec, results, log)
        write_export(args.export_runs, rows)
        exported = {"path": str(args.export_runs), "rows": len(rows)}
        log(f"exported {len(rows)} runs to {args.export_runs}")
    report = json_safe(
        {
            "mode": "quick" if args.quick else "full",
            "config": {**{k: v for k, v in mode.__dict__.items()}, "vary": args.vary, "family": args.family,
                       "parametrizations": names, "jobs": args.jobs, "threads": args.threads,
                       "device": args.device,
                       "vocab_size": vocab,
                       "data": spec_data.get("data", "python-stdlib"), "init_std": mode.base_width**-0.5},
            "wall_seconds": wall,
            "load_average": {"start": load_start, "max": max(loads, default=None),
                             "mean": float(np.mean(loads)) if loads else None, "cores": os.cpu_count()},
            "all_parametrizations": totals(results),
            "exported_runs": exported,
            "results": [r.to_dict() for r in results],
        }
    )  # fmt: skip
    text = json.dumps(report, indent=2)
    if args.out:
        args.out.write_text(text)
    if args.json:
        print(text)
    else:
        for r in results:
            ci = "n/a" if r.regret_ci is None else f"[{_pct(r.regret_ci[0])}, {_pct(r.regret_ci[1])}]"
            print(
                f"{r.parametrization:>16}: proxies {r.proxy_widths} x depths {r.proxy_depths} -> "
                f"{r.target_width} x {r.target_depth}, {r.seeds} seeds  "
                f"lr transferred {_fmt(r.lr_transferred)} "
                f"({r.transfer_model}) vs oracle {_fmt(r.lr_oracle)} ({r.regret_method}; grid best "
                f"{_fmt(r.lr_oracle_grid)})  regret {_pct(r.regret_mean)} {ci} (grid reading "
                f"{_pct(r.regret_grid)} {_ci(r.regret_grid_ci)})  "
                f"noise {_pct(r.noise_floor)}  compute/target run {_pct(r.compute_fraction_vs_target_run)} "
                f"(wall {_pct(r.wall_fraction_vs_target_run)}; /direct sweep "
                f"{_pct(r.compute_fraction_vs_direct_sweep)})  fit error {_fmt(r.fit_error_octaves)} oct  "
                f"κ {_fmt(r.robustness_exponent)}  asymptotic {_pct(r.asymptotic_penalty)}"
            )
            if isinstance(r, HorizonResult):
                print(_horizon_line(r))
    return 0


def _horizon_line(r: HorizonResult) -> str:
    g = r.gamma_horizon or {}
    return (
        f"{'':>16}  horizon {r.base_tokens:,} -> {r.target_tokens:,} tokens (scan {r.scan_tokens} at width "
        f"{r.horizon_fit_width}): γ_D {_fmt(g.get('value'))} [{_fmt(g.get('low'))}, {_fmt(g.get('high'))}]  "
        f"lr corrected {_fmt(r.lr_corrected)} regret {_pct(r.regret_corrected)} "
        f"{_ci(r.regret_corrected_ci)}  "
        f"copied {_fmt(r.lr_copied)} regret {_pct(r.regret_copied)} {_ci(r.regret_copied_ci)}  "
        f"copied − corrected {_pct(r.regret_difference_mean)} {_ci(r.regret_difference_ci)}: "
        f"{r.correction_verdict}"
    )


def _ci(ci: list[float] | None) -> str:
    return "n/a" if ci is None else f"[{_pct(ci[0])}, {_pct(ci[1])}]"


def _fmt(x: float | None) -> str:
    return "n/a" if x is None else f"{x:.4g}"


def _pct(x: float | None) -> str:
    return "n/a" if x is None else f"{100 * x:.2f} %"


if __name__ == "__main__":
    raise SystemExit(main())
