"""How the CLI prints a stored transfer plan: per parametrization its values, the predicted loss of one target
run and the transfer verdict, then what the intervals leave out (docs/planner.md).

The verdict is read from `transfer_verdict`; a plan stored before verdicts existed only has `transfer_holds`,
which was true for a 2-width plan that nothing had tested, so such a plan shows "untested" unless its quality
block has a computed extrapolation check for every swept HP.
"""

from __future__ import annotations

from typing import Any

from rich.console import Group, RenderableType
from rich.table import Table
from rich.text import Text

VERDICT_TEXT = {"holds": "holds", "fails": "fails", "untested": "untested"}


def verdict_of(entry: dict[str, Any]) -> tuple[str, str]:
    """(verdict, reason) of one parametrization's plan, also for plans stored before verdicts existed."""
    verdict = entry.get("transfer_verdict")
    if verdict in VERDICT_TEXT:
        return verdict, entry.get("transfer_verdict_reason") or ""
    notes = "; ".join(entry.get("transfer_notes") or [])
    if not entry.get("transfer_holds"):
        return "fails", notes
    checks = ((entry.get("quality") or {}).get("extrapolation") or {}).values()
    if checks and all(c.get("relative_penalty") is not None for c in checks):
        return "holds", notes
    return "untested", "the plan predates verdicts and its extrapolation check did not run (< 3 widths)"


def _loss_text(entry: dict[str, Any]) -> str:
    loss = entry.get("predicted_loss") or {}
    if loss.get("value") is None:
        return "-"
    known = loss.get("low") is not None and loss.get("high") is not None
    bounds = f" [{loss['low']:.3f}, {loss['high']:.3f}]" if known else ""
    noise = entry.get("predicted_loss_noise") or {}
    sigma = noise.get("sigma")
    return f"{loss['value']:.3f}{bounds}" + (
        f"\nrun noise σ {sigma:.3g} ({noise['source']})" if sigma else ""
    )


def moves_text(name: str, entry: dict[str, Any]) -> list[str]:
    """One line per HP: every axis it moved along (width, depth, horizon, batch size, timescale) and by how
    much, so a value carried to a longer or larger-batch run is never mistaken for a copied one."""
    by_hp: dict[str, list[str]] = {}
    for move in entry.get("moves") or []:
        change = (
            f"×{move['factor']:.3g}" if move.get("factor") is not None else f"{move.get('change') or 0:+.3g}"
        )
        gamma = move.get("gamma") or {}
        fitted = f" (γ {gamma['value']:.3g})" if gamma.get("value") is not None else ""
        if move["axis"] == "timescale":
            fitted = " (keeps τ = B/(η·λ·D))"
        by_hp.setdefault(move["hparam"], []).append(f"{move['axis']} {change}{fitted}")
    return [f"{name}: {hp} moved along {', '.join(axes)}" for hp, axes in by_hp.items()]


def size_text(target: dict[str, Any]) -> str:
    """The target's size on the plan's size axis: its width, or (an imported study of models known by their
    size) its non-embedding parameters."""
    if target.get("scale", "width") == "width":
        return f"width {target['width']}"
    return f"{target['width']:,.4g} non-embedding parameters"


def target_text(target: dict[str, Any]) -> str:
    """The target's size and budget, with its schedule's lengths (fractions of its own steps)."""
    parts = [size_text(target)]
    if target.get("scale", "width") == "width":
        parts.append(f"depth {target.get('depth')}")
    if target.get("tokens"):
        parts.append(f"{target['tokens']:,} tokens")
    if target.get("batch_size"):
        parts.append(f"batch {target['batch_size']}")
    if target.get("steps") is not None:
        parts.append(f"{target['steps']:,} steps")
    schedule = target.get("schedule") or {}
    if schedule.get("warmup_steps") is not None:
        parts.append(f"warmup {schedule['warmup_steps']} steps")
    if schedule.get("decay_steps") is not None:
        parts.append(f"decay {schedule['decay_steps']} steps")
    return "target: " + ", ".join(parts)


def plan_renderables(plan: dict[str, Any], version: int | None = None) -> RenderableType:
    """The plan's table, then per parametrization its verdict's reason (unless it holds) and its caveats."""
    numbered = f"transfer plan v{version}" if version is not None else "transfer plan"
    table = Table(title=f"{numbered} (target {size_text(plan['target'])})")
    for column in ("parametrization", "transferred to the target", "predicted loss (one run)", "transfer"):
        table.add_column(column)
    notes: list[RenderableType] = []
    for name, entry in plan["parametrizations"].items():
        values = ", ".join(
            f"{hp}={v['value']:.3g}" for hp, v in entry["hparams"].items() if v.get("value") is not None
        )
        verdict, reason = verdict_of(entry)
        table.add_row(
            name + (" (recommended)" if name == plan.get("recommended") else ""),
            values or "-",
            _loss_text(entry),
            VERDICT_TEXT[verdict],
        )
        if verdict != "holds" and reason:
            notes.append(Text(f"{name}: transfer {verdict}: {reason}"))
        notes += [Text(line) for line in moves_text(name, entry)]
        budget = entry.get("predicted_loss_budget") or {}
        if budget.get("at_target_budget") is False:
            notes.append(
                Text(
                    f"{name}: the predicted loss is {budget.get('law', 'L(N)')} at the proxies' budget "
                    f"({budget.get('tokens', 0):,} tokens), not the target's: it is not compared with the "
                    "target run"
                )
            )
        for caveat in entry.get("interval_caveats") or []:
            notes.append(Text(f"{name}: not in the intervals: {caveat}"))
    recommendation = plan.get("recommendation")
    return Group(
        table,
        Text(target_text(plan["target"])),
        *([Text(f"recommendation: {recommendation}")] if recommendation else []),
        *notes,
    )
