"""Whether transfer holds, and which parametrization the plan recommends (docs/planner.md, "Verdict").

A verdict is only as good as the test behind it. The test is the extrapolation check (quality.py, metric 2):
fit the law without the widest proxy, predict that proxy's optimum, and price the miss on its loss curve. It
needs optima at ≥ 3 scales (two to fit, one to check). With two widths the law passes through both optima
exactly and nothing can contradict it, so such a plan is "untested", never "holds":

* **fails**: a check failed (no law, an optimum at the edge of the searched range, or the check's loss penalty
  above `MAX_ROBUSTNESS_PENALTY`);
* **untested**: nothing failed, but the check could not run along some scale the target is extrapolated on
  (width always; depth when the target's depth was moved along a depth law);
* **holds**: every check ran and passed.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from orchestrator.planner.optimum import OptimumFit
from orchestrator.planner.quality import Robustness
from orchestrator.planner.transfer import ScaleLaw

MAX_ROBUSTNESS_PENALTY = 0.01  # relative loss penalty of the extrapolated optimum above which transfer fails
MIN_TESTED_SCALES = 3


@dataclass(frozen=True)
class Verdict:
    verdict: str  # "holds" | "fails" | "untested"
    reason: str
    notes: list[str] = field(default_factory=list)  # every failed or missing check, one sentence each

    @property
    def holds(self) -> bool:
        return self.verdict == "holds"

    def to_dict(self) -> dict[str, Any]:
        return {"transfer_verdict": self.verdict, "transfer_verdict_reason": self.reason}


def judge_transfer(
    optima: dict[str, list[OptimumFit]],
    laws: dict[str, ScaleLaw],
    robustness: dict[str, Robustness],
    depth_robustness: dict[str, Robustness] | None = None,
) -> Verdict:
    """The verdict over every swept HP: width checks, and depth checks when a depth law moved the target."""
    failed: list[str] = []
    untested: list[str] = []
    notes: list[str] = []
    for name, law in laws.items():
        if len(law.scales) < 2 or law.target.low is None or law.target.high is None:
            failed.append(f"{name}: no transfer law (optima at {len(law.scales)} width(s))")
        edges = [f.scale for f in optima[name] if any(w.code == "edge_of_range" for w in f.warnings)]
        if edges:
            failed.append(f"{name}: optimum at the edge of the searched range at width(s) {edges}")
    for scale_name, checks in (("width", robustness), ("depth", depth_robustness or {})):
        for name, check in checks.items():
            penalty = check.relative_penalty
            if penalty is None:
                untested.append(f"{name} over {scale_name}")
                notes.append(f"{name} over {scale_name}: not tested ({check.note})")
            elif penalty > MAX_ROBUSTNESS_PENALTY:
                failed.append(
                    f"{name}: the {scale_name} law fitted without the largest proxy misses its optimum by a "
                    f"{100 * penalty:.2f} % loss penalty (limit {100 * MAX_ROBUSTNESS_PENALTY:g} %)"
                )
    if failed:
        return Verdict("fails", "; ".join(failed), failed + notes)
    if untested:
        reason = (
            "not tested: the extrapolation check (refit the law without the largest proxy, predict that "
            "proxy's optimum) needs optima at ≥ 3 scales and could not run for " + ", ".join(untested)
        )
        return Verdict("untested", reason, notes)
    return Verdict("holds", "the law fitted without the largest proxy predicts its optimum within the limit")


def recommend(candidates: dict[str, tuple[Verdict, float | None]]) -> tuple[str | None, str, bool]:
    """The parametrization with the lowest predicted loss among those whose transfer holds; else among the
    untested ones (said so, and flagged by the third value); else none.

    Untested ones stay recommendable so a 2-width study still plans (and auto-launches) a target run: the
    recommendation text and the plan's warnings say that nothing was tested."""
    for wanted in ("holds", "untested"):
        pool = {p: loss for p, (v, loss) in candidates.items() if v.verdict == wanted and loss is not None}
        if not pool:
            continue
        best = min(pool, key=lambda p: pool[p])  # type: ignore[arg-type,return-value]
        why = f"{best}: the lowest predicted target loss ({pool[best]:.4g}) among the parametrizations whose "
        if wanted == "holds":
            return best, why + f"transfer holds ({sorted(pool)})", False
        untested = (
            f"transfer is untested ({sorted(pool)}); none was tested and held, so this choice rests on the "
            "proxies' fit alone: add a proxy width (≥ 3 in all) to test it"
        )
        return best, why + untested, True
    return None, NONE_HOLDS, False


NONE_HOLDS = "no parametrization's transfer holds (see transfer_notes): fix the flagged sweeps first"
