"""The plan: from proxy trials to the target run's hyperparameters, predicted loss and compute
(docs/planner.md).

`build_plan(spec, trials)` is a pure function: the store glue loads the trials, calls it and stores
`plan.to_dict()` (JSON, no NaN) as a new version. Per parametrization it fits each swept HP's optimum at every
proxy width (optimum.py), the transfer law across width and, with ≥ 2 proxy depths, across depth (transfer.py;
the target's values are extrapolated along both), the loss-vs-scale law (loss_law.py) and the transfer-quality
metrics (quality.py), then judges each transfer (verdict.py: "holds" needs a held-out proxy, so ≥ 3 widths)
and recommends the parametrization with the best predicted target loss among those whose transfer holds, else
among the untested ones. `predicted_loss` is the interval of one realized target run: the loss law's band
widened by one run's noise and by the cost of an HP at the edge of its interval (run_noise.py); what it still
leaves out is listed in `interval_caveats` (caveats.py).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from orchestrator.planner.axis import HPAxis
from orchestrator.planner.caveats import BY_CODE, interval_caveats
from orchestrator.planner.design import MultiplierResolver, StudyDesign
from orchestrator.planner.horizon import (
    BATCH,
    HORIZON,
    BudgetLaw,
    Timescale,
    fit_at,
    fit_budget_law,
    fit_cells,
    keep_timescale,
    timescale,
)
from orchestrator.planner.loss_law import LossLaw, fit_loss_law
from orchestrator.planner.loss_surface import LossSurface, fit_loss_surface
from orchestrator.planner.model_size import (
    params_for,
    target_model,
    target_tokens,
    training_flops,
)
from orchestrator.planner.numeric import json_safe, percentile_interval
from orchestrator.planner.optimum import OptimumFit
from orchestrator.planner.promises import promises_invariance
from orchestrator.planner.quality import (
    Robustness,
    TransferQuality,
    extrapolation_robustness,
    fit_quality,
    predicted_loss_gaps,
    transfer_quality,
)
from orchestrator.planner.run_noise import RunNoise, estimate_run_noise, hp_miss_penalty, realized_interval
from orchestrator.planner.transfer import ScaleLaw, fit_scale_law, to_hp
from orchestrator.planner.types import Interval, PlanWarning, TrialResult
from orchestrator.planner.verdict import AxisCheck, Verdict, judge_transfer, recommend
from orchestrator.spec import SweepSpec
from orchestrator.trial_config import target_steps, trial_config
from workers.moe_config import transfer_mapping

# What every fit reads from a trial (TrialResult.from_row): the loss the plan predicts for the target too.
OBJECTIVE = (
    "final validation loss (held-out batches after the last step; the last step's train loss for a trial "
    "stored without one)"
)
PROFILE_METHOD = (
    "each swept HP is fitted along the slice through the best configuration of the others (exact on a grid; "
    "on a random/TPE search the slice widens until it holds 5 distinct values)"
)


@dataclass
class ParametrizationPlan:
    parametrization: str
    hparams: dict[str, Interval]  # base values for the target (HP units)
    multipliers: list[dict[str, Any]] | None
    predicted_loss: Interval  # one realized target run: the law's band ⊕ run noise ⊕ HP miss (run_noise.py)
    optima: dict[str, list[OptimumFit]]
    width_transfer: dict[str, ScaleLaw]
    depth_transfer: dict[str, ScaleLaw]
    loss_vs_params: LossLaw
    loss_vs_compute: LossLaw
    robustness: dict[str, Robustness]
    gamma_compatible_with_zero: dict[str, bool | None]
    verdict: Verdict
    proxy_flops: float
    predicted_loss_noise: RunNoise
    hp_miss: dict[str, float]  # loss of each HP at the far end of its interval (in the upper bound)
    depth_robustness: dict[str, Robustness] = field(default_factory=dict)
    interval_caveats: list[str] = field(default_factory=list)
    warnings: list[PlanWarning] = field(default_factory=list)
    # the three transfer-quality metrics per swept HP (quality.py; docs/planner.md, "Transfer quality")
    transfer_quality: dict[str, TransferQuality] = field(default_factory=dict)
    # the token-horizon and batch-size laws (horizon.py), None without a scan of that axis
    horizon_transfer: BudgetLaw | None = None
    batch_transfer: BudgetLaw | None = None
    moves: list[dict[str, Any]] = field(default_factory=list)  # every axis each HP moved along, and how far
    timescale: Timescale | None = None  # AdamW's τ at the proxies' optimum and at the target
    # L(N, D) over the width sweep and the token scan (loss_surface.py), None with one budget
    loss_surface: LossSurface | None = None
    # which run `predicted_loss` describes: the law it comes from, the tokens it is at, and whether that is
    # the target's budget (False: L(N) at the proxies' budget for a target trained on another one)
    predicted_loss_budget: dict[str, Any] = field(default_factory=dict)

    @property
    def transfer_verdict(self) -> str:
        return self.verdict.verdict

    @property
    def transfer_holds(self) -> bool:
        """True only for a tested transfer that held ("untested" is not "holds"); kept for older readers."""
        return self.verdict.holds

    @property
    def transfer_notes(self) -> list[str]:
        return self.verdict.notes

    def to_dict(self) -> dict[str, Any]:
        return json_safe(
            {
                "parametrization": self.parametrization,
                "hparams": {k: v.__dict__ for k, v in self.hparams.items()},
                "multipliers": self.multipliers,
                "predicted_loss": self.predicted_loss.__dict__,
                "predicted_loss_noise": self.predicted_loss_noise.to_dict(),
                "predicted_loss_hp_miss": self.hp_miss,
                "predicted_loss_budget": self.predicted_loss_budget,
                "loss_surface": self.loss_surface.to_dict() if self.loss_surface else None,
                "interval_caveats": self.interval_caveats,
                "optima": {k: [f.to_dict() for f in v] for k, v in self.optima.items()},
                "width_transfer": {k: v.to_dict() for k, v in self.width_transfer.items()},
                "depth_transfer": {k: v.to_dict() for k, v in self.depth_transfer.items()},
                "horizon_transfer": self.horizon_transfer.to_dict() if self.horizon_transfer else None,
                "batch_transfer": self.batch_transfer.to_dict() if self.batch_transfer else None,
                "moves": self.moves,
                "timescale": self.timescale.to_dict() if self.timescale else None,
                "loss_vs_params": self.loss_vs_params.to_dict(),
                "loss_vs_compute": self.loss_vs_compute.to_dict(),
                "quality": {
                    "fit_quality": {k: fit_quality(v) for k, v in self.width_transfer.items()},
                    "extrapolation": {k: v.to_dict() for k, v in self.robustness.items()},
                    "transfer_quality": {k: v.to_dict() for k, v in self.transfer_quality.items()},
                },
                "gamma_compatible_with_zero": self.gamma_compatible_with_zero,
                **self.verdict.to_dict(),
                "transfer_holds": self.transfer_holds,
                "transfer_notes": self.transfer_notes,
                "depth_robustness": {k: v.to_dict() for k, v in self.depth_robustness.items()},
                "proxy_flops": self.proxy_flops,
                "warnings": [w.to_dict() for w in self.warnings],
            }
        )


@dataclass
class Plan:
    sweep_name: str
    level: float
    target: dict[str, Any]  # width, depth, params, tokens, flops
    proxy: dict[str, Any]  # widths, fit depth, tokens per trial, flops, trial counts
    compute_fraction: float | None  # proxy flops / target flops
    parametrizations: dict[str, ParametrizationPlan]
    recommended: str | None
    recommendation: str
    prediction_covers: str
    profile_method: str
    predicted_loss_gap: dict[str, dict[str, Any]]
    warnings: list[PlanWarning]

    def to_dict(self) -> dict[str, Any]:
        """The stored, versioned JSON form (every non-finite number is None)."""
        return json_safe(
            {
                "sweep_name": self.sweep_name,
                "level": self.level,
                "target": self.target,
                "proxy": self.proxy,
                "compute_fraction": self.compute_fraction,
                "recommended": self.recommended,
                "recommendation": self.recommendation,
                "prediction_covers": self.prediction_covers,
                "objective": OBJECTIVE,
                "profile_method": self.profile_method,
                "predicted_loss_gap": self.predicted_loss_gap,
                "parametrizations": {k: v.to_dict() for k, v in self.parametrizations.items()},
                "warnings": [w.to_dict() for w in self.warnings],
            }
        )


@dataclass(frozen=True)
class _Sizes:
    """Where the fits are read: the depth the width law is fitted at, and the target's size and budget."""

    fit_depth: int
    target_depth: int
    target_params: int
    target_tokens: int
    proxy_tokens: int  # the width sweep's tokens per run
    proxy_batch: int
    target_batch: int


def default_multiplier_resolver(spec: SweepSpec, vocab_size: int = 256) -> MultiplierResolver:
    """Resolve the target's per-parameter table with the workers' parametrization table.

    `vocab_size` only changes the shapes of the embedding and readout rows, not their multipliers.
    """

    def resolve(
        parametrization: str, width: int, depth: int, hparams: dict[str, float]
    ) -> list[dict[str, Any]]:
        from workers.parametrization import resolve_table  # loads torch: only when a plan resolves a table

        config = trial_config(
            spec, parametrization=parametrization, width=width, depth=depth, seed=0, hparams=hparams
        )
        return [row.to_dict() for row in resolve_table(config, vocab_size)]

    return resolve


def build_plan(
    spec: SweepSpec,
    trials: list[TrialResult],
    resolve_multipliers: MultiplierResolver | None = None,
    *,
    level: float = 0.9,
    seed: int = 0,
    vocab_size: int | None = None,
) -> Plan:
    """Fit everything the proxies allow and plan the target run (see the module docstring).

    `resolve_multipliers` defaults to the workers' parametrization table; the plan never raises on bad
    trial data (NaN/inf losses, missing HPs, failed runs): each problem becomes a warning.
    """
    resolver = resolve_multipliers or default_multiplier_resolver(
        spec, vocab_size or spec.data.vocab_size or 256
    )
    return plan_study(spec_design(spec, resolver), trials, level=level, seed=seed)


def spec_design(spec: SweepSpec, resolver: MultiplierResolver | None) -> StudyDesign:
    """The design of a sweep mutransfer trains: everything read from its spec."""
    depths = spec.depths()
    t_model = target_model(spec)
    t_depth = spec.target.depth or (depths[-1] if spec.proxy.depths else t_model.depth)
    proxy_tokens = spec.trial_tokens(None, None)
    t_tokens = target_tokens(spec)
    differs = t_model is not spec.model
    return StudyDesign(
        name=spec.name,
        parametrizations=list(spec.parametrizations),
        axes=[HPAxis.from_search_param(name, param) for name, param in spec.search.space.items()],
        scale_name="width",
        proxy_scales=list(spec.proxy.widths),
        depths=depths,
        fit_depth=spec.fit_depth(),
        target_scale=spec.target.width,
        target_depth=t_depth,
        target_params=params_for(t_model, spec.target.width, t_depth),
        target_tokens=t_tokens,
        target_batch=spec.target_batch(),
        proxy_tokens=proxy_tokens,
        proxy_batch=spec.proxy.batch_size,
        params=lambda width, depth: params_for(spec.model, width, depth),
        run_tokens=lambda trial: _tokens_run(spec, trial),
        base_tokens_at=lambda width: proxy_tokens,
        weight_decay_mode=spec.optimizer.weight_decay_mode,
        batch_unit_tokens=spec.model.context_length,
        weight_decay=spec.optimizer.weight_decay,
        target_info={
            "steps": target_steps(spec),
            "schedule": schedule_lengths(spec, target_steps(spec)),
        },
        proxy_info={
            "token_budgets": spec.proxy.horizons(spec.model.context_length),
            "batch_sizes": spec.proxy.batches(),
            "scan_widths": spec.proxy.scan_widths,
            "schedule": schedule_lengths(spec, spec.trial_budget(None, None)[0]),
        },
        coverage_text=_coverage_text(proxy_tokens, t_tokens, spec),
        resolver=resolver,
        model_differs=differs,
        family_mapping=family_mapping(spec) if differs else None,
    )


def plan_study(design: StudyDesign, trials: list[TrialResult], *, level: float = 0.9, seed: int = 0) -> Plan:
    """The plan of any study, trained or imported (design.py): the fits read only the design and the
    trials, so an imported study and a backtest's training part are planned by the same procedure."""
    axes = design.axes
    sizes = _Sizes(
        fit_depth=design.fit_depth,
        target_depth=design.target_depth,
        target_params=design.target_params,
        target_tokens=design.target_tokens,
        proxy_tokens=design.proxy_tokens,
        proxy_batch=design.proxy_batch,
        target_batch=design.target_batch,
    )
    t_flops = training_flops(sizes.target_params, sizes.target_tokens)
    warnings: list[PlanWarning] = [PlanWarning(code, text) for code, text in design.extra_warnings]

    malformed = [t for t in trials if t.width < 1 or t.depth < 1]
    if malformed:
        warnings.append(
            PlanWarning(
                "invalid_trials", f"{len(malformed)} trial(s) with a width or depth below 1 were ignored"
            )
        )
        trials = [t for t in trials if t.width >= 1 and t.depth >= 1]
    known = set(design.parametrizations)
    strangers = sorted({t.parametrization for t in trials} - known)
    if strangers:
        warnings.append(
            PlanWarning(
                "unknown_parametrization",
                f"trials of {strangers} are not in the spec's "
                f"parametrizations {sorted(known)} and were ignored",
            )
        )
    plans: dict[str, ParametrizationPlan] = {}
    for i, p in enumerate(design.parametrizations):
        mine = [t for t in trials if t.parametrization == p]
        plans[p] = _plan_one(design, p, mine, axes, sizes, level, seed + 1000 * i)
    fit_depth = sizes.fit_depth
    recommended, why, untested = recommend(
        {p: (pp.verdict, pp.predicted_loss.value) for p, pp in plans.items()}
    )
    if untested:
        warnings.append(PlanWarning("transfer_untested", why, parametrization=recommended))
    proxy_flops = sum(pp.proxy_flops for pp in plans.values())
    if design.model_differs:
        warnings.append(
            PlanWarning(
                "target_model_differs",
                "the target uses a different model section than "
                "the proxies: its HPs and loss are extrapolated from the proxies' family",
            )
        )
        if design.family_mapping is not None:
            warnings.append(PlanWarning("family_mapping", design.family_mapping))
        for pp in plans.values():
            pp.interval_caveats.append(BY_CODE["target_model_differs"])
    return Plan(
        sweep_name=design.name,
        level=level,
        target={
            "width": design.target_scale,
            "depth": design.target_depth,
            "params": sizes.target_params,
            "tokens": sizes.target_tokens,
            "batch_size": sizes.target_batch,
            "flops": t_flops,
            **design.target_info,
        },
        proxy={
            "widths": design.proxy_scales,
            "depths": design.depths,
            "fit_depth": fit_depth,
            "tokens_per_trial": sizes.proxy_tokens,
            "batch_size": sizes.proxy_batch,
            **design.proxy_info,
            "flops": proxy_flops,
            "trials": len(trials),
            "usable_trials": sum(t.is_usable for t in trials),
        },
        compute_fraction=proxy_flops / t_flops if t_flops > 0 else None,
        parametrizations=plans,
        recommended=recommended,
        recommendation=why,
        prediction_covers=_covers(design, plans),
        profile_method=PROFILE_METHOD,
        predicted_loss_gap=predicted_loss_gaps({p: pp.loss_vs_params for p, pp in plans.items()}),
        warnings=warnings + [w for pp in plans.values() for w in pp.warnings],
    )


def _plan_one(
    design: StudyDesign,
    p: str,
    trials: list[TrialResult],
    axes: list[HPAxis],
    sizes: _Sizes,
    level: float,
    seed: int,
) -> ParametrizationPlan:
    """Everything the plan says about one parametrization."""
    fit_depth, t_depth = sizes.fit_depth, sizes.target_depth
    t_params, t_tokens, proxy_tokens = sizes.target_params, sizes.target_tokens, sizes.proxy_tokens
    scans = [t for t in trials if t.depth == fit_depth]  # the budget laws read the width sweep's trials too
    all_trials, trials = trials, [t for t in trials if t.is_base]
    at_depth = [t for t in trials if t.depth == fit_depth]
    widths = sorted({t.width for t in at_depth if t.is_usable})
    per_width = {w: [t for t in at_depth if t.width == w] for w in widths}
    optima = fit_cells(axes, [(per_width[w], w, seed + w) for w in widths], level)
    invariant = promises_invariance(p, "width")
    width_laws = {
        a.name: fit_scale_law(
            a,
            optima[a.name],
            design.target_scale,
            scale_name=design.scale_name,
            level=level,
            seed=seed,
            invariant=invariant,
        )
        for a in axes
    }
    depth_laws, depth_optima = _depth_laws(design, p, trials, axes, t_depth, level, seed)
    robustness = {
        a.name: extrapolation_robustness(a, optima[a.name], level=level, seed=seed, invariant=invariant)
        for a in axes
    }
    quality = {a.name: transfer_quality(a, axes, width_laws[a.name], optima[a.name], per_width) for a in axes}

    noise = estimate_run_noise(per_width, optima, axes[0] if axes else None, axes[1:])
    best = [_best_loss(per_width[w]) for w in widths]
    first = optima[axes[0].name] if axes else []
    losses = [_cell_loss(first[i] if i < len(first) else None, b[0]) for i, b in enumerate(best)]
    sems = [_loss_sem(noise, w, n) for w, (_, n) in zip(widths, best, strict=True)]
    ns = [design.params(w, fit_depth) for w in widths]
    by_params = fit_loss_law(ns, losses, t_params, sems=sems, variable="params", level=level, seed=seed)
    by_compute = fit_loss_law(
        [training_flops(n, design.base_tokens_at(w)) for n, w in zip(ns, widths, strict=True)],
        losses,
        training_flops(t_params, t_tokens),
        sems=sems,
        variable="compute",
        level=level,
        seed=seed,
    )

    warnings: list[PlanWarning] = []
    if noise.source != "proxy_seeds":
        warnings.append(
            PlanWarning(
                "single_seed",
                f"{design.scale_name}(s) {widths} have one seed per configuration, so one run's loss "
                f"noise is not measured: {noise.method}",
            )
        )
    missing = sorted(set(design.proxy_scales) - set(widths))
    if missing:
        warnings.append(
            PlanWarning(
                "missing_widths",
                f"no usable trials at depth {fit_depth} for {design.scale_name}(s) {missing}",
            )
        )
    warnings += [w for fits in optima.values() for f in fits for w in f.warnings]
    warnings += [w for law in [*width_laws.values(), *depth_laws.values()] for w in law.warnings]
    seen = {w.code for w in by_params.warnings}  # the compute law refits the same points: report news only
    warnings += by_params.warnings + [w for w in by_compute.warnings if w.code not in seen]
    horizon = fit_budget_law(
        HORIZON, scans, axes, base=proxy_tokens, target=t_tokens, level=level, seed=seed + 11
    )
    batch = fit_budget_law(
        BATCH, scans, axes, base=sizes.proxy_batch, target=sizes.target_batch, level=level, seed=seed + 13
    )
    warnings += [w for law in (horizon, batch) if law for v in law.laws.values() for w in v.warnings]
    budget_laws = {HORIZON: horizon, BATCH: batch}
    hparams, at_base, moves = _target_hparams(
        axes, width_laws, depth_laws, budget_laws, design.depths, sizes, warnings
    )
    tau = _timescale(design, hparams, at_base, sizes, warnings, moves)
    multipliers = (
        _resolve(design.resolver, p, design.target_scale, t_depth, hparams, warnings)
        if design.resolver is not None
        else None
    )

    moved = fit_depth != t_depth
    depth_robustness = {
        a.name: extrapolation_robustness(
            a,
            depth_optima[a.name],
            scale_name="depth",
            level=level,
            seed=seed,
            invariant=promises_invariance(p, "depth"),
        )
        for a in axes
        if moved and a.name in depth_optima and depth_laws[a.name].gamma.value is not None
    }
    checks = _axis_checks(design, axes, robustness, depth_robustness, budget_laws, sizes, moves, level, seed)
    verdict = judge_transfer(optima, width_laws, checks)
    widest = {a.name: next((f for f in reversed(optima[a.name]) if f.coefficients), None) for a in axes}
    hp_miss = {a.name: _hp_miss(a, widest[a.name], hparams[a.name]) for a in axes}
    surface = _loss_surface(design, scans, axes, sizes, level, seed + 17)
    at_target = surface is not None and surface.identifiable
    if surface is not None:
        warnings += surface.warnings
    law_prediction = surface.prediction if at_target and surface is not None else by_params.prediction
    predicted = realized_interval(law_prediction, noise, math.fsum(hp_miss.values()))
    loss_budget = _prediction_budget(sizes, at_target, warnings)
    proxy_flops = sum(
        training_flops(design.params(t.width, t.depth), design.run_tokens(t))
        for t in all_trials
        if t.status != "pending"
    )
    return ParametrizationPlan(
        parametrization=p,
        hparams=hparams,
        multipliers=multipliers,
        predicted_loss=predicted,
        optima=optima,
        width_transfer=width_laws,
        depth_transfer=depth_laws,
        loss_vs_params=by_params,
        loss_vs_compute=by_compute,
        robustness=robustness,
        gamma_compatible_with_zero={k: v.gamma_compatible_with_zero for k, v in width_laws.items()},
        verdict=verdict,
        proxy_flops=proxy_flops,
        predicted_loss_noise=noise,
        hp_miss=hp_miss,
        depth_robustness=depth_robustness,
        interval_caveats=interval_caveats(warnings, noise, verdict.verdict),
        warnings=[
            PlanWarning(w.code, w.message, w.parametrization or p, w.hparam, w.scale) for w in warnings
        ],
        transfer_quality=quality,
        horizon_transfer=horizon,
        batch_transfer=batch,
        moves=moves,
        timescale=tau,
        loss_surface=surface,
        predicted_loss_budget=loss_budget,
    )


def _axis_checks(
    design: StudyDesign,
    axes: list[HPAxis],
    robustness: dict[str, Robustness],
    depth_robustness: dict[str, Robustness],
    budget_laws: dict[str, BudgetLaw | None],
    sizes: _Sizes,
    moves: list[dict[str, Any]],
    level: float,
    seed: int,
) -> list[AxisCheck]:
    """Every axis each HP was carried along to the target, with its held-out check (verdict.py): width
    always; depth, horizon and batch where the target differs; the timescale where weight decay moved by
    it. A budget move is checked at the widest width with ≥ 3 budgets, like the width law."""
    checks = [AxisCheck(a.name, "width", robustness[a.name]) for a in axes if a.name in robustness]
    if sizes.fit_depth != sizes.target_depth:
        for a in axes:
            check = depth_robustness.get(a.name)
            why = "" if check else f"the proxies ran fewer than 2 depths {design.depths} with an optimum"
            checks.append(AxisCheck(a.name, "depth", check, why))
    for name, _, _ in _budget_moves(sizes):
        law = budget_laws.get(name)
        for a in axes:
            if a.name == "weight_decay":
                continue  # the timescale carries it (below)
            if law is None:
                checks.append(AxisCheck(a.name, name, None, f"copied across the {name}: no law was fitted"))
                continue
            series = law.series(a.name)
            check = extrapolation_robustness(a, series, scale_name=name, level=level, seed=seed)
            checks.append(AxisCheck(a.name, name, check))
    if any(m["axis"] == "timescale" for m in moves):
        checks.append(
            AxisCheck(
                "weight_decay",
                "timescale",
                None,
                "moved to keep AdamW's timescale τ; no proxy budget was held out to test that rule",
            )
        )
    return checks


def _cell_loss(fit: OptimumFit | None, best_mean: float) -> float:
    """A cell's best loss for the loss laws: the fitted curve's minimum where a parabola (or surface) was
    fitted, else the lowest seed-mean. The lowest of many noisy grid points is biased low (the winner's
    curse: the best point is partly its luck); the fitted minimum averages the points near the optimum."""
    if fit is not None and fit.coefficients is not None and fit.best_loss is not None:
        if math.isfinite(fit.best_loss):
            return float(fit.best_loss)
    return best_mean


def _loss_surface(
    design: StudyDesign,
    scans: list[TrialResult],
    axes: list[HPAxis],
    sizes: _Sizes,
    level: float,
    seed: int,
) -> LossSurface | None:
    """L(N, D) = E + A·N^−α + B·D^−β over every (width, token budget) cell at the fit depth and the base batch
    (loss_surface.py), each cell's loss its fitted minimum; None when the proxies ran one budget."""
    if not axes:
        return None
    cells: dict[tuple[int, float], list[TrialResult]] = {}
    for t in scans:
        if t.batch_size is None and t.is_usable:
            cells.setdefault((t.width, -1.0 if t.tokens is None else float(t.tokens)), []).append(t)
    if len({budget for _, budget in cells}) < 2:
        return None
    ns, ds, losses = [], [], []
    for i, ((width, _), trials) in enumerate(sorted(cells.items())):
        runs = [t for t in trials if not t.is_diverged]
        if not runs:
            continue
        fit = fit_at(axes[0], axes, trials, width, level, seed + i)
        ns.append(float(design.params(width, sizes.fit_depth)))
        ds.append(float(np.median([design.run_tokens(t) for t in runs])))
        losses.append(_cell_loss(fit, _best_loss(trials)[0]))
    return fit_loss_surface(
        ns, ds, losses, float(sizes.target_params), float(sizes.target_tokens), level=level, seed=seed
    )


def _prediction_budget(sizes: _Sizes, at_target: bool, warnings: list[PlanWarning]) -> dict[str, Any]:
    """Which run `predicted_loss` describes; a warning when it is not the target's budget."""
    same = _same_budget(sizes.proxy_tokens, sizes.target_tokens)
    if at_target or same:
        law = "L(N, D)" if at_target else "L(N)"
        return {"law": law, "tokens": sizes.target_tokens, "at_target_budget": True}
    warnings.append(
        PlanWarning(
            "loss_not_at_target_budget",
            f"predicted_loss is L(N) at the proxies' budget ({sizes.proxy_tokens:,} tokens per run at the "
            f"target's size), not at the target's {sizes.target_tokens:,} tokens: L(N, D) needs ≥ 3 token "
            "budgets (list proxy.token_budgets); a realized target loss is not compared with it",
        )
    )
    return {"law": "L(N)", "tokens": sizes.proxy_tokens, "at_target_budget": False}


def _budget_moves(sizes: _Sizes) -> list[tuple[str, float, float]]:
    """(axis, base, target) of each budget axis the target differs on from the width sweep."""
    budgets = [
        (HORIZON, sizes.proxy_tokens, sizes.target_tokens),
        (BATCH, sizes.proxy_batch, sizes.target_batch),
    ]
    return [(name, base, target) for name, base, target in budgets if not _same_budget(base, target)]


def _same_budget(base: float, target: float) -> bool:
    """Budgets within 1 % of each other are one budget: a target stated in round tokens against a base read
    off runs (tokens per parameter × parameters) must not count as a move along the horizon."""
    if base <= 0 or target <= 0:
        return base == target
    return abs(math.log(target / base)) < math.log(1.01)


def _tokens_run(spec: SweepSpec, trial: TrialResult) -> int:
    """Tokens a proxy trial trained on: the steps it ran (its budget's when unknown) × its batch × context."""
    steps, batch = spec.trial_budget(trial.tokens, trial.batch_size)
    return (trial.steps or steps) * batch * spec.model.context_length


def schedule_lengths(spec: SweepSpec, steps: int) -> dict[str, Any]:
    """The LR schedule of a run of `steps` steps: warmup and decay are fractions of the run's own length
    (workers/schedules.py), so a longer target warms up and decays over proportionally more steps."""
    schedule = spec.optimizer.schedule
    decay = schedule.decay_fraction if schedule.kind == "wsd" else None
    return {
        "kind": schedule.kind,
        "steps": steps,
        "warmup_fraction": schedule.warmup_fraction,
        "warmup_steps": round(schedule.warmup_fraction * steps),
        "decay_fraction": decay,
        "decay_steps": None if decay is None else round(decay * steps),
    }


def _hp_miss(axis: HPAxis, fit: OptimumFit | None, value: Interval) -> float:
    """The loss of `axis` at the far end of its target interval, on the widest fitted loss curve."""
    if value.value is None:
        return 0.0
    raw = [value.value, value.low, value.high]
    u = [float(x) for x in axis.to_u(np.array([np.nan if v is None else v for v in raw], dtype=float))]
    low, high = (b if math.isfinite(b) else None for b in u[1:])
    return hp_miss_penalty(fit, u[0], Interval(u[0], low, high, value.level))


def _resolve(
    resolver: MultiplierResolver,
    p: str,
    width: int,
    depth: int,
    hparams: dict[str, Interval],
    warnings: list[PlanWarning],
) -> list[dict[str, Any]] | None:
    """The target's per-parameter table, or None with a warning: a resolver failure must not lose the plan."""
    values = {k: v.value for k, v in hparams.items() if v.value is not None}
    if len(values) < len(hparams):
        warnings.append(
            PlanWarning(
                "hparams_unresolved",
                f"some swept HPs have no transferred value: {sorted(set(hparams) - set(values))}",
            )
        )
        return None
    try:
        return resolver(p, width, depth, values)
    except Exception as exc:  # any failure of the injected table becomes a warning on the plan
        warnings.append(
            PlanWarning(
                "multipliers_unresolved",
                f"could not resolve the target's per-layer values: {type(exc).__name__}: {exc}",
            )
        )
        return None


def _target_hparams(
    axes: list[HPAxis],
    width_laws: dict[str, ScaleLaw],
    depth_laws: dict[str, ScaleLaw],
    budget_laws: dict[str, BudgetLaw | None],
    depths: list[int],
    sizes: _Sizes,
    warnings: list[PlanWarning],
) -> tuple[dict[str, Interval], dict[str, float | None], list[dict[str, Any]]]:
    """The target's HP values: the width law's, moved along depth, the token horizon and the batch size;
    also each value before the budget moves (at the target's size on the proxies' budget) and the moves.

    The width law is fitted at `fit_depth` and the width sweep's budget; where the target's depth, tokens
    or batch differ, each HP moves along that axis's law: u += γ·(log2 target − log2 base), its interval
    from draw-wise sums of the laws' bootstrap draws. Each move is listed in `moves` (axis, γ, octaves,
    factor) and noted as a warning (`depth_transfer_applied`, `horizon_transfer_applied`, ...); each axis
    the target differs on without a law is noted too (`*_not_transferred`), since the HP is then copied
    across it. Weight decay, when swept, moves by AdamW's timescale instead (`_timescale`)."""
    state = {name: (law.target_u, law.draws_u) for name, law in width_laws.items()}
    moves = [_width_move(axis, width_laws[axis.name], sizes) for axis in axes]
    moves = [m for m in moves if m is not None]
    if sizes.fit_depth != sizes.target_depth:
        for axis in axes:
            depth = depth_laws.get(axis.name)
            if state[axis.name][0].value is None:
                continue  # nothing to move: the width law's own warnings say why
            if depth is None or depth.gamma.value is None:
                warnings.append(_not_transferred(axis.name, depths, sizes, depth is None))
                continue
            state[axis.name] = _moved(*state[axis.name], depth)
            warnings.append(_transfer_applied(axis, depth, sizes))
            moves.append(_move(axis, depth))
    at_base = {a.name: a.from_u(state[a.name][0].value) for a in axes}
    for name, base, target in _budget_moves(sizes):
        law = budget_laws.get(name)
        if law is None:
            warnings.append(_budget_not_transferred(name, base, target))
            continue
        for axis in axes:
            fitted = law.laws[axis.name]
            if axis.name == "weight_decay" or state[axis.name][0].value is None:
                continue  # weight decay follows the timescale; an unfitted HP has nothing to move
            if fitted.gamma.value is None:
                warnings.append(_budget_not_transferred(name, base, target, axis.name))
                continue
            state[axis.name] = _moved(*state[axis.name], fitted)
            move = _move(axis, fitted)
            moves.append(move)
            warnings.append(_budget_applied(axis.name, name, move, law.widths or [law.width]))
    return {a.name: to_hp(a, state[a.name][0]) for a in axes}, at_base, moves


def _moved(start: Interval, draws: np.ndarray, law: ScaleLaw) -> tuple[Interval, np.ndarray]:
    """`start` (u, with its bootstrap draws) moved along `law` from its base to its target. The interval comes
    from draw-wise sums of the two bootstraps (independent, so pairing by index samples the sum); without
    draws (a law fitted at one scale) the interval bounds add up instead, which is wider. An unresolved move
    adds 0 to the point and its band to the interval (transfer.py)."""
    step = law.move
    value = float(start.value or 0.0) + float(step.value or 0.0)
    n = min(draws.size, law.draws_move.size)
    low: float | None = None
    high: float | None = None
    moved = draws[:n] + law.draws_move[:n]
    if n:
        low, high = percentile_interval(moved, start.level)
    elif start.low is not None and start.high is not None and step.low is not None and step.high is not None:
        low, high = start.low + step.low, start.high + step.high
    interval = Interval(
        value,
        None if low is None else min(low, value),
        None if high is None else max(high, value),
        start.level,
    )
    return interval, moved


def _move(axis: HPAxis, law: ScaleLaw) -> dict[str, Any]:
    """One HP's move along one axis, from the law's base to its target: the applied move per doubling (with
    its interval), the law's form, whether it was applied, the octaves and the change."""
    move = float(law.move.value or 0.0)
    return {
        "hparam": axis.name,
        "axis": law.scale_name,
        "source": law.base_scale,
        "target": law.target_scale,
        "gamma": law.applied_gamma.__dict__,
        "move": law.move.__dict__,
        "model": law.model,
        "applied": law.applied,
        "octaves": law.shift,
        "factor": 2.0**move if axis.log else None,
        "change": None if axis.log else move,
    }


def _width_move(axis: HPAxis, law: ScaleLaw, sizes: _Sizes) -> dict[str, Any] | None:
    """The width law's move from the widest proxy width to the target's (None without a fitted law)."""
    if law.gamma.value is None or not law.scales:
        return None
    return _move(axis, law)


def _budget_applied(name: str, scale_name: str, move: dict[str, Any], widths: list[int]) -> PlanWarning:
    """The note of a budget move: applied (the law's move excludes 0) or not (unresolved, copied)."""
    gamma = Interval(**move["gamma"])
    bounds = "unknown" if gamma.low is None or gamma.high is None else f"[{gamma.low:.3g}, {gamma.high:.3g}]"
    change = f"×{move['factor']:.3g}" if move["factor"] is not None else f"by {move['change']:+.3g}"
    unit = " tokens" if scale_name == HORIZON else ""
    kind = "horizon" if scale_name == HORIZON else "batch"
    span = f"from {move['source']:,.0f}{unit} to {move['target']:,.0f}{unit}"
    at = ", ".join(f"{w:g}" for w in widths)
    level = f"{100 * gamma.level:g} %"
    fitted = f"{name}: γ over the {scale_name} ({level} interval {bounds}, fitted at width(s) {at})"
    if not move["applied"]:
        return PlanWarning(
            f"{kind}_move_unresolved",
            f"{fitted} holds 0: the value is not moved {span}; its interval carries the band",
            hparam=name,
        )
    return PlanWarning(
        f"{kind}_transfer_applied",
        f"{fitted.replace(' (', f' = {gamma.value:.3g} (', 1)} moves the value {change}, {span}",
        hparam=name,
    )


def _budget_not_transferred(
    scale_name: str, base: float, target: float, name: str | None = None
) -> PlanWarning:
    """The target trains on another budget than the width sweep, and an HP is copied across it."""
    key = "token_budgets" if scale_name == HORIZON else "batch_sizes"
    what = (
        f"{name} has an optimum at fewer than 2 budgets" if name else f"no proxy width ran ≥ 2 {scale_name}s"
    )
    unit = " tokens per run" if scale_name == HORIZON else ""
    return PlanWarning(
        f"{'horizon' if scale_name == HORIZON else 'batch'}_not_transferred",
        f"the target's {scale_name} ({target:,.0f}{unit}) differs from the proxies' ({base:,.0f}) and "
        f"{what}: the HPs are copied across it, although optima move with it; list proxy.{key} to fit "
        "its law",
        hparam=name,
    )


def _timescale(
    design: StudyDesign,
    hparams: dict[str, Interval],
    at_base: dict[str, float | None],
    sizes: _Sizes,
    warnings: list[PlanWarning],
    moves: list[dict[str, Any]],
) -> Timescale | None:
    """AdamW's timescale τ = B/(η·λ·D) at the proxies' optimum and at the target (horizon.py). When weight
    decay is swept and the target's B, η or D differ, its value is set to keep τ (updating `hparams` and
    `moves`); with a fixed decay the plan only states the τ the target gets. None without an LR or decay."""
    mode = design.weight_decay_mode
    lr = hparams["lr"].value if "lr" in hparams else None
    lr_base = at_base.get("lr")
    wd = at_base["weight_decay"] if "weight_decay" in hparams else design.weight_decay
    if lr is None or lr_base is None or wd is None or wd <= 0:
        moved = (sizes.proxy_tokens, sizes.proxy_batch) != (sizes.target_tokens, sizes.target_batch)
        if "weight_decay" in hparams and moved:
            warnings.append(
                PlanWarning(
                    "weight_decay_not_moved",
                    "weight_decay: the target's budget differs from the proxies', but AdamW's timescale "
                    "τ = B/(η·λ·D) needs a transferred lr and a positive decay, so the value is copied",
                    hparam="weight_decay",
                )
            )
        return None
    per = design.batch_unit_tokens  # tokens per batch element: τ compares the batch with D in tokens
    proxy = {
        "batch_size": sizes.proxy_batch,
        "batch_tokens": sizes.proxy_batch * per,
        "lr": lr_base,
        "weight_decay": wd,
        "tokens": sizes.proxy_tokens,
    }
    target = {
        "batch_size": sizes.target_batch,
        "batch_tokens": sizes.target_batch * per,
        "lr": lr,
        "weight_decay": wd,
        "tokens": sizes.target_tokens,
    }
    proxy_tau = timescale(mode, **proxy)
    if "weight_decay" in hparams:
        kept = keep_timescale(mode, proxy, target)
        if kept is not None and proxy_tau is not None and not math.isclose(kept, wd, rel_tol=1e-9):
            factor, old = kept / wd, hparams["weight_decay"]
            hparams["weight_decay"] = Interval(
                kept,
                None if old.low is None else old.low * factor,
                None if old.high is None else old.high * factor,
                old.level,
            )
            target["weight_decay"] = kept
            moves.append(
                {
                    "hparam": "weight_decay",
                    "axis": "timescale",
                    "source": proxy_tau,
                    "target": proxy_tau,
                    "gamma": None,
                    "model": "keep τ = B/(η·λ·D)",
                    "octaves": None,
                    "factor": factor,
                    "change": None,
                }
            )
            warnings.append(
                PlanWarning(
                    "weight_decay_timescale",
                    f"weight_decay ×{factor:.3g} to {kept:.3g}: it keeps AdamW's timescale τ = B/(η·λ·D) "
                    f"at the proxies' optimum ({proxy_tau:.3g} of a run) for the target's "
                    f"B = {target['batch_tokens']:,} tokens, η = {lr:.3g} and D = {sizes.target_tokens:,} "
                    "tokens (Power Lines find the optimal τ drifts with tokens per parameter: untested here)",
                    hparam="weight_decay",
                )
            )
    return Timescale(
        mode,
        {**proxy, "tau": proxy_tau or math.nan},
        {**target, "tau": timescale(mode, **target) or math.nan},
    )


def _transfer_applied(axis: HPAxis, law: ScaleLaw, sizes: _Sizes) -> PlanWarning:
    """The informational note of a depth move: the fitted γ_depth with its interval, and the HP's change
    (shrunk by the depth promise's prior, or none when the move is unresolved: transfer.py)."""
    gamma = law.gamma
    move = float(law.move.value or 0.0)
    change = f"×{2.0**move:.3g}" if axis.log else f"by {move:+.3g}"
    bounds = "unknown" if gamma.low is None or gamma.high is None else f"[{gamma.low:.3g}, {gamma.high:.3g}]"
    fitted = f"γ_depth = {gamma.value:.3g} ({100 * gamma.level:g} % interval {bounds})"
    span = f"from the fit depth {sizes.fit_depth} to the target depth {sizes.target_depth}"
    if not law.applied:
        text = (
            f"{axis.name}: {fitted}; the move {span} is unresolved (its interval holds 0), so it is not made"
        )
    elif law.promise_scale is not None:
        text = (
            f"{axis.name}: {fitted}; shrunk toward the parametrization's depth promise (prior "
            f"N(0, {law.promise_scale:g}²) per doubling), it moves the value {change}, {span}; the interval "
            "carries the fitted band"
        )
    else:
        text = f"{axis.name}: {fitted} moves the width-transferred value {change}, {span}"
    return PlanWarning("depth_transfer_applied", text, hparam=axis.name)


def _not_transferred(name: str, depths: list[int], sizes: _Sizes, no_law: bool) -> PlanWarning:
    """Why an HP keeps its width-transferred value at a target depth the proxies did not run."""
    if len(depths) < 2:
        why = "the proxies have one depth, so no depth law can be fitted: list ≥ 2 proxy.depths"
    elif no_law:
        why = "no proxy width has trials at ≥ 2 depths, so no depth law was fitted"
    else:
        why = f"{name} has an optimum at fewer than 2 depths, so its depth law is unfitted"
    return PlanWarning(
        "depth_not_transferred",
        f"{name}: width transfer was fitted at depth {sizes.fit_depth}; the target's depth "
        f"{sizes.target_depth} is not in the proxies' depths {depths} and {why}",
        hparam=name,
    )


def _depth_laws(
    design: StudyDesign,
    p: str,
    trials: list[TrialResult],
    axes: list[HPAxis],
    t_depth: int,
    level: float,
    seed: int,
) -> tuple[dict[str, ScaleLaw], dict[str, list[OptimumFit]]]:
    """The depth transfer: the same fit over depth at the widest proxy width that has ≥ 2 depths; also
    returns the per-depth optima, which the depth extrapolation check (verdict.py) reads."""
    if len(design.depths) < 2:
        return {}, {}
    for width in sorted({t.width for t in trials}, reverse=True):
        at_width = [t for t in trials if t.width == width]
        depths = sorted({t.depth for t in at_width})
        if len(depths) >= 2:
            optima = fit_cells(
                axes, [([t for t in at_width if t.depth == d], d, seed + d) for d in depths], level
            )
            laws = {
                a.name: fit_scale_law(
                    a,
                    optima[a.name],
                    t_depth,
                    scale_name="depth",
                    level=level,
                    seed=seed,
                    invariant=promises_invariance(p, "depth"),
                    base_scale=design.fit_depth,
                )
                for a in axes
            }
            return laws, optima
    return {}, {}


def _best_loss(trials: list[TrialResult]) -> tuple[float, int]:
    """The lowest mean final loss over a configuration's seeds, and how many seeds that mean has."""
    groups: dict[tuple[tuple[str, float], ...], list[float]] = {}
    for t in trials:
        if t.is_diverged or t.status != "completed" or t.final_loss is None:
            continue
        groups.setdefault(tuple(sorted(t.hparams.items())), []).append(float(t.final_loss))
    if not groups:
        return math.nan, 0
    losses = min(groups.values(), key=lambda v: float(np.mean(v)))
    return float(np.mean(losses)), len(losses)


def _loss_sem(noise: RunNoise, width: int, n_seeds: int) -> float:
    """A width's best loss's standard error: one run's noise at that width over √(seeds averaged). With one
    seed this is the modelled noise (run_noise.py), so the loss law carries more than the LR-curve scatter."""
    sigma = noise.at(width)
    return sigma / math.sqrt(n_seeds) if sigma is not None and n_seeds > 0 else math.nan


def _covers(design: StudyDesign, plans: dict[str, ParametrizationPlan]) -> str:
    """What `predicted_loss` describes: L(N, D) at the target's size and tokens where every parametrization
    fitted it (≥ 3 token budgets), else the design's statement of L(N) at the proxies' budget."""
    laws = {pp.predicted_loss_budget.get("law") for pp in plans.values()}
    if plans and laws == {"L(N, D)"}:
        return (
            "predicted_loss is L(N, D) = E + A·N^−α + B·D^−β fitted to every (size, token budget) cell of "
            f"the proxies, at the target's size and its {design.target_tokens:,} tokens"
        )
    return design.coverage_text


def _coverage_text(proxy_tokens: int, t_tokens: int, spec: SweepSpec) -> str:
    base = (
        f"predicted_loss is L(N) at the proxies' budget of {proxy_tokens:,} tokens per run, extrapolated to "
        f"the target's size (width {spec.target.width})"
    )
    if t_tokens == proxy_tokens:
        return base + "; the target trains on the same budget"
    direction = "more" if t_tokens > proxy_tokens else "fewer"
    scanned = (
        "the token scan moves the HPs along the horizon, but L(N, D) needs ≥ 3 token budgets, so the loss "
        "law is fitted at the width sweep's budget only"
        if len(spec.proxy.horizons(spec.model.context_length)) > 1
        else "the proxies do not vary their token budget, so L(N, D) cannot be fitted"
    )
    return (
        base
        + f". The target trains on {t_tokens:,} tokens ({direction}): {scanned}; expect the realized loss "
        "to be "
        f"{'lower' if direction == 'more' else 'higher'} than predicted. loss_vs_compute extrapolates along "
        "the proxies' compute, which is not the same as more data"
    )


def family_mapping(spec: SweepSpec) -> str | None:
    """The rule that carries the proxies' HPs to a target of another family, as the plan states it: dense →
    MoE by Complete-muE's bridges (workers.moe_config.transfer_mapping); None when the target is not MoE."""
    t_model = target_model(spec)
    if t_model.family != "moe":
        return None
    moe = t_model.moe.model_dump() if t_model.moe is not None else None
    try:
        mapping = transfer_mapping(spec.model.family, moe, spec.target.width, t_model.mlp_ratio)
    except ValueError as exc:
        return f"no rule maps the proxies' HPs to the MoE target: {exc}"
    return f"{mapping['bridge']}: {mapping['text']}"
