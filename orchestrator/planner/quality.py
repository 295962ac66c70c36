"""Transfer quality: the three metrics of seed 004 (Kalra & Barkeshli 2026; science.md §7).

1. Fit quality of the optimum's scaling law: its residuals (`ScaleLaw.residual_rms`, `reduced_chi2`).
2. Robustness to extrapolation: refit the law without the widest proxy, predict that proxy's optimum, and read
   the loss penalty of using the prediction off that width's own fitted loss curve.
3. Asymptotic loss penalty: one parametrization's fitted E and predicted target loss against the best one's.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from orchestrator.planner.axis import HPAxis
from orchestrator.planner.loss_law import LossLaw
from orchestrator.planner.numeric import finite, json_safe
from orchestrator.planner.optimum import OptimumFit
from orchestrator.planner.transfer import ScaleLaw, fit_scale_law


@dataclass(frozen=True)
class Robustness:
    """Metric 2 for one HP: `loss_penalty` is absolute, `relative_penalty` relative to the optimum's loss."""

    hparam: str
    held_out_scale: float | None
    predicted_u: float | None
    fitted_u: float | None
    error_u: float | None  # prediction − fitted optimum, in u units (octaves on log axes)
    loss_penalty: float | None
    relative_penalty: float | None
    note: str

    def to_dict(self) -> dict[str, Any]:
        return json_safe(self.__dict__)


def fit_quality(law: ScaleLaw) -> dict[str, Any]:
    """Metric 1: how well u*(s) = u₀ + γ log2 s describes the optima (None with fewer than 3 scales)."""
    return json_safe(
        {
            "hparam": law.hparam,
            "residual_rms": law.residual_rms,
            "reduced_chi2": law.reduced_chi2,
            "n_scales": len(law.scales),
        }
    )


def extrapolation_robustness(
    axis: HPAxis,
    fits: list[OptimumFit],
    *,
    scale_name: str = "width",
    level: float = 0.9,
    seed: int = 0,
    invariant: bool = False,
) -> Robustness:
    """Metric 2: predict the widest scale's optimum from the others and price the miss on its loss curve.

    `invariant` is the plan's own choice of law (transfer.py): the check tests the procedure the plan used."""
    usable = sorted((f for f in fits if f.u is not None), key=lambda f: f.scale)
    if len(usable) < 3:
        return Robustness(
            axis.name,
            None,
            None,
            None,
            None,
            None,
            None,
            f"needs optima at ≥ 3 {scale_name}s (2 to fit, 1 to check); got {len(usable)}",
        )
    held = usable[-1]
    law = fit_scale_law(
        axis, usable[:-1], held.scale, scale_name=scale_name, level=level, seed=seed, invariant=invariant
    )
    predicted = law.target_u.value
    if predicted is None or held.u is None:
        return Robustness(axis.name, held.scale, None, held.u, None, None, None, "the reduced law has no fit")
    error = predicted - held.u
    at_pred, at_opt = held.loss_at(predicted), held.loss_at(held.u)
    if at_pred is None or at_opt is None:
        return Robustness(
            axis.name,
            held.scale,
            predicted,
            held.u,
            error,
            None,
            None,
            f"the widest {scale_name}'s loss curve has no parabola to read the penalty from",
        )
    penalty = max(at_pred - at_opt, 0.0)
    relative = penalty / at_opt if at_opt > 0 else None
    return Robustness(
        axis.name,
        held.scale,
        predicted,
        held.u,
        finite(error),
        finite(penalty),
        finite(relative),
        f"fitted on {len(usable) - 1} {scale_name}s, checked at {held.scale:g}",
    )


def asymptotic_penalties(laws: dict[str, LossLaw]) -> dict[str, dict[str, Any]]:
    """Metric 3: each parametrization's E and predicted target loss minus the best (lowest) among them."""
    predicted = {p: law.prediction.value for p, law in laws.items() if law.prediction.value is not None}
    asymptote = {p: law.E for p, law in laws.items() if law.E is not None}
    best_pred = min(predicted.values(), default=None)
    best_e = min(asymptote.values(), default=None)
    out: dict[str, dict[str, Any]] = {}
    for p in laws:
        pred, e = predicted.get(p), asymptote.get(p)
        out[p] = json_safe(
            {
                "target_loss_penalty": None if pred is None or best_pred is None else pred - best_pred,
                "relative_target_loss_penalty": None
                if pred is None or not best_pred
                else (pred - best_pred) / best_pred,
                "E_penalty": None if e is None or best_e is None else e - best_e,
            }
        )
    return out
