"""What the planner reads of a study besides its trials: the study's design.

A study is either one that mutransfer trains (a `SweepSpec`: `from_spec`) or one imported from runs a team
already has (`orchestrator/imported_design.py` builds it from the imported table). The fits are the same for
both; only what the design says differs: the proxies' sizes and budgets, the target's, and how a run's
parameters and tokens are counted. Keeping that in one value is what lets an imported study, and a backtest
that holds some of its runs out, be planned by the very procedure a trained sweep is.

`scale_name` names the size axis the trials' `width` holds: `"width"`, or `"n_params"` for an imported study
whose models are known only by their parameter count (or whose depth changes with width, so that no width
law at one depth exists). Either way the laws are fitted per doubling of that scale.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from orchestrator.planner.axis import HPAxis
from orchestrator.planner.types import TrialResult

# (parametrization, target width, target depth, base HP values) -> resolved rows (name, shape, role, init_std,
# forward_multiplier, lr, weight_decay) of every parameter of the target model.
MultiplierResolver = Callable[[str, int, int, dict[str, float]], list[dict[str, Any]]]


@dataclass(frozen=True)
class StudyDesign:
    """The study's sizes, budgets and target, as the fits need them (module docstring)."""

    name: str
    parametrizations: list[str]
    axes: list[HPAxis]
    scale_name: str  # what the trials' `width` holds: "width" or "n_params"
    proxy_scales: list[int]  # the sizes the study meant to run (a missing one is warned about)
    depths: list[int]
    fit_depth: int  # the depth the width law is fitted at
    target_scale: int
    target_depth: int
    target_params: int  # non-embedding parameters of the target
    target_tokens: int
    target_batch: int
    proxy_tokens: int  # the width sweep's tokens per run, in the unit the budget laws use (`budget_unit`)
    proxy_batch: int
    params: Callable[[int, int], int]  # non-embedding parameters of a proxy at (scale, depth)
    run_tokens: Callable[[TrialResult], int]  # tokens one proxy run trained on (its compute)
    base_tokens_at: Callable[[int], int]  # the width sweep's tokens per run at a proxy scale
    weight_decay_mode: str = "coupled"
    batch_unit_tokens: int = 1  # tokens per unit of `proxy_batch`/`target_batch` (the context length)
    weight_decay: float | None = None  # the fixed decay, when it is not swept
    target_info: dict[str, Any] = field(default_factory=dict)  # extra fields of the plan's `target`
    proxy_info: dict[str, Any] = field(default_factory=dict)  # extra fields of the plan's `proxy`
    coverage_text: str = ""
    resolver: MultiplierResolver | None = None  # None: the target's per-layer table is not resolved
    model_differs: bool = False  # the target is another model family than the proxies
    family_mapping: str | None = None  # the rule carrying HPs across families, when they differ
    extra_warnings: list[tuple[str, str]] = field(default_factory=list)  # (code, message) of the design
