"""Proxy studies simulated from truths the planner does NOT assume, and what its plan gets right about them.

`support/synthetic.py` draws studies from the planner's own model: an exact parabola in u = log2(lr), an
optimum drifting exactly linearly in log2(width), Gaussian noise and an exact power law L(N) = E + A·N^−α.
Coverage measured there shows the planner is consistent with itself, not that it holds on real runs. Each
`Truth` here keeps that model's scales (a `synthetic.Surface`: u₀, curvature, E, A, α, noise, divergence) and
breaks one assumption at a time, as real runs do:

* `Knee` / `Converging`: a drift that saturates (SP's optimum moved 0.6-0.8 octave per doubling from width 16
  to 64 and hardly at all from 64 to 256 in this repo's benchmark, README "Transfer, last quick run"; μP's
  finite-width offset fading as 1/width);
* `Jump`: the optimum moves by a step at the widest width(s) only (a Megatron μP study saw one at 2048);
* `dof`: Student-t run noise with 2-3 degrees of freedom, at the Gaussian's scale σ (σ·t_ν);
* `spread`: heteroscedastic run noise, larger away from the optimum (σ·(1 + spread·|u − u*|));
* `asymmetry`: loss curves steeper towards divergence, k·(2/a²)·(e^(a·d) − 1 − a·d) with d = u − u*, which
  has the parabola's curvature k at the optimum;
* `BrokenPowerLaw`: L(N) whose exponent changes with N, so the fitted E + A·N^−α extrapolates wrongly.

`study` runs `build_plan` on one seeded study and scores each parametrization against the truth at the
target; `summarize` aggregates many. The test (`tests/orchestrator/planner/test_misspecified.py`) and the
bench (`bench/misspecified.py`) both read these.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Protocol

import numpy as np

from orchestrator.planner import TrialResult, build_plan, non_embedding_params
from orchestrator.spec import SweepSpec
from support.synthetic import Surface, make_spec


class Drift(Protocol):
    def __call__(self, width: float, base_width: float) -> float:
        """u*(width) − u₀, in octaves."""
        ...


@dataclass(frozen=True)
class Linear:
    """The planner's own model: γ octaves per doubling of width, for ever."""

    gamma: float

    def __call__(self, width: float, base_width: float) -> float:
        return self.gamma * math.log2(width / base_width)


@dataclass(frozen=True)
class Knee:
    """γ per doubling up to `knee` (a width), flat beyond: a drift that saturates abruptly."""

    gamma: float
    knee: float

    def __call__(self, width: float, base_width: float) -> float:
        return self.gamma * math.log2(min(width, self.knee) / base_width)


@dataclass(frozen=True)
class Converging:
    """An offset that fades as 1/width: `offset` octaves at the base width, half of it at twice the width."""

    offset: float

    def __call__(self, width: float, base_width: float) -> float:
        return self.offset * base_width / width


@dataclass(frozen=True)
class Jump:
    """A linear drift plus a step of `size` octaves at every width ≥ `at`."""

    gamma: float
    size: float
    at: float

    def __call__(self, width: float, base_width: float) -> float:
        return self.gamma * math.log2(width / base_width) + (self.size if width >= self.at else 0.0)


@dataclass(frozen=True)
class BrokenPowerLaw:
    """L(N) = E + A·N^−α·(1 + N/N_b)^−(α_far − α), N_b the parameter count at width `break_width`: the local
    exponent is α well below N_b and α_far well above it."""

    alpha_far: float
    break_width: int

    def __call__(self, surface: Surface, n: float, depth: int) -> float:
        n_break = non_embedding_params(self.break_width, depth)
        bend = (1.0 + n / n_break) ** (-(self.alpha_far - surface.alpha))
        return surface.E + surface.A * n ** (-surface.alpha) * bend


@dataclass(frozen=True)
class Truth:
    """A loss surface: `surface`'s scales with any of the planner's assumptions replaced (None: kept)."""

    surface: Surface
    drift: Drift | None = None  # None: the surface's linear γ
    asymmetry: float = 0.0  # a (per octave) of the exponential loss curve; 0: the parabola
    dof: float | None = None  # Student-t degrees of freedom of the noise; None: Gaussian
    loss_law: BrokenPowerLaw | None = None  # None: the surface's E + A·N^−α
    # heteroscedastic noise: σ × (1 + spread·|u − u*|), noisier away from the optimum (near divergence and
    # at tiny LRs, where runs are most sensitive to their init and batches); 0: the same σ everywhere
    spread: float = 0.0

    def optimum_u(self, width: float, depth: int = 2) -> float:
        s = self.surface
        if self.drift is None:
            return s.optimum_u(width, depth)
        return s.u0 + self.drift(width, s.base_width)

    def best_loss(self, width: float, depth: int = 2) -> float:
        if self.loss_law is None:
            return self.surface.best_loss(width, depth)
        return self.loss_law(self.surface, non_embedding_params(int(width), depth), depth)

    def excess(self, du: float) -> float:
        """The expected loss above the best at du octaves from the optimum (positive: toward divergence)."""
        k, a = self.surface.curvature, self.asymmetry
        if a == 0.0:
            return k * du * du
        return k * (2.0 / (a * a)) * math.expm1(a * du) - k * (2.0 / a) * du

    def expected_loss(self, u: float, width: float, depth: int = 2) -> float:
        return self.best_loss(width, depth) + self.excess(u - self.optimum_u(width, depth))

    def regret(self, u: float, width: float, depth: int = 2) -> float:
        """The true loss at u over the true best at `width`, minus 1."""
        return self.expected_loss(u, width, depth) / self.best_loss(width, depth) - 1.0

    def draw(self, rng: np.random.Generator, scale: float) -> float:
        if scale == 0.0:
            return 0.0
        if self.dof is None:
            return float(rng.normal(0.0, scale))
        return float(scale * rng.standard_t(self.dof))

    def realized_loss(self, u: float, width: float, rng: np.random.Generator, depth: int = 2) -> float:
        """One fresh-seed run at u: its trial noise and its own init/batch-order draw."""
        s = self.surface
        return self.expected_loss(u, width, depth) + self.draw(rng, s.noise) + self.draw(rng, s.seed_noise)


def grid_trials(spec: SweepSpec, truths: dict[str, Truth], rng: np.random.Generator) -> list[TrialResult]:
    """The width sweep of `spec` (every lr grid point at every width, depth and seed) drawn from each truth;
    as `synthetic.grid_trials` for a truth that replaces nothing (same random stream with Gaussian noise)."""
    trials = []
    for p, truth in truths.items():
        s = truth.surface
        for w in spec.proxy.widths:
            for depth in spec.depths():
                shared = {seed: truth.draw(rng, s.seed_noise) for seed in spec.proxy.seeds}
                for lr in spec.search.space["lr"].grid():
                    u = math.log2(lr)
                    diverged = u - truth.optimum_u(w, depth) > s.diverge_above
                    scale = s.noise * (1.0 + truth.spread * abs(u - truth.optimum_u(w, depth)))
                    for seed in spec.proxy.seeds:
                        noise = truth.draw(rng, scale) + shared[seed]
                        loss = math.nan if diverged else truth.expected_loss(u, w, depth) + noise
                        status = "diverged" if diverged else "completed"
                        trials.append(TrialResult(p, w, depth, seed, {"lr": lr}, loss, diverged, status))
    return trials


@dataclass(frozen=True)
class Outcome:
    """One study's plan for one parametrization, scored against the truth at the target width."""

    covered: bool  # the target lr's interval holds the true optimum
    width: float  # that interval's width, octaves
    error: float  # transferred minus true optimum, octaves
    regret: float  # true loss at the transferred lr over the true best, minus 1
    loss_covered: bool  # predicted_loss holds one realized (fresh-seed) target run at the transferred lr
    loss_error: float  # predicted_loss's point minus the true expected loss at the transferred lr
    loss_width: float  # predicted_loss's interval width (inf without both bounds)
    verdict: str  # holds | fails | untested
    gamma: float | None  # the applied drift per doubling


@dataclass(frozen=True)
class Design:
    """A study design: proxy widths, target width, seeds, and the lr grid."""

    widths: tuple[int, ...] = (32, 64, 128)
    target: int = 1024
    seeds: int = 2
    low: float = 2**-12
    high: float = 2**-4
    points: int = 17  # half an octave apart

    def spec(self, parametrizations: tuple[str, ...]) -> SweepSpec:
        return make_spec(
            list(self.widths),
            self.target,
            parametrizations=parametrizations,
            low=self.low,
            high=self.high,
            points=self.points,
            seeds=self.seeds,
        )


def study(design: Design, truths: dict[str, Truth], seed: int) -> dict[str, Outcome]:
    """One seeded study: draw the proxies, plan, and score every parametrization's plan."""
    spec = design.spec(tuple(truths))
    rng = np.random.default_rng(10_000 + seed)
    plan = build_plan(spec, grid_trials(spec, truths, rng), lambda *a: [], seed=seed)
    out = {}
    for p, truth in truths.items():
        pp = plan.parametrizations[p]
        lr, loss = pp.hparams["lr"], pp.predicted_loss
        truth_u = truth.optimum_u(design.target)
        u = math.log2(lr.value)
        realized = truth.realized_loss(u, design.target, rng)
        gamma = pp.width_transfer["lr"].applied_gamma.value
        out[p] = Outcome(
            covered=lr.low is not None and lr.high is not None and lr.contains(2.0**truth_u),
            width=math.log2(lr.high / lr.low) if lr.low and lr.high else math.inf,
            error=u - truth_u,
            regret=truth.regret(u, design.target),
            loss_covered=loss.contains(realized),
            loss_error=loss.value - truth.expected_loss(u, design.target),
            loss_width=loss.high - loss.low if loss.low is not None and loss.high is not None else math.inf,
            verdict=pp.transfer_verdict,
            gamma=gamma,
        )
    return out


@dataclass(frozen=True)
class Summary:
    studies: int
    cover: float  # fraction of target-lr intervals holding the true optimum
    median_width: float  # octaves
    rms_error: float  # octaves
    median_error: float  # octaves, signed: the bias
    mean_regret: float
    p90_regret: float
    loss_cover: float  # fraction of predicted-loss intervals holding one realized target run
    loss_width: float  # their median width
    loss_error: float  # the median of their point minus the true expected loss (negative: optimistic)
    verdicts: dict[str, int] = field(default_factory=dict)
    holds_with_regret: int = 0  # "holds" while the regret exceeded 1 %

    HEADER = (
        "| lr cover | median width (oct) | RMS error (median) | regret: mean (p90) | loss cover | "
        "loss: median width, median error | holds/fails/untested | holds & regret > 1 % |"
    )

    def row(self) -> str:
        """The table's cells, in HEADER's order (markdown, no outer bars)."""
        v = self.verdicts
        return (
            f"{self.cover:.2f} | {self.median_width:.2f} | {self.rms_error:.2f} ({self.median_error:+.2f}) | "
            f"{100 * self.mean_regret:.2f} % ({100 * self.p90_regret:.2f} %) | {self.loss_cover:.2f} | "
            f"{self.loss_width:.3f}, {self.loss_error:+.3f} | "
            f"{v.get('holds', 0)}/{v.get('fails', 0)}/{v.get('untested', 0)} | {self.holds_with_regret}"
        )


REGRET_LIMIT = 0.01  # the verdict's own limit (verdict.MAX_ROBUSTNESS_PENALTY)


def summarize(outcomes: list[Outcome]) -> Summary:
    errors = np.array([o.error for o in outcomes])
    regrets = np.array([o.regret for o in outcomes])
    verdicts: dict[str, int] = {}
    for o in outcomes:
        verdicts[o.verdict] = verdicts.get(o.verdict, 0) + 1
    return Summary(
        studies=len(outcomes),
        cover=float(np.mean([o.covered for o in outcomes])),
        median_width=float(np.median([o.width for o in outcomes])),
        rms_error=float(np.sqrt(np.mean(errors**2))),
        median_error=float(np.median(errors)),
        mean_regret=float(np.mean(regrets)),
        p90_regret=float(np.quantile(regrets, 0.9)),
        loss_cover=float(np.mean([o.loss_covered for o in outcomes])),
        loss_width=float(np.median([o.loss_width for o in outcomes])),
        loss_error=float(np.median([o.loss_error for o in outcomes])),
        verdicts=verdicts,
        holds_with_regret=sum(o.verdict == "holds" and o.regret > REGRET_LIMIT for o in outcomes),
    )


def measure(design: Design, truths: dict[str, Truth], studies: int, first: int = 0) -> dict[str, Summary]:
    """`studies` seeded studies of one design and truth, summarized per parametrization."""
    runs = [study(design, truths, first + s) for s in range(studies)]
    return {p: summarize([r[p] for r in runs]) for p in truths}


# The scales every truth shares (synthetic.Surface's, with the noise of a 2-seed study at a loss ~2-3): μP's
# optimum at 2^-8, SP's at 2^-6 at width 32, SP drifting 0.75 octave per doubling (the grid is half an
# octave, so the widths' optima sit at different grid offsets).
MUP = Surface(u0=-8.0, noise=0.01)
SP = Surface(gamma=-0.75, u0=-6.0, noise=0.01, E=1.6)
CONTROL = {"mup": Truth(MUP), "sp": Truth(SP)}

THREE_WIDTHS = Design()  # 32, 64, 128 → 1024: the loss law is a pure power law (< 4 widths)
FOUR_WIDTHS = Design(widths=(32, 64, 128, 256), target=2048)  # E + A·N^−α fitted, so its band is tested


def cases(design: Design) -> list[tuple[str, dict[str, Truth]]]:
    """The truths measured on `design`, named; widths placed relative to its widest proxy `top`."""
    top = design.widths[-1]

    def each(**kw: Any) -> dict[str, Truth]:
        return {p: Truth(t.surface, **kw) for p, t in CONTROL.items()}

    def jump(size: float, at: int) -> dict[str, Truth]:
        return {
            "mup": Truth(MUP, drift=Jump(0.0, size, at)),
            "sp": Truth(SP, drift=Jump(SP.gamma, size, at)),
        }

    return [
        ("control: the planner's own model", CONTROL),
        # 1. μP's optimum +0.6 octave at width 32, fading as 1/width; SP's moving 0.75 per doubling up to the
        #    second-widest proxy and not at all beyond (the benchmark's SP: 16 → 64 moved, 64 → 256 did not)
        (
            "1. saturating drift",
            {
                "mup": Truth(MUP, drift=Converging(0.6)),
                "sp": Truth(SP, drift=Knee(SP.gamma, design.widths[-2])),
            },
        ),
        # 2. a step down at the widest proxy and beyond it, or only beyond the proxies (at 4× the widest)
        (f"2a. 1-octave jump at ≥ {top} (widest proxy)", jump(-1.0, top)),
        (f"2b. ½-octave jump at ≥ {top} (widest proxy)", jump(-0.5, top)),
        (f"2c. 1-octave jump at ≥ {4 * top} (beyond the proxies)", jump(-1.0, 4 * top)),
        # 3. Student-t noise at the Gaussian's scale σ
        ("3a. Student-t noise, 3 dof", each(dof=3.0)),
        ("3b. Student-t noise, 2 dof", each(dof=2.0)),
        # σ three times larger 2 octaves from the optimum, five times 4 octaves away
        ("3c. heteroscedastic noise, σ × (1 + octaves off the optimum)", each(spread=1.0)),
        # 4. a = 1 per octave: 2 octaves above the optimum cost 2.2× the parabola's excess, 2 below 0.57×
        ("4. asymmetric loss curve, a = 1", each(asymmetry=1.0)),
        # 5. the loss law's exponent changes around the widest proxy or just beyond it
        (f"5a. L(N) exponent 0.3 → 0.15 past width {2 * top}", each(loss_law=BrokenPowerLaw(0.15, 2 * top))),
        (f"5b. L(N) exponent 0.3 → 0.15 past width {top}", each(loss_law=BrokenPowerLaw(0.15, top))),
        (f"5c. L(N) exponent 0.3 → 0.45 past width {top}", each(loss_law=BrokenPowerLaw(0.45, top))),
    ]
