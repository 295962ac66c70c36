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
    gamma: float = 0.0  # drift of the optimal log2(lr) per doubling of width
    gamma_depth: float = 0.0  # ... and per doubling of depth
    u0: float = -8.0  # log2 of the optimal lr at the base width and depth
    curvature: float = 0.05
    E: float = 1.5
    A: float = 60.0
    alpha: float = 0.3
    noise: float = 0.005
    diverge_above: float = 3.0
    base_width: int = 32
    base_depth: int = 2

    def optimum_u(self, width: float, depth: float = 2) -> float:
        return (
            self.u0
            + self.gamma * math.log2(width / self.base_width)
            + self.gamma_depth * math.log2(depth / self.base_depth)
        )

    def best_loss(self, width: float, depth: int = 2) -> float:
        return self.E + self.A * non_embedding_params(int(width), depth) ** (-self.alpha)


def make_spec(
    widths: list[int],
    target: int = 1024,
    *,
    parametrizations: tuple[str, ...] = ("mup",),
    low: float = 2**-12,
    high: float = 2**-4,
    points: int = 9,
    seeds: int = 2,
    extra_space: dict[str, Any] | None = None,
    depths: list[int] | None = None,
    target_depth: int | None = None,
) -> SweepSpec:
    space = {"lr": {"scale": "log", "low": low, "high": high, "grid_points": points}, **(extra_space or {})}
    return parse_spec(
        {
            "name": "synthetic",
            "parametrizations": list(parametrizations),
            "base_width": widths[0],
            "model": {"depth": 2, "head_dim": 16, "context_length": 64},
            "proxy": {
                "widths": widths,
                "depths": depths,
                "steps": 200,
                "batch_size": 8,
                "seeds": list(range(seeds)),
            },
            "search": {"algorithm": "grid", "space": space},
            "target": {"width": target, "depth": target_depth},
        }
    )


def grid_trials(spec: SweepSpec, surfaces: dict[str, Surface], rng: np.random.Generator) -> list[TrialResult]:
    """Every lr grid point of `spec` at every width, depth and seed, losses drawn from each surface."""
    trials = []
    for p, surface in surfaces.items():
        for w in spec.proxy.widths:
            for depth in spec.depths():
                for lr in spec.search.space["lr"].grid():
                    du = math.log2(lr) - surface.optimum_u(w, depth)
                    for seed in spec.proxy.seeds:
                        diverged = du > surface.diverge_above
                        noise = rng.normal(0.0, surface.noise)
                        loss = (
                            math.nan
                            if diverged
                            else surface.best_loss(w, depth) + surface.curvature * du * du + noise
                        )
                        status = "diverged" if diverged else "completed"
                        trials.append(TrialResult(p, w, depth, seed, {"lr": lr}, loss, diverged, status))
    return trials
