"""Small run tables written by the tests themselves (never third-party data): a ladder of finished runs in
the import format, drawn from a loss model the planner does not assume.

The loss along log2(lr) is asymmetric (steeper towards divergence, like real runs), the optimum's drift
with size levels off (`saturating`), and the noise is Student-t with 3 degrees of freedom.
"""

from __future__ import annotations

import csv
import math
from pathlib import Path
from typing import Any

import numpy as np

from orchestrator.planner import non_embedding_params


def optimum_u(width: int, *, u0: float = -7.0, drift: float = 0.0, knee: int = 64) -> float:
    """log2 of the optimal lr: moves `drift` octaves per doubling up to `knee`, then stays."""
    return u0 + drift * math.log2(min(width, knee) / 32)


def ladder(
    widths: tuple[int, ...] = (32, 64, 128, 256),
    *,
    lrs: int = 9,
    seeds: tuple[int, ...] = (0,),
    parametrizations: tuple[str, ...] = ("mup",),
    drift: float = 0.0,
    depth: int = 2,
    tokens: int = 1_000_000,
    noise: float = 0.004,
    rng_seed: int = 0,
) -> list[dict[str, Any]]:
    """One row per run: every lr (half an octave apart, centred near the optimum) × width × seed."""
    rng = np.random.default_rng(rng_seed)
    rows = []
    for p in parametrizations:
        for w in widths:
            n = non_embedding_params(w, depth)
            best = 1.8 + 40.0 * n**-0.3
            for i in range(lrs):
                u = -9.0 + 0.5 * i
                d = u - optimum_u(w, drift=drift)
                for s in seeds:
                    shape = 0.05 * (math.exp(0.8 * d) - 1 - 0.8 * d) / 0.32  # steeper towards large lr
                    loss = math.inf if d > 1.9 else best + shape + noise * rng.standard_t(3)
                    rows.append(
                        {
                            "parametrization": p,
                            "width": w,
                            "depth": depth,
                            "n_params": n,
                            "tokens": tokens,
                            "batch_size": 8,
                            "context_length": 64,
                            "seed": s,
                            "lr": 2.0**u,
                            "loss": loss,
                        }
                    )
    return rows


def write_csv(rows: list[dict[str, Any]], path: Path) -> Path:
    with path.open("w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    return path


def csv_text(rows: list[dict[str, Any]]) -> str:
    lines = [",".join(rows[0])]
    lines += [",".join(str(v) for v in row.values()) for row in rows]
    return "\n".join(lines) + "\n"
