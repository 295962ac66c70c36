"""The headline figure: does an LR tuned on small μP proxies transfer to a wide target (issue 5)?

On the workers' built-in text corpus, for each parametrization (μP, and SP as the control):
1. sweep the LR grid on proxies at small widths, with the product's training function
   (`orchestrator.trial_config.trial_config` → `workers.train.train`, in-process: a bench, not the service);
2. plan with the product's planner (`orchestrator.planner.build_plan`) → the transferred LR for the target;
3. train the target once at the transferred LR;
4. the oracle: the same LR grid swept directly at the target width (what μTransfer saves you from).

Reported per parametrization: regret = (L_transfer − L_oracle) / L_oracle (goal ≤ 0.5 % for μP), where
L_oracle is the best loss of the direct sweep, and compute_fraction = proxy FLOPs / direct-sweep FLOPs
(C = 6·N·D over non-embedding params, as the planner counts it; goal ≤ 5 %). The loss is the final
validation loss on fixed held-out batches.

`--vary` says which axis the proxies shrink (`width`, or `depth`: proxies at depths 2 and 4 transferred to
depth 8 under CompleteP, issue 7), `--family` which model family is trained (`gpt`, `mlp`, `moe`): both only
change the spec the bench builds, never the procedure.

    .venv/bin/python bench/transfer.py --quick [--json] [--parametrizations mup,sp] [--threads 1]

Quick mode (proxies 32/64/128, target 512, depth 2, 120 steps of batch 8 × 64 chars, 5 LRs 1e-3..1e-1,
one seed) took 19 min on 2 heavily shared cores (2026-11-23). Its result: μP regret 5.8 % (transferred
lr 0.0112 vs oracle 0.0032), SP regret 2.0 %, compute fraction 8.2 % for both: neither goal met. At this
budget one run's loss is noisier than the goal (at width 512, μP lr 0.0100 gave 2.631 and lr 0.0112 gave
2.715), so a 0.5 % regret cannot be resolved by single-seed 120-step runs; the full mode trains longer,
on a finer grid, with a 2× wider target (compute fraction ≈ 2 %).
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from orchestrator.planner import build_plan
from orchestrator.planner.model_size import params_for, training_flops
from orchestrator.planner.types import TrialResult
from orchestrator.spec import SweepSpec, parse_spec
from orchestrator.trial_config import trial_config
from workers.train import train


@dataclass(frozen=True)
class Mode:
    """The sizes of one bench run: proxies, target, budget and LR grid (log-spaced, `lr_points` values)."""

    proxy_widths: list[int]
    target_width: int
    depth: int
    steps: int
    batch_size: int
    context_length: int
    lr_low: float
    lr_high: float
    lr_points: int
    base_width: int


MODES = {
    "quick": Mode([32, 64, 128], 512, 2, 120, 8, 64, 1e-3, 1e-1, 5, 32),
    "full": Mode([32, 64, 128], 1024, 2, 600, 16, 64, 3e-4, 1e-1, 9, 32),
}


def width_spec(mode: Mode, family: str, parametrizations: list[str]) -> dict[str, Any]:
    """The spec a user would submit for this bench: proxies vary the width, the target is wider."""
    return {
        "name": f"bench-transfer-{family}-width",
        "model": {"family": family, "depth": mode.depth, "context_length": mode.context_length},
        "parametrizations": parametrizations,
        "base_width": mode.base_width,
        "proxy": {
            "widths": mode.proxy_widths,
            "steps": mode.steps,
            "batch_size": mode.batch_size,
            "eval_every": mode.steps,
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
        "target": {"width": mode.target_width, "steps": mode.steps},
    }


def depth_spec(mode: Mode, family: str, parametrizations: list[str]) -> dict[str, Any]:
    """Proxies at depths 2 and 4 (at the two smallest proxy widths, which the width fit needs), the target
    at depth 8 and one width step up (the spec wants a target wider than its proxies): the figure is mostly
    the depth transfer, CompleteP's claim (issue 7)."""
    spec = width_spec(mode, family, parametrizations)
    widths = mode.proxy_widths[:2]
    spec["name"] = f"bench-transfer-{family}-depth"
    spec["model"]["depth"] = 2
    spec["base_depth"] = 2
    spec["proxy"] = {**spec["proxy"], "widths": widths, "depths": [2, 4]}
    spec["target"] = {"width": 2 * widths[-1], "depth": 8, "steps": mode.steps}
    return spec


# --vary: which axis the proxies shrink → the spec for it.
AXES: dict[str, Callable[[Mode, str, list[str]], dict[str, Any]]] = {"width": width_spec, "depth": depth_spec}
FAMILIES = ("gpt", "mlp", "moe")  # moe: the default `model.moe` (8 experts, top-2; workers/models/moe.py)


@dataclass
class Run:
    width: int
    lr: float
    loss: float | None  # final validation loss; None when it diverged
    status: str
    seconds: float
    flops: float
    depth: int | None = None


@dataclass
class Result:
    parametrization: str
    proxy_widths: list[int]
    target_width: int
    lr_transferred: float | None = None
    lr_oracle: float | None = None
    loss_transferred: float | None = None
    loss_oracle: float | None = None
    predicted_loss: dict[str, Any] | None = None
    regret: float | None = None
    compute_fraction: float | None = None
    proxy_seconds: float = 0.0
    oracle_seconds: float = 0.0
    transfer_holds: bool | None = None
    proxy_runs: list[Run] = field(default_factory=list)
    oracle_runs: list[Run] = field(default_factory=list)
    proxy_depths: list[int] = field(default_factory=list)
    target_depth: int | None = None

    def to_dict(self) -> dict[str, Any]:
        out = {k: v for k, v in self.__dict__.items() if k not in ("proxy_runs", "oracle_runs")}
        out["proxy_runs"] = [r.__dict__ for r in self.proxy_runs]
        out["oracle_runs"] = [r.__dict__ for r in self.oracle_runs]
        return out


def run_one(spec: SweepSpec, p: str, width: int, lr: float, threads: int, depth: int | None = None) -> Run:
    """One training run with the product's config mapping and training loop (depth: the model's)."""
    config = trial_config(
        spec,
        parametrization=p,
        width=width,
        depth=depth or spec.model.depth,
        seed=0,
        hparams={"lr": lr},
        steps=spec.proxy.steps,
        threads=threads,
        device="auto",
    )
    started = time.perf_counter()
    last = None
    for record in train(config):
        last = record
    assert last is not None
    loss = last.final_val_loss if last.status == "completed" else None
    if loss is not None and not math.isfinite(loss):
        loss = None
    tokens = config.steps * config.batch_size * config.context_length
    flops = training_flops(params_for(spec.model, width, config.depth), tokens)
    return Run(width, lr, loss, last.status, time.perf_counter() - started, flops, config.depth)


def bench_one(spec: SweepSpec, p: str, threads: int, log: Callable[[str], None]) -> Result:
    grid = spec.search.space["lr"].grid()
    result = Result(p, list(spec.proxy.widths), spec.target.width)
    result.proxy_depths, result.target_depth = spec.depths(), spec.target.depth or spec.model.depth
    for d in result.proxy_depths:
        for w in spec.proxy.widths:
            for lr in grid:
                run = run_one(spec, p, w, lr, threads, d)
                result.proxy_runs.append(run)
                log(f"{p} proxy width={w} depth={d} lr={lr:.3g} loss={run.loss} ({run.seconds:.0f}s)")
    trials = [
        TrialResult(
            p, r.width, r.depth or spec.model.depth, 0, {"lr": r.lr}, r.loss, r.status == "diverged", r.status
        )
        for r in result.proxy_runs
    ]
    plan = build_plan(spec.model_copy(update={"parametrizations": [p]}), trials)
    pp = plan.parametrizations[p]
    result.lr_transferred = pp.hparams["lr"].value
    result.predicted_loss = pp.predicted_loss.__dict__
    result.transfer_holds = pp.transfer_holds
    log(f"{p} plan: lr={result.lr_transferred} holds={pp.transfer_holds} notes={pp.transfer_notes}")

    for lr in grid:
        run = run_one(spec, p, spec.target.width, lr, threads, result.target_depth)
        result.oracle_runs.append(run)
        log(f"{p} oracle width={spec.target.width} lr={lr:.3g} loss={run.loss} ({run.seconds:.0f}s)")
    finished = [r for r in result.oracle_runs if r.loss is not None]
    if finished:
        best = min(finished, key=lambda r: r.loss or math.inf)
        result.lr_oracle, result.loss_oracle = best.lr, best.loss
    if result.lr_transferred is not None:
        run = run_one(spec, p, spec.target.width, result.lr_transferred, threads, result.target_depth)
        result.loss_transferred = run.loss
        log(f"{p} transferred lr={result.lr_transferred:.3g} loss={run.loss} ({run.seconds:.0f}s)")
    if result.loss_transferred is not None and result.loss_oracle:
        result.regret = (result.loss_transferred - result.loss_oracle) / result.loss_oracle
    result.proxy_seconds = sum(r.seconds for r in result.proxy_runs)
    result.oracle_seconds = sum(r.seconds for r in result.oracle_runs)
    proxy_flops = sum(r.flops for r in result.proxy_runs)
    result.compute_fraction = proxy_flops / sum(r.flops for r in result.oracle_runs)
    return result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="the small mode (default: full)")
    parser.add_argument("--json", action="store_true", help="print the results as JSON")
    parser.add_argument("--family", choices=FAMILIES, default="gpt")
    parser.add_argument("--vary", choices=sorted(AXES), default="width")
    parser.add_argument("--parametrizations", default="mup,sp", help="comma-separated, e.g. mup,sp")
    parser.add_argument("--threads", type=int, default=1, help="torch threads per run")
    parser.add_argument("--out", type=Path, help="also write the JSON here, after each parametrization")
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    mode = MODES["quick" if args.quick else "full"]
    names = [p.strip() for p in args.parametrizations.split(",") if p.strip()]
    spec = parse_spec(AXES[args.vary](mode, args.family, names))

    def log(line: str) -> None:
        print(f"[{time.strftime('%H:%M:%S')}] {line}", file=sys.stderr, flush=True)

    results = []
    for p in names:
        results.append(bench_one(spec, p, args.threads, log))
        if args.out:
            args.out.write_text(json.dumps([r.to_dict() for r in results], indent=2))
    if args.json:
        print(json.dumps([r.to_dict() for r in results], indent=2))
    else:
        for r in results:
            print(
                f"{r.parametrization:>5}: proxies {r.proxy_widths} -> {r.target_width}  "
                f"lr transferred {_fmt(r.lr_transferred)} vs oracle {_fmt(r.lr_oracle)}  "
                f"loss {_fmt(r.loss_transferred)} vs {_fmt(r.loss_oracle)}  "
                f"regret {_pct(r.regret)}  compute {_pct(r.compute_fraction)}"
            )
    return 0


def _fmt(x: float | None) -> str:
    return "n/a" if x is None else f"{x:.4g}"


def _pct(x: float | None) -> str:
    return "n/a" if x is None else f"{100 * x:.2f} %"


if __name__ == "__main__":
    raise SystemExit(main())
