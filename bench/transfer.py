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

    .venv/bin/python bench/transfer.py --quick [--vary width|depth] [--family gpt|mlp|moe] [--json]
        [--parametrizations mup,sp] [--jobs 2] [--threads 1] [--out results.json]

Quick mode: proxies at widths 32 and 64 (8× and 16× narrower than the target), target 512, depth 2, 200
steps of batch 8 × 64 chars, 15 LRs 2^-13..2^-6 (half-octave steps), one seed, base width 32. Measured
2026-11-23 on the 2 cores of the dev machine, 2 runs at a time, 915 s in all:

| | lr transferred (law) | lr oracle | loss transferred / oracle | regret | compute | copying the 64-wide LR |
|---|---|---|---|---|---|---|
| μP | 0.00423 (γ = −0.12 [−0.27, 0.05]: kept) | 0.00391 | 2.452 / 2.450 | 0.09 % | 1.97 % | 0.07 % |
| SP | 0.000241 (γ = −1.05 [−1.37, −0.78]: fitted) | 0.000244 | 2.345 / 2.345 | 0.01 % | 1.97 % | 8.8 % |

Re-measured 2026-12-01 on a clean checkout (1,144 s, peak RSS 528 MB): μP 0.00424 vs oracle 0.00391, regret
0.11 %, compute 1.97 %, copying 0.05 %; SP 0.000261 vs 0.000244, regret −0.07 % (the fitted LR lies between
two grid points and beats both), copying 8.9 %. The same run's loss moved by up to 0.1 % between the dates.

Both goals hold for μP. SP's LR transfers too, but only because the planner fits its drift from two
proxy widths and extrapolates it (γ ≈ −1, as SP with Adam predicts): SP's proxy optimum copied as is
costs 8.8 %, μP's 0.07 %. At this budget (102k tokens a run) SP's best target loss is lower than μP's:
only the LR is tuned, and μP's base init σ = 0.02 at base width 32 leaves the 512-wide hidden
matrices at σ = 0.005; tuning `init_std` and `alpha_out` in the same sweep is the fair loss comparison.

`--vary depth` (proxies 32/64 × depths 2/4, target 256 × depth 8, otherwise as above; 1,286 s, partly
shared with a test run):

| | lr transferred (γ_depth) | lr oracle | loss transferred / oracle | regret | compute | copying |
|---|---|---|---|---|---|---|
| CompleteP | 0.00556 (+0.21 [0.03, 0.37]: ×1.15) | 0.00781 | 2.493 / 2.485 | 0.31 % | 5.89 % | 0.87 % |
| μP | 0.00342 (−0.12 [−0.26, 0.01]: ×0.92) | 0.00276 | 2.645 / 2.599 | 1.79 % | 5.89 % | 0.68 % |

(Both width laws kept γ = 0: −0.03 and 0.08. Both depth laws were applied, CompleteP's because its γ_depth
excluded 0 and the promise yielded to the data.)

Re-measured 2026-12-01 (1,548 s): CompleteP regret 0.28 % (γ_depth +0.23 [0.08, 0.37]), μP 0.79 %
(γ_depth −0.09 [−0.22, 0.04]), compute 5.89 % for both.

CompleteP meets the regret goal; its compute fraction misses 5 % because the target is only 4× wider
than the widest proxy (a 512 × 8 oracle sweep does not fit the CPU budget; there it would be 1.5 %).
Plain μP (no depth scaling) is the control: its loss at depth 8 is ragged above the optimum (2.79, 2.82,
2.80 at lr 0.0055..0.011), so one run's noise is about 1 %, and transferred vs copied is within it.

`--family moe` (MoE proxies 32/64 → an MoE target of width 256, 8 experts, top-2; 606 s):

| | lr transferred (γ) | lr oracle | loss transferred / oracle | regret | compute | copying |
|---|---|---|---|---|---|---|
| μP | 0.00449 (−0.05: kept) | 0.00391 | 2.410 / 2.411 | −0.06 % | 7.94 % | 0.12 % |
| SP | 0.000509 (−1.05: fitted) | 0.000691 | 2.356 / 2.336 | 0.85 % | 7.94 % | 6.57 % |

Re-measured 2026-12-01 (702 s): μP regret 0.00 % (copying 0.11 %), SP 0.51 % (copying 6.6 %), compute 7.94 %.

The target is 256 wide because one MoE step at width 512 takes 3.6 s on one CPU thread (the expert
dispatch), so its 15-point oracle sweep does not fit the budget; at 512 the fraction would be ≈ 2 %.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import time
from collections.abc import Callable
from concurrent.futures import Executor, ProcessPoolExecutor, as_completed
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
    """The sizes of one bench run: proxies, targets, budget and LR grid (log-spaced, `lr_points` values)."""

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


MODES = {
    # proxies 8× and 16× narrower than the target; the grid is half-octave steps wide enough for both μP's
    # optimum (≈ 2^-8 at every width) and SP's drifting one (≈ 2^-7.5 at width 32, 2^-12 at 512).
    "quick": Mode([32, 64], 512, 256, 256, 2, 200, 8, 64, 2.0**-13, 2.0**-6, 15, 32),
    "full": Mode([64, 128], 1024, 1024, 1024, 4, 1000, 32, 128, 2.0**-14, 2.0**-6, 17, 32),
}
EVAL_BATCHES = 16  # the final loss is read on 16 fixed held-out batches (the trials' default is 4)
DEFAULT_PARAMETRIZATIONS = {"width": "mup,sp", "depth": "completep,mup"}


def width_spec(mode: Mode, family: str, parametrizations: list[str]) -> dict[str, Any]:
    """The spec a user would submit for this bench: proxies vary the width, the target is wider."""
    target = mode.moe_target_width if family == "moe" else mode.target_width
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
        "target": {"width": target, "steps": mode.steps},
    }


def depth_spec(mode: Mode, family: str, parametrizations: list[str]) -> dict[str, Any]:
    """Proxies at depths 2 and 4 (at both proxy widths, which the width fit needs), the target at depth 8 and
    `depth_target_width` (CompleteP's claim, issue 7: the depth law is applied on top of the width law)."""
    spec = width_spec(mode, family, parametrizations)
    spec["name"] = f"bench-transfer-{family}-depth"
    spec["model"]["depth"] = 2
    spec["base_depth"] = 2
    spec["proxy"] = {**spec["proxy"], "depths": [2, 4]}
    spec["target"] = {"width": mode.depth_target_width, "depth": 8, "steps": mode.steps}
    return spec


# --vary: which axis the proxies shrink → the spec for it.
AXES: dict[str, Callable[[Mode, str, list[str]], dict[str, Any]]] = {"width": width_spec, "depth": depth_spec}
FAMILIES = ("gpt", "mlp", "moe")  # moe: the default `model.moe` (8 experts, top-2; workers/models/moe.py)


@dataclass(frozen=True)
class Job:
    """One training run the bench needs: a proxy, an oracle point at the target, or the transferred run."""

    kind: str  # proxy | oracle | transferred
    parametrization: str
    width: int
    depth: int
    lr: float


@dataclass
class Run:
    width: int
    lr: float
    loss: float | None  # final validation loss; None when it diverged
    status: str
    seconds: float
    flops: float
    depth: int | None = None
    kind: str = "proxy"
    parametrization: str = ""


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
    # the naive alternative to a plan: copy the widest proxy's optimal LR verbatim, priced on the oracle's
    # curve (interpolated in log LR, no extra run); μP promises this is as good as the plan, SP does not
    lr_copied: float | None = None
    loss_copied: float | None = None
    regret_copied: float | None = None
    proxy_seconds: float = 0.0
    oracle_seconds: float = 0.0
    transfer_holds: bool | None = None
    transfer_model: str | None = None  # "invariant" (γ = 0 kept) or "power_law" (extrapolated)
    gamma: dict[str, Any] | None = None
    depth_model: str | None = None  # --vary depth: the depth law's model, and its γ
    gamma_depth: dict[str, Any] | None = None
    proxy_optima: dict[str, float | None] = field(default_factory=dict)
    proxy_runs: list[Run] = field(default_factory=list)
    oracle_runs: list[Run] = field(default_factory=list)
    proxy_depths: list[int] = field(default_factory=list)
    target_depth: int | None = None

    def to_dict(self) -> dict[str, Any]:
        out = {k: v for k, v in self.__dict__.items() if k not in ("proxy_runs", "oracle_runs")}
        out["proxy_runs"] = [r.__dict__ for r in self.proxy_runs]
        out["oracle_runs"] = [r.__dict__ for r in self.oracle_runs]
        return out


def run_job(spec_data: dict[str, Any], job: Job, threads: int) -> Run:
    """One training run with the product's config mapping and training loop (in a pool worker process)."""
    torch.set_num_threads(threads)
    spec = parse_spec(spec_data)
    config = trial_config(
        spec,
        parametrization=job.parametrization,
        width=job.width,
        depth=job.depth,
        seed=0,
        hparams={"lr": job.lr},
        steps=spec.proxy.steps,
        threads=threads,
        device="auto",
    )
    config.eval_batches = EVAL_BATCHES
    started = time.perf_counter()
    last = None
    for record in train(config):
        last = record
    assert last is not None
    loss = last.final_val_loss if last.status == "completed" else None
    if loss is not None and not math.isfinite(loss):
        loss = None
    tokens = config.steps * config.batch_size * config.context_length
    flops = training_flops(params_for(spec.model, job.width, job.depth), tokens)
    seconds = time.perf_counter() - started
    return Run(job.width, job.lr, loss, last.status, seconds, flops, job.depth, job.kind, job.parametrization)


def run_all(
    spec_data: dict[str, Any], jobs: list[Job], pool: Executor, threads: int, log: Callable[[str], None]
) -> list[Run]:
    """Run `jobs` on the pool, the widest and deepest first (so the pool ends evenly), logging each end."""
    order = sorted(range(len(jobs)), key=lambda i: -jobs[i].width * jobs[i].width * jobs[i].depth)
    futures = {pool.submit(run_job, spec_data, jobs[i], threads): i for i in order}
    runs: list[Run | None] = [None] * len(jobs)
    for done, future in enumerate(as_completed(futures), 1):
        run = future.result()
        runs[futures[future]] = run
        log(
            f"[{done}/{len(jobs)}] {run.parametrization} {run.kind} width={run.width} depth={run.depth} "
            f"lr={run.lr:.3g} loss={_fmt(run.loss)} ({run.seconds:.0f}s)"
        )
    return [r for r in runs if r is not None]


def sweep_jobs(spec: SweepSpec, p: str) -> list[Job]:
    """The proxies' grid at every (width, depth), and the oracle: the same grid directly at the target."""
    grid = spec.search.space["lr"].grid()
    target_depth = spec.target.depth or spec.model.depth
    proxies = [Job("proxy", p, w, d, lr) for d in spec.depths() for w in spec.proxy.widths for lr in grid]
    return proxies + [Job("oracle", p, spec.target.width, target_depth, lr) for lr in grid]


def plan_transfer(spec: SweepSpec, result: Result, log: Callable[[str], None]) -> None:
    """The product's planner on the proxy runs: the transferred LR and what the plan says about it."""
    p = result.parametrization
    trials = [
        TrialResult(
            p, r.width, r.depth or spec.model.depth, 0, {"lr": r.lr}, r.loss, r.status == "diverged", r.status
        )
        for r in result.proxy_runs
    ]
    plan = build_plan(spec.model_copy(update={"parametrizations": [p]}), trials)
    pp = plan.parametrizations[p]
    law = pp.width_transfer["lr"]
    result.lr_transferred = pp.hparams["lr"].value
    result.predicted_loss = pp.predicted_loss.__dict__
    result.transfer_holds = pp.transfer_holds
    result.transfer_model = law.model
    result.gamma = law.gamma.__dict__
    depth_law = pp.depth_transfer.get("lr")
    if depth_law is not None:
        result.depth_model, result.gamma_depth = depth_law.model, depth_law.gamma.__dict__
    result.proxy_optima = {str(int(f.scale)): f.optimum.value for f in pp.optima["lr"]}
    log(
        f"{p} plan: lr={_fmt(result.lr_transferred)} law={law.model} γ={_fmt(law.gamma.value)} "
        f"notes={pp.transfer_notes}"
    )


def score(result: Result, transferred: Run | None) -> None:
    """Regret against the best oracle point, and the proxies' compute against the direct sweep's."""
    finished = [r for r in result.oracle_runs if r.loss is not None]
    if finished:
        best = min(finished, key=lambda r: r.loss or math.inf)
        result.lr_oracle, result.loss_oracle = best.lr, best.loss
    if transferred is not None:
        result.loss_transferred = transferred.loss
    if result.loss_transferred is not None and result.loss_oracle:
        result.regret = (result.loss_transferred - result.loss_oracle) / result.loss_oracle
    widest = result.proxy_optima.get(str(max(result.proxy_widths)))
    if widest is not None and result.loss_oracle:
        result.lr_copied, result.loss_copied = widest, oracle_curve_at(result.oracle_runs, widest)
        if result.loss_copied is not None:
            result.regret_copied = (result.loss_copied - result.loss_oracle) / result.loss_oracle
    result.proxy_seconds = sum(r.seconds for r in result.proxy_runs)
    result.oracle_seconds = sum(r.seconds for r in result.oracle_runs)
    result.compute_fraction = sum(r.flops for r in result.proxy_runs) / sum(
        r.flops for r in result.oracle_runs
    )


def oracle_curve_at(runs: list[Run], lr: float) -> float | None:
    """The oracle sweep's loss at `lr`, linear in log2(lr) between its finished grid points (None outside)."""
    points = sorted((math.log2(r.lr), r.loss) for r in runs if r.loss is not None)
    u = math.log2(lr)
    for (u0, y0), (u1, y1) in zip(points, points[1:], strict=False):
        if u0 <= u <= u1:
            return y0 + (y1 - y0) * (u - u0) / (u1 - u0)
    return None


def bench(
    spec: SweepSpec, names: list[str], jobs: int, threads: int, log: Callable[[str], None]
) -> list[Result]:
    """Every parametrization's proxies and oracle in one pool, then the plans, then the transferred runs."""
    data = spec.model_dump(mode="json")
    target_depth = spec.target.depth or spec.model.depth
    results = {p: Result(p, list(spec.proxy.widths), spec.target.width) for p in names}
    with ProcessPoolExecutor(max_workers=jobs) as pool:
        for run in run_all(data, [j for p in names for j in sweep_jobs(spec, p)], pool, threads, log):
            result = results[run.parametrization]
            (result.proxy_runs if run.kind == "proxy" else result.oracle_runs).append(run)
        for result in results.values():
            result.proxy_depths, result.target_depth = spec.depths(), target_depth
            plan_transfer(spec, result, log)
        final = [
            Job("transferred", r.parametrization, spec.target.width, target_depth, r.lr_transferred)
            for r in results.values()
            if r.lr_transferred is not None
        ]
        transferred = {run.parametrization: run for run in run_all(data, final, pool, threads, log)}
    for p, result in results.items():
        score(result, transferred.get(p))
    return list(results.values())


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="the small mode (default: full)")
    parser.add_argument("--json", action="store_true", help="print the results as JSON")
    parser.add_argument("--family", choices=FAMILIES, default="gpt")
    parser.add_argument("--vary", choices=sorted(AXES), default="width")
    parser.add_argument(
        "--parametrizations", help="comma-separated (default: mup,sp; completep,mup for depth)"
    )
    parser.add_argument("--jobs", type=int, default=2, help="runs in parallel (processes)")
    parser.add_argument("--threads", type=int, default=1, help="torch threads per run")
    parser.add_argument("--out", type=Path, help="also write the JSON here")
    args = parser.parse_args(argv)
    mode = MODES["quick" if args.quick else "full"]
    chosen = args.parametrizations or DEFAULT_PARAMETRIZATIONS[args.vary]
    names = [p.strip() for p in chosen.split(",") if p.strip()]
    spec = parse_spec(AXES[args.vary](mode, args.family, names))

    def log(line: str) -> None:
        print(f"[{time.strftime('%H:%M:%S')}] {line}", file=sys.stderr, flush=True)

    started = time.perf_counter()
    results = bench(spec, names, args.jobs, args.threads, log)
    log(f"done in {time.perf_counter() - started:.0f} s")
    if args.out:
        args.out.write_text(json.dumps([r.to_dict() for r in results], indent=2))
    if args.json:
        print(json.dumps([r.to_dict() for r in results], indent=2))
    else:
        for r in results:
            print(
                f"{r.parametrization:>9}: proxies {r.proxy_widths} x depths {r.proxy_depths} -> "
                f"{r.target_width} x {r.target_depth}  lr transferred {_fmt(r.lr_transferred)} "
                f"({r.transfer_model}) vs oracle {_fmt(r.lr_oracle)}  loss {_fmt(r.loss_transferred)} vs "
                f"{_fmt(r.loss_oracle)}  regret {_pct(r.regret)}  compute {_pct(r.compute_fraction)}  "
                f"(copying lr {_fmt(r.lr_copied)} instead: regret {_pct(r.regret_copied)})"
            )
    return 0


def _fmt(x: float | None) -> str:
    return "n/a" if x is None else f"{x:.4g}"


def _pct(x: float | None) -> str:
    return "n/a" if x is None else f"{100 * x:.2f} %"


if __name__ == "__main__":
    raise SystemExit(main())
