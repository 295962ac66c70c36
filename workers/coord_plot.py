"""Coordinate-check figures in microsoft/mup's style: log2 size on x, log2 statistic on y, one panel per
step, one line per module; one row per statistic. A PNG (matplotlib, Agg) and an offline HTML (plotly
with its JavaScript inlined), plus the JSON the orchestrator stores."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

from workers.coord_check import STATS, CoordCheckReport


def _series(result: dict[str, Any], module: str, stat: str, step: int) -> tuple[list[float], list[float]]:
    """(log2 x, log2 value) for the positive, finite points (a stat that is 0, e.g. Δ at step 0, has none)."""
    pairs = [
        (math.log2(x), math.log2(v))
        for x, v in zip(result["x"], result["stats"][module][stat][step], strict=True)
        if math.isfinite(v) and v > 0
    ]
    return [p[0] for p in pairs], [p[1] for p in pairs]


def _fmt(slope: float | None) -> str:
    return "n/a" if slope is None else f"{slope:+.3f}"


def _title(result: dict[str, Any]) -> str:
    s = result["settings"]
    verdict = "PASS" if result["passed"] else f"FAIL ({len(result['failing'])} slopes off their prediction)"
    return f"{s['parametrization']} + {s['optimizer']} (lr {s['lr']:g}): {verdict}"


def save_png(result: dict[str, Any], path: Path) -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    steps = result["steps"]
    fig, axes = plt.subplots(
        len(STATS), len(steps), figsize=(3.2 * len(steps), 2.8 * len(STATS)), squeeze=False
    )
    for r, stat in enumerate(STATS):
        for c, step in enumerate(steps):
            ax = axes[r][c]
            for module in result["modules"]:
                xs, ys = _series(result, module, stat, step)
                ax.plot(xs, ys, marker="o", markersize=3, label=module)
            ax.set_title(f"{stat}, step {step}", fontsize=9)
            ax.set_xlabel(f"log2 {result['axis']}", fontsize=8)
            if c == 0:
                ax.set_ylabel(f"log2 {stat}", fontsize=8)
    handles, labels = axes[0][0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="center right", fontsize=7)
    fig.suptitle(_title(result))
    fig.tight_layout(rect=(0, 0, 0.86, 0.96))
    fig.savefig(path, dpi=90)
    plt.close(fig)
    return path


def save_html(result: dict[str, Any], path: Path) -> Path:
    import plotly.graph_objects as go
    from plotly.subplots import make_subplots

    steps = result["steps"]
    fig = make_subplots(
        rows=len(STATS),
        cols=len(steps),
        subplot_titles=[f"{stat}, step {step}" for stat in STATS for step in steps],
    )
    colors = [
        f"hsl({int(360 * i / max(1, len(result['modules'])))},70%,45%)" for i in range(len(result["modules"]))
    ]
    for r, stat in enumerate(STATS, start=1):
        for c, step in enumerate(steps, start=1):
            for module, color in zip(result["modules"], colors, strict=True):
                xs, ys = _series(result, module, stat, step)
                slope = result["slopes"][module][stat][step]
                fig.add_trace(
                    go.Scatter(
                        x=xs,
                        y=ys,
                        mode="lines+markers",
                        name=module,
                        legendgroup=module,
                        line={"color": color},
                        showlegend=(r == 1 and c == 1),
                        hovertemplate=f"{module}<br>slope {_fmt(slope)}<extra></extra>",
                    ),
                    row=r,
                    col=c,
                )
            fig.update_xaxes(title_text=f"log2 {result['axis']}", row=r, col=c)
            fig.update_yaxes(title_text=f"log2 {stat}" if c == 1 else None, row=r, col=c)
    fig.update_layout(title=_title(result), height=300 * len(STATS), width=280 * len(steps) + 200)
    fig.write_html(path, include_plotlyjs=True, full_html=True)
    return path


def save_artifacts(result: CoordCheckReport | dict[str, Any], out_dir: str | Path) -> dict[str, Path]:
    """Write coord_check.json, coord_check.png and coord_check.html into out_dir (created if needed)."""
    data = result.to_dict() if isinstance(result, CoordCheckReport) else result
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    json_path = out / "coord_check.json"
    json_path.write_text(json.dumps(data, indent=1))
    return {
        "json": json_path,
        "png": save_png(data, out / "coord_check.png"),
        "html": save_html(data, out / "coord_check.html"),
    }
