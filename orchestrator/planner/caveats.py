"""What a parametrization's intervals do not cover, one sentence each, for the plan card and the CLI.

An interval is honest only together with its scope: everything it leaves out is listed here, so that a
realized target loss outside the interval can be read against what was assumed (docs/planner.md).
"""

from __future__ import annotations

from orchestrator.planner.run_noise import RunNoise
from orchestrator.planner.types import PlanWarning

# warning code -> what the intervals then leave out (the warning itself keeps the details)
BY_CODE = {
    "loss_law_underdetermined": (
        "predicted loss: with fewer than 4 widths the point is a pure power law (no irreducible loss E), the "
        "optimistic end, and the upper bound assumes the target does no worse than the widest proxy"
    ),
    "loss_law_few_points": "predicted loss: the loss law's band rests on a single residual degree of freedom",
    "two_scales": (
        "transferred values: with 2 widths the power-law form of the drift is assumed, not checked; a curved "
        "drift would fall outside the interval"
    ),
    "edge_of_range": (
        "transferred values: an optimum sits at the edge of the searched range, so its interval is bounded "
        "by the search, not by the data"
    ),
    "depth_not_transferred": (
        "transferred values: the target's depth is outside the proxies' depths and no depth law moved the "
        "values, so a drift with depth is not in the interval"
    ),
    "two_horizons": (
        "transferred values: with 2 token budgets the horizon law's power-law form is assumed, not checked, "
        "and the target's budget is extrapolated beyond the longest proxy's"
    ),
    "two_batch_sizes": (
        "transferred values: with 2 batch sizes the batch law's power-law form is assumed, not checked"
    ),
    "horizon_not_transferred": (
        "transferred values: the target trains on another token budget than the proxies and no horizon law "
        "moved the values, so the optimum's drift with training length is not in the interval"
    ),
    "batch_not_transferred": (
        "transferred values: the target's batch size differs from the proxies' and no batch law moved the "
        "values, so the optimum's drift with batch size is not in the interval"
    ),
    "target_model_differs": (
        "everything: the target's model section differs from the proxies', and the intervals are the "
        "proxies' family's"
    ),
    "loss_not_decreasing": (
        "predicted loss: the best loss does not fall with width, so the loss law is not meaningful"
    ),
}


def interval_caveats(warnings: list[PlanWarning], noise: RunNoise, verdict: str) -> list[str]:
    """The caveats of one parametrization's plan, in a stable order, each once."""
    codes = {w.code for w in warnings}
    out = [text for code, text in BY_CODE.items() if code in codes]
    if noise.source == "model":
        out.append(
            "predicted loss: one run's noise is modelled, not measured (σ = √2 × the scatter around the LR "
            "curves, one seed per configuration); list ≥ 2 proxy.seeds to measure it"
        )
    elif noise.source == "unknown":
        out.append("predicted loss: one run's noise could not be estimated and is not in the interval")
    if verdict == "untested":
        out.append(
            "transfer: a law the target was moved along was not checked against a held-out proxy value "
            "(≥ 3 widths, depths or budgets needed; the verdict names the axis), so a law that fits the "
            "proxies but not the target would go unnoticed"
        )
    return out
