"""Which base init σ should a sweep get when it does not tune `init_std`? (docs/parametrizations.md)

The demo's study (`examples/tiny-cpu.yaml`: GPT, depth 2, base width 32, 120 steps of 16 × 64 chars, AdamW)
at its three proxy widths, its LR grid (7 LRs an octave apart) and two candidate defaults: GPT-2's constant
σ = 0.02 and the base width's fan-in init σ = base_width^-½ (0.177 at 32). Reported per (σ, parametrization,
width): the best final validation loss over the LR grid and the LR that reached it. The question it answers:
does μP lose to SP at the demo's budget because of the init alone, and does μP's best loss still improve with
width under each σ? One seed per point; the run-to-run noise at these sizes is about 0.01 in loss (the
planner's seed noise on the same study), so differences below that are not read.

    .venv/bin/python bench/base_init.py [--json] [--jobs 2] [--sigmas 0.02,default]

Configuration fixed before measuring: the demo's own spec, except that only the LR is swept and σ is set by
this script. About 90 runs; 6-8 minutes on 2 idle cores.
"""

from __future__ import annotations

import argparse
import json
import math
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any

import torch
import yaml

from orchestrator.spec import parse_spec
from orchestrator.trial_config import trial_config
from workers.train import train

DEMO = Path(__file__).resolve().parents[1] / "examples" / "tiny-cpu.yaml"


def demo_spec() -> dict[str, Any]:
    """The demo's spec with only the LR swept (its grid as in the demo)."""
    data = yaml.safe_load(DEMO.read_text())
    data["search"]["space"] = {"lr": data["search"]["space"]["lr"]}
    return data


def lr_grid(space: dict[str, Any]) -> list[float]:
    lo, hi, n = math.log2(space["low"]), math.log2(space["high"]), space["grid_points"]
    return [2 ** (lo + (hi - lo) * i / (n - 1)) for i in range(n)]


def run_one(
    spec_data: dict[str, Any], parametrization: str, width: int, lr: float, sigma: float | None
) -> dict:
    torch.set_num_threads(1)
    spec = parse_spec(spec_data)
    hparams: dict[str, float] = {"lr": lr} | ({} if sigma is None else {"init_std": sigma})
    config = trial_config(
        spec, parametrization=parametrization, width=width, depth=spec.model.depth, seed=0, hparams=hparams
    )
    *_, last = train(config)
    loss = last.final_val_loss if last.status == "completed" else None
    if loss is not None and not math.isfinite(loss):
        loss = None
    return {
        "parametrization": parametrization,
        "width": width,
        "lr": lr,
        "loss": loss,
        "sigma": config.base_init_std(),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sigmas", default="0.02,default", help="comma list; 'default' = base_width^-½")
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    spec = demo_spec()
    sigmas = [None if s == "default" else float(s) for s in args.sigmas.split(",")]
    jobs = [
        (spec, p, w, lr, s)
        for s in sigmas
        for p in spec["parametrizations"]
        for w in spec["proxy"]["widths"]
        for lr in lr_grid(spec["search"]["space"]["lr"])
    ]
    started = time.perf_counter()
    with ProcessPoolExecutor(args.jobs) as pool:
        runs = list(pool.map(run_one, *zip(*jobs, strict=True)))
    best: dict[tuple[float, str, int], dict] = {}
    for r in runs:
        key = (r["sigma"], r["parametrization"], r["width"])
        if r["loss"] is not None and (key not in best or r["loss"] < best[key]["loss"]):
            best[key] = r
    if args.json:
        print(json.dumps({"runs": runs, "seconds": time.perf_counter() - started}, indent=2))
        return
    print(f"{'σ':>7} {'param':>6} {'width':>6} {'best loss':>10} {'at lr':>10}")
    for (sigma, p, w), r in sorted(best.items()):
        print(f"{sigma:7.3f} {p:>6} {w:6d} {r['loss']:10.4f} {r['lr']:10.3g}")
    print(f"{time.perf_counter() - started:.0f} s")


if __name__ == "__main__":
    main()
