"""Whether transfer holds, and which parametrization the plan recommends (docs/planner.md, "Verdict").

A verdict is only as good as the test behind it. The test is the extrapolation check (quality.py, metric 2):
fit the law without the largest scale of an axis, predict that scale's optimum, and price the miss on its
loss curve. It needs optima at ≥ 3 values of the axis (two to fit, one to check). The verdict covers every
axis the plan carried an HP along to reach the target: width always, and depth, the token horizon, the
batch size and AdamW's timescale wherever the target differs from the proxies on them. An HP carried along
an axis no held-out point tested (two widths, two budgets, a budget with no law so the value is copied, a
decay moved by the timescale rule) is "untested" for that HP, with the reason:

* **fails**: a check failed (no law, an optimum at the edge of the searched range, or a check's loss penalty
  above `MAX_ROBUSTNESS_PENALTY` for a prediction outside the held-out scale's own optimum interval: inside
  it, the miss is one the held-out scale cannot resolve, such as a 3-point grid's ± half step);
* **untested**: nothing failed, but some HP was carried along an axis no check tested;
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
class AxisCheck:
    """One HP carried along one axis to the target, and the held-out test of that move (None: none ran)."""

    hparam: str
    axis: str  # "width" | "depth" | "horizon" | "batch size" | "timescale"
    check: Robustness | None
    why_untested: str = ""  # when `check` is None: why no held-out point tests the move


@dataclass(frozen=True)
class Verdict:
    verdict: str  # "holds" | "fails" | "untested"
    reason: str
    notes: list[str] = field(default_factory=list)  # every failed or missing check, one sentence each
    by_hparam: dict[str, str] = field(default_factory=dict)  # each HP's own verdict
    tested_axes: dict[str, list[str]] = field(default_factory=dict)  # HP → the axes a held-out point tested
    untested_axes: dict[str, list[str]] = field(default_factory=dict)  # HP → the axes it moved along untested

    @property
    def holds(self) -> bool:
        return self.verdict == "holds"

    def to_dict(self) -> dict[str, Any]:
        return {
            "transfer_verdict": self.verdict,
            "transfer_verdict_reason": self.reason,
            "verdict_by_hparam": self.by_hparam,
            "tested_axes": self.tested_axes,
            "untested_axes": self.untested_axes,
        }


def judge_transfer(
    optima: dict[str, list[OptimumFit]], laws: dict[str, ScaleLaw], checks: list[AxisCheck]
) -> Verdict:
    """The verdict over every swept HP and every axis it was carried along (`checks`)."""
    failed: dict[str, list[str]] = {}
    untested: dict[str, list[str]] = {}
    notes: list[str] = []
    tested: dict[str, list[str]] = {name: [] for name in laws}
    for name, law in laws.items():
        if len(law.scales) < 2 or law.target.low is None or law.target.high is None:
            failed.setdefault(name, []).append(
                f"{name}: no transfer law (optima at {len(law.scales)} width(s))"
            )
        edges = [f.scale for f in optima[name] if any(w.code == "edge_of_range" for w in f.warnings)]
        if edges:
            failed.setdefault(name, []).append(
                f"{name}: optimum at the edge of the searched range at width(s) {edges}"
            )
    for c in checks:
        penalty = None if c.check is None else c.check.relative_penalty
        if penalty is None:
            why = c.why_untested or (c.check.note if c.check is not None else "no check")
            untested.setdefault(c.hparam, []).append(c.axis)
            notes.append(f"{c.hparam} over {c.axis}: not tested ({why})")
        elif penalty > MAX_ROBUSTNESS_PENALTY and not (
            c.check is not None and c.check.within_held_out_interval
        ):
            tested.setdefault(c.hparam, []).append(c.axis)
            failed.setdefault(c.hparam, []).append(
                f"{c.hparam}: the {c.axis} law fitted without the largest proxy value misses its optimum by "
                f"a {100 * penalty:.2f} % loss penalty (limit {100 * MAX_ROBUSTNESS_PENALTY:g} %)"
            )
        else:
            tested.setdefault(c.hparam, []).append(c.axis)
    by_hparam = {
        name: "fails" if name in failed else "untested" if name in untested else "holds"
        for name in {*laws, *tested, *untested}
    }
    common = {"by_hparam": by_hparam, "tested_axes": tested, "untested_axes": untested}
    flat = [text for texts in failed.values() for text in texts]
    if flat:
        return Verdict("fails", "; ".join(flat), flat + notes, **common)
    if untested:
        what = ", ".join(f"{name} over {' and '.join(axes)}" for name, axes in sorted(untested.items()))
        reason = (
            "not tested: the extrapolation check (refit the law without the largest proxy value of an axis, "
            "predict that value's optimum) needs optima at ≥ 3 scales of the axis and could not run for "
            + what
        )
        return Verdict("untested", reason, notes, **common)
    return Verdict(
        "holds",
        "on every axis the target was moved along, the law fitted without the largest proxy value predicts "
        "its optimum within the limit",
        **common,
    )


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
