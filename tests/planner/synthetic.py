"""Synthetic proxy studies with known answers: the loss surface the planner must read back.

L(u, w) = E + A·N(w)^−α + k·(u − u*(w))² + noise, with u = log2(lr) and u*(w) = u₀ + γ·log2(w / base):
γ = 0 is μP's promise, γ = −1 is SP's drift under Adam. Learning rates more than `diverge_above` octaves past
the optimum diverge (NaN loss), as real runs do.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from orchestrator.planner import TrialResult, non_embedding_params
from orchestrator.spec import SweepSpec, parse_spec


@dataclass(frozen=True)
class Surface:
    gamma: float = 0.0
    u0: float = -8.0  # log2 of the optimal lr at the base width
    curvature: float = 0.05
    E: float = 1.5
    A: float = 60.0
    alpha: float = 0.3
    noise: float = 0.005
    diverge_above: float = 3.0
    base_width: int = 32
    depth: int = 2

    def optimum_u(self, width: float) -> float:
        return self.u0 + self.gamma * math.log2(width / self.base_width)

    def best_loss(self, width: float) -> float:
        return self.E + self.A * non_embedding_params(int(width), self.depth) ** (-self.alpha)


def make_spec(widths: list[int], target: int = 1024, *, parametrizations: tuple[str, ...] = ("mup",),
              low: float = 2**-12, high: float = 2**-4, points: int = 9, seeds: int = 2,
              extra_space: dict[str, Any] | None = None) -> SweepSpec:
    space = {"lr": {"scale": "log", "low": low, "high": high, "grid_points": points}, **(extra_space or {})}
    return parse_spec({
        "name": "synthetic", "parametrizations": list(parametrizations), "base_width": widths[0],
        "model": {"depth": 2, "head_dim": 16, "context_length": 64},
        "proxy": {"widths": widths, "steps": 200, "batch_size": 8, "seeds": list(range(seeds))},
        "search": {"algorithm": "grid", "space": space},
        "target": {"width": target},
    })


def grid_trials(spec: SweepSpec, surfaces: dict[str, Surface], rng: np.random.Generator,
                lr_offsets: dict[int, float] | None = None) -> list[TrialResult]:
    """Every grid point of `spec` at every width and seed, with losses drawn from each parametrization's surface.

    `lr_offsets` shifts a width's lr grid by that many octaves (to centre it on a moving optimum).
    """
    trials = []
    for p, surface in surfaces.items():
        for w in spec.proxy.widths:
            shift = (lr_offsets or {}).get(w, 0.0)
            for lr in spec.search.space["lr"].grid():
                u = math.log2(lr) + shift
                for seed in spec.proxy.seeds:
                    du = u - surface.optimum_u(w)
                    diverged = du > surface.diverge_above
                    loss = math.nan if diverged else (surface.best_loss(w) + surface.curvature * du * du
                                                      + rng.normal(0.0, surface.noise))
                    trials.append(TrialResult(p, w, 2, seed, {"lr": 2.0**u}, loss, diverged,
                                              "diverged" if diverged else "completed"))
    return trials
