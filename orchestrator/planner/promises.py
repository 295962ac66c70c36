"""What each parametrization promises about its optimum, so the planner knows which transfer law to expect.

A promise is a prior, not a result: the planner still fits γ and reports it, and a γ that excludes 0 overrides
the promise (transfer.py). The names are the spec's `parametrizations`.
"""

from __future__ import annotations

# Width: μP (Yang et al. 2021, "Tensor Programs V"), u-μP (Blake et al. 2024) and CompleteP (μP in width)
# keep the optimal base HPs fixed as the width grows. SP does not (its Adam LR optimum drifts like 1/width),
# nor does SP with a width-scaled embedding LR (Everett et al. 2024 fix only the embedding).
WIDTH_INVARIANT = frozenset({"mup", "u-mup", "completep"})

# Depth: CompleteP (α = 1, Dey et al. 2025) and depth-μP (α = ½, Yang et al. 2023; spec.depth_alpha) scale the
# residual branches and their LRs with depth so the optimum stays put; plain μP makes no depth promise.
DEPTH_INVARIANT = frozenset({"completep"})


# Training budget (token horizon, batch size): no parametrization promises anything; the optimum is fitted.
PROMISES = {"width": WIDTH_INVARIANT, "depth": DEPTH_INVARIANT}


def promises_invariance(parametrization: str, scale_name: str) -> bool:
    """Whether `parametrization` promises an optimum that does not move along `scale_name`."""
    return parametrization in PROMISES.get(scale_name, frozenset())
