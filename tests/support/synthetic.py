"""Synthetic proxy studies with known answers: the loss surface the planner must read back.

L(u, w) = E + A·N(w)^−α + k·(u − u*(w))² + noise, with u = log2(lr) and u*(w) = u₀ + γ·log2(w / base):
γ = 0 is μP's promise, γ = −1 is SP's drift under Adam. Learning rates more than `diverge_above` octaves past
the optimum diverge (NaN loss), as real runs do.

The noise has two parts, as real runs do: `noise` differs from trial to trial, `seed_noise` is shared by
every learning rate of one (width, depth, seed), as an init draw and a batch order are. One seed per point
shows only the first as scatter around the LR curve; the second moves the whole curve.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from orchestrator.planner import HPAxis, OptimumFit, TrialResult, fit_optimum, non_embedding_params
from orchestrator.planner.profile import profile
from orchestrator.spec import SweepSpec, parse_spec


@dataclass(frozen=True)
class Surface:
    gamma: float = 0.0  # drift of the optimal log2(lr) per doubling of width
    gamma_depth: float = 0.0  # ... and per doubling of depth
    gamma_horizon: float = 0.0  # ... per doubling of the tokens per run (`base_tokens`: the proxies')
    gamma_batch: float = 0.0  # ... per doubling of the batch size at the same tokens (`base_batch`)
    u0: float = -8.0  # log2 of the optimal lr at the base width and depth
    curvature: float = 0.05
    E: float = 1.5
    A: float = 60.0
    alpha: float = 0.3
    noise: float = 0.005
    seed_noise: float = 0.0
    diverge_above: float = 3.0
    base_width: int = 32
    base_depth: int = 2
    base_tokens: int = 200 * 8 * 64  # make_spec's proxies: 200 steps × batch 8 × context 64
    base_batch: int = 8

    def optimum_u(
        self, width: float, depth: float = 2, tokens: float | None = None, batch: float | None = None
    ) -> float:
        return (
            self.u0
            + self.gamma * math.log2(width / self.base_width)
            + self.gamma_depth * math.log2(depth / self.base_depth)
            + self.gamma_horizon * math.log2((tokens or self.base_tokens) / self.base_tokens)
            + self.gamma_batch * math.log2((batch or self.base_batch) / self.base_batch)
        )

    def best_loss(self, width: float, depth: int = 2) -> float:
        return self.E + self.A * non_embedding_params(int(width), depth) ** (-self.alpha)

    @property
    def run_noise(self) -> float:
        """The standard deviation of one run's final loss across seeds."""
        return math.hypot(self.noise, self.seed_noise)

    def realized_loss(self, u: float, width: float, rng: np.random.Generator, depth: int = 2) -> float:
        """One fresh-seed run at u = log2(lr): what a target run trained with the plan's lr would reach."""
        du = u - self.optimum_u(width, depth)
        return self.best_loss(width, depth) + self.curvature * du * du + rng.normal(0.0, self.run_noise)


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
    token_budgets: list[int] | None = None,
    batch_sizes: list[int] | None = None,
    target_tokens: int | None = None,
    target_batch: int | None = None,
    scan_widths: str | None = None,
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
                "token_budgets": token_budgets,
                "batch_sizes": batch_sizes,
                **({"scan_widths": scan_widths} if scan_widths else {}),
            },
            "search": {"algorithm": "grid", "space": space},
            "target": {
                "width": target,
                "depth": target_depth,
                "tokens": target_tokens,
                "batch_size": target_batch,
            },
        }
    )


def grid_trials(spec: SweepSpec, surfaces: dict[str, Surface], rng: np.random.Generator) -> list[TrialResult]:
    """Every lr grid point of `spec` at every width, depth and seed, losses drawn from each surface."""
    trials = []
    for p, surface in surfaces.items():
        for w in spec.proxy.widths:
            for depth in spec.depths():
                # drawn only when there is any, so studies without it keep their random streams
                shared = {
                    s: rng.normal(0.0, surface.seed_noise) if surface.seed_noise else 0.0
                    for s in spec.proxy.seeds
                }
                for lr in spec.search.space["lr"].grid():
                    du = math.log2(lr) - surface.optimum_u(w, depth)
                    for seed in spec.proxy.seeds:
                        diverged = du > surface.diverge_above
                        noise = rng.normal(0.0, surface.noise) + shared[seed]
                        loss = (
                            math.nan
                            if diverged
                            else surface.best_loss(w, depth) + surface.curvature * du * du + noise
                        )
                        status = "diverged" if diverged else "completed"
                        trials.append(TrialResult(p, w, depth, seed, {"lr": lr}, loss, diverged, status))
    for p, surface in surfaces.items():  # the token and batch scans, after the width sweep's trials
        for cell in [c for c in spec.searches() if c.parametrization == p]:
            if cell.tokens is None and cell.batch_size is None:
                continue
            for lr in spec.search.space["lr"].grid():
                du = math.log2(lr) - surface.optimum_u(cell.width, cell.depth, cell.tokens, cell.batch_size)
                for seed in spec.proxy.seeds:
                    diverged = du > surface.diverge_above
                    noise = rng.normal(0.0, surface.noise)
                    best = surface.best_loss(cell.width, cell.depth)
                    loss = math.nan if diverged else best + surface.curvature * du * du + noise
                    trials.append(
                        TrialResult(
                            p,
                            cell.width,
                            cell.depth,
                            seed,
                            {"lr": lr},
                            loss,
                            diverged,
                            "diverged" if diverged else "completed",
                            tokens=cell.tokens,
                            batch_size=cell.batch_size,
                        )
                    )
    return trials


# the review's setting: 15 learning rates half an octave apart, proxies 32/64, target 512
HALF_OCTAVE_GRID = {"low": 2**-13, "high": 2**-6, "points": 15}


def lr_optima(
    spec: SweepSpec, trials: list[TrialResult], parametrization: str, *, seed: int = 0
) -> tuple[HPAxis, list[OptimumFit]]:
    """Each proxy width's lr optimum, fitted as the plan fits it (the lr profile, then the parabola)."""
    axis = HPAxis.from_search_param("lr", spec.search.space["lr"])
    fits = []
    for w in spec.proxy.widths:
        mine = [t for t in trials if t.parametrization == parametrization and t.width == w]
        prof = profile(mine, axis, [])
        fits.append(fit_optimum(axis, prof.values, prof.losses, prof.diverged, scale=w, seed=seed + w))
    return axis, fits
