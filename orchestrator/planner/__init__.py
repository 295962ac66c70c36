"""The transfer planner: pure functions from proxy trial results to a plan for the target run
(docs/planner.md).

No I/O, no store, no Ray: the store glue converts trial rows into `TrialResult`s and stores `Plan.to_dict()`.

Its only inputs are the validated `SweepSpec`, the trials, and the workers' model rules (imported
one way, orchestrator → workers): `workers.moe_config` for an MoE model's size and the dense → MoE transfer
rule, and `workers.parametrization.resolve_table` (through `orchestrator.trial_config`) for the target's
per-parameter multipliers, which a caller may replace with its own `MultiplierResolver`.
"""

from orchestrator.planner.axis import HPAxis
from orchestrator.planner.loss_law import LossLaw, fit_loss_law
from orchestrator.planner.model_size import non_embedding_params, training_flops
from orchestrator.planner.optimum import OptimumFit, fit_optimum
from orchestrator.planner.plan import MultiplierResolver, ParametrizationPlan, Plan, build_plan
from orchestrator.planner.transfer import ScaleLaw, fit_scale_law
from orchestrator.planner.types import Interval, PlanWarning, TrialResult

__all__ = [
    "HPAxis",
    "Interval",
    "LossLaw",
    "MultiplierResolver",
    "OptimumFit",
    "ParametrizationPlan",
    "Plan",
    "PlanWarning",
    "ScaleLaw",
    "TrialResult",
    "build_plan",
    "fit_loss_law",
    "fit_optimum",
    "fit_scale_law",
    "non_embedding_params",
    "training_flops",
]
