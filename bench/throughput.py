"""Throughput of the μP GPT against the same architecture in plain PyTorch (the μP layers' overhead budget).

Both models run the real training step (`workers.train.train_step`: forward, loss, backward, clipping,
AdamW step) on the same pre-drawn batches of the built-in corpus. The μP model comes from
`build_model` + `build_optimizer`; the plain one is written below with no parametrization machinery.
Repeats are interleaved (μP, plain, plain, μP, ...) so that drift in a shared machine's speed hits both
alike; tokens/s is the median over repeats and the ratio the median of per-repeat μP / plain ratios.
Goal: ratio >= 0.97. On a CPU shared with other jobs use `--threads 1 --clock cpu`.

    .venv/bin/python bench/throughput.py [--quick] [--json] [--widths 64,128,256,512] [--device cuda]
"""

from __future__ import annotations

import argparse
import json
import math
import statistics
import time
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from workers.config import TrialConfig
from workers.data import load_dataset
from workers.parametrization import build_model, build_optimizer
from workers.train import autocast_for, resolve_device, train_step


# --- the plain model: nanoGPT's architecture, matched to workers.models.gpt line for line ---------------
class PlainAttention(nn.Module):
    def __init__(self, width: int, n_heads: int, head_dim: int) -> None:
        super().__init__()
        self.n_heads, self.head_dim = n_heads, head_dim
        self.q = nn.Linear(width, n_heads * head_dim, bias=False)
        self.k = nn.Linear(width, n_heads * head_dim, bias=False)
        self.v = nn.Linear(width, n_heads * head_dim, bias=False)
        self.o = nn.Linear(n_heads * head_dim, width, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, t, _ = x.shape
        q, k, v = (
            p(x).view(b, t, self.n_heads, self.head_dim).transpose(1, 2) for p in (self.q, self.k, self.v)
        )
        y = F.scaled_dot_product_attention(q, k, v, is_causal=True)
        return self.o(y.transpose(1, 2).reshape(b, t, self.n_heads * self.head_dim))


class PlainBlock(nn.Module):
    def __init__(self, width: int, n_heads: int, head_dim: int, mlp_ratio: int) -> None:
        super().__init__()
        self.ln_1 = nn.LayerNorm(width)
        self.attn = PlainAttention(width, n_heads, head_dim)
        self.ln_2 = nn.LayerNorm(width)
        self.fc = nn.Linear(width, mlp_ratio * width, bias=False)
        self.proj = nn.Linear(mlp_ratio * width, width, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x + self.attn(self.ln_1(x))
        return x + self.proj(F.gelu(self.fc(self.ln_2(x))))


class PlainGPT(nn.Module):
    def __init__(self, config: TrialConfig, vocab_size: int) -> None:
        super().__init__()
        if config.n_heads:  # the same rule as workers.parametrization.resolve.attention_shape
            n_heads, head_dim = config.n_heads, config.width // config.n_heads
        else:
            n_heads, head_dim = config.width // config.head_dim, config.head_dim
        self.token = nn.Embedding(vocab_size, config.width)
        self.position = nn.Embedding(config.context_length, config.width)
        self.blocks = nn.ModuleList(
            PlainBlock(config.width, n_heads, head_dim, config.mlp_ratio) for _ in range(config.depth)
        )
        self.ln_f = nn.LayerNorm(config.width)
        self.readout = nn.Linear(config.width, vocab_size, bias=False)
        for p in self.parameters():
            if p.dim() == 2:
                nn.init.normal_(p, std=config.base_init_std())

    def forward(self, idx: torch.Tensor, targets: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        x = self.token(idx) + self.position(torch.arange(idx.shape[1], device=idx.device))
        for block in self.blocks:
            x = block(x)
        logits = self.readout(self.ln_f(x))
        return logits, F.cross_entropy(logits.flatten(0, 1).float(), targets.flatten())


# --- the benchmark ------------------------------------------------------------------------------------
@dataclass
class Contender:
    name: str
    model: nn.Module
    forward: nn.Module
    optimizer: torch.optim.Optimizer
    samples: list[float]


def build_contenders(config: TrialConfig, vocab_size: int, device: torch.device) -> list[Contender]:
    torch.manual_seed(config.seed)
    mup = build_model(config, vocab_size).to(device)
    mup_opt = build_optimizer(mup, config)
    for group in mup_opt.param_groups:
        group["lr"] = group["base_lr"]
    plain = PlainGPT(config, vocab_size).to(device)
    plain_opt = torch.optim.AdamW(
        plain.parameters(), lr=config.lr, betas=config.betas, eps=config.eps, weight_decay=config.weight_decay
    )
    n_mup, n_plain = (sum(p.numel() for p in m.parameters()) for m in (mup, plain))
    if n_mup != n_plain:
        raise RuntimeError(
            f"the plain model has {n_plain} parameters, the μP model {n_mup}: not the same architecture"
        )
    compile_ = config.compile and device.type == "cuda"
    return [
        Contender(name, model, torch.compile(model) if compile_ else model, opt, [])
        for name, model, opt in (("mup", mup, mup_opt), ("plain", plain, plain_opt))
    ]


CLOCKS = {"wall": time.perf_counter, "cpu": time.process_time}


def time_steps(c: Contender, batches: list, config: TrialConfig, device: torch.device, clock: str) -> float:
    """tokens/s over the given batches (the step's loss.item() already waits for the GPU).

    The ``cpu`` clock (process CPU time) is for a CPU shared with other jobs: time spent descheduled
    does not count, so the comparison stays fair; with one torch thread it equals compute time.
    """
    now = CLOCKS[clock]
    autocast = autocast_for(device)
    if device.type == "cuda":
        torch.cuda.synchronize()
    start = now()
    for batch in batches:
        train_step(c.forward, c.model, c.optimizer, batch, config.grad_clip, autocast)
    if device.type == "cuda":
        torch.cuda.synchronize()
    return len(batches) * config.batch_size * config.context_length / (now() - start)


def bench_width(width: int, args: argparse.Namespace, device: torch.device) -> dict:
    config = TrialConfig(
        width=width,
        depth=args.depth,
        head_dim=args.head_dim,
        context_length=args.context,
        batch_size=args.batch_size,
        lr=1e-3,
        tokenizer="char",
        device=device.type,
        compile=args.compile,
    )
    data = load_dataset(config)
    batches = [
        tuple(t.to(device) for t in data.batch("train", config.batch_size, config.context_length, 0, i))
        for i in range(args.steps)
    ]
    contenders = build_contenders(config, data.vocab_size, device)
    for c in contenders:
        time_steps(c, batches[: args.warmup], config, device, args.clock)
    for r in range(args.repeats):
        for c in contenders if r % 2 == 0 else contenders[::-1]:
            c.samples.append(time_steps(c, batches, config, device, args.clock))
    mup, plain = (statistics.median(c.samples) for c in contenders)
    # Paired: each repeat's μP and plain runs are neighbours in time, so their ratio cancels slow drift.
    ratios = [m / p for m, p in zip(contenders[0].samples, contenders[1].samples, strict=True)]
    return {
        "width": width,
        "params": sum(p.numel() for p in contenders[0].model.parameters()),
        "mup_tokens_per_s": mup,
        "plain_tokens_per_s": plain,
        "ratio": statistics.median(ratios),
        "ratio_min": min(ratios),
        "ratio_max": max(ratios),
    }


def time_coord_check(args: argparse.Namespace) -> dict | None:
    """Wall time and verdict of the μP + AdamW coordinate check (its defaults) over the benchmark's widths."""
    try:
        from workers.coord_check import coord_check
    except ImportError:
        return None
    config = TrialConfig(width=args.widths[0], depth=args.depth, head_dim=args.head_dim, tokenizer="char")
    start = time.perf_counter()
    result = coord_check(
        config, parametrization="mup", optimizer="adamw", widths=args.widths, steps=args.coord_steps
    )
    return {"seconds": time.perf_counter() - start, "passed": bool(result.passed), "steps": args.coord_steps}


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--widths", default="64,128,256,512", help="comma-separated model widths")
    parser.add_argument("--depth", type=int, default=2)
    parser.add_argument("--head-dim", type=int, default=16)
    parser.add_argument("--context", type=int, default=128)
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--steps", type=int, default=10, help="timed steps per repeat")
    parser.add_argument("--warmup", type=int, default=3)
    parser.add_argument("--repeats", type=int, default=6, help="interleaved repeats per model")
    parser.add_argument("--coord-steps", type=int, default=4)
    parser.add_argument("--device", default="auto", choices=["auto", "cpu", "cuda"])
    parser.add_argument("--threads", type=int, default=None, help="torch CPU threads")
    parser.add_argument(
        "--clock",
        default="wall",
        choices=list(CLOCKS),
        help="cpu: process CPU time, for a shared CPU machine",
    )
    parser.add_argument("--compile", action="store_true", help="torch.compile both models (GPU only)")
    parser.add_argument(
        "--quick", action="store_true", help="widths 64,128, context 64, 4 repeats of 5 steps"
    )
    parser.add_argument("--no-coord-check", action="store_true")
    parser.add_argument("--json", action="store_true", help="print JSON instead of a table")
    args = parser.parse_args(argv)
    if args.quick:
        args.widths, args.context, args.steps, args.repeats, args.warmup = "64,128", 64, 5, 4, 2
    args.widths = [int(w) for w in args.widths.split(",")]
    if any(w % args.head_dim for w in args.widths):
        parser.error(f"every width must be a multiple of --head-dim {args.head_dim}")
    return args


SETTINGS = ("depth", "head_dim", "context", "batch_size", "steps", "warmup", "repeats", "clock")


def device_name(device: torch.device) -> str:
    if device.type == "cuda":
        return torch.cuda.get_device_name(device)
    return f"cpu ({torch.get_num_threads()} threads)"


def main(argv: list[str] | None = None) -> dict:
    args = parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    device = resolve_device(args.device)
    rows = [bench_width(w, args, device) for w in args.widths]
    report = {
        "device": device_name(device),
        "torch": torch.__version__,
        "compile": bool(args.compile and device.type == "cuda"),
        "settings": {k: getattr(args, k) for k in SETTINGS},
        "widths": rows,
        "min_ratio": min(r["ratio"] for r in rows),
        "goal_ratio": 0.97,
        "coord_check": None if args.no_coord_check else time_coord_check(args),
    }
    if args.json:
        print(json.dumps(report, indent=2))
    else:
        print_table(report)
    return report


def print_table(report: dict) -> None:
    from rich.console import Console
    from rich.table import Table

    table = Table(
        title=f"μP vs plain PyTorch GPT, tokens/s on {report['device']} (median of interleaved repeats)"
    )
    for column in ("width", "params", "μP tok/s", "plain tok/s", "ratio", "ratio range"):
        table.add_column(column, justify="right")
    for r in report["widths"]:
        style = "green" if r["ratio"] >= report["goal_ratio"] else "red"
        table.add_row(
            str(r["width"]),
            f"{r['params']:,}",
            f"{r['mup_tokens_per_s']:,.0f}",
            f"{r['plain_tokens_per_s']:,.0f}",
            f"[{style}]{r['ratio']:.3f}[/{style}]",
            f"{r['ratio_min']:.2f}-{r['ratio_max']:.2f}",
        )
    console = Console()
    console.print(table)
    check = report["coord_check"]
    if check is None:
        console.print("coord check: not run")
    else:
        verdict = "passed" if check["passed"] else "FAILED"
        console.print(
            f"coord check (μP, AdamW, these widths, {check['steps']} steps): {check['seconds']:.1f} s, "
            + verdict
        )
    if not math.isfinite(report["min_ratio"]) or report["min_ratio"] < report["goal_ratio"]:
        console.print(f"[red]below the goal ratio {report['goal_ratio']} at some width[/red]")


if __name__ == "__main__":
    main()
