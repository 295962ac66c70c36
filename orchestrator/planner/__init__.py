"""The transfer planner: pure functions from proxy trial results to a plan for the target run
(docs/planner.md).

No I/O, no store, no Ray: the store glue converts trial rows into `TrialResult`s and stores `Plan.to_dict()`.
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
