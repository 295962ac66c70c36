"""The sweep page's coordinate-check panel: per module the measured points and, where the module's
parametrization predicts a slope, that slope as a dashed line, for every checked parametrization (SP
included)."""

from __future__ import annotations

from typing import Any

import pytest
from playwright.sync_api import Page, expect
from support.seed import COORD_MODULES, seed_sweep, study_spec

WIDTHS = [32, 64, 128]


@pytest.fixture(scope="module")
def checked_sweep(stored_server) -> tuple[str, int]:
    server, store = stored_server
    return server.url, seed_sweep(store, study_spec("coord-panel", WIDTHS, 3), plan=False)


def coord_traces(page: Page) -> list[dict[str, Any]]:
    return page.evaluate(
        "() => document.getElementById('plot-coord').figure.data"
        ".map(t => ({...(t.meta || {}), x: t.x, y: t.y}))"
    )


def show(page: Page, parametrization: str, stat: str) -> list[dict[str, Any]]:
    page.select_option("#coord-select", parametrization)
    page.select_option("#coord-stat", stat)
    page.wait_for_function(
        "([p, s]) => { const f = document.getElementById('plot-coord').figure; return f && f.layout"
        " && f.layout.yaxis.title.text.includes(s) && document.getElementById('coord-select').value === p; }",
        arg=[parametrization, stat],
    )
    return coord_traces(page)


def test_the_panel_draws_measured_points_and_predicted_slopes_per_module(
    checked_sweep, page: Page, screenshot
) -> None:
    url, sweep_id = checked_sweep
    page.goto(f"{url}/sweeps/{sweep_id}")
    page.wait_for_function("() => (document.getElementById('plot-coord').figure?.data || []).length > 0")
    expect(page.locator("#coord-select option")).to_have_count(2)  # SP is checked like μP
    expect(page.locator("#coord-verdict")).to_contain_text("every judged slope on its prediction")

    mup = show(page, "mup", "rms")
    measured = [t for t in mup if t["role"] == "measured"]
    predicted = [t for t in mup if t["role"] == "prediction"]
    assert len(measured) == len(COORD_MODULES) * 3 and all(len(t["x"]) == len(WIDTHS) for t in measured)
    assert len(predicted) == len(COORD_MODULES) * 3 and {t["slope"] for t in predicted} == {0.0}
    for line in predicted:  # drawn with its predicted slope across the measured widths
        (x0, x1), (y0, y1) = line["x"], line["y"]
        assert (y1 - y0) / (x1 - x0) == pytest.approx(0.0) and x1 - x0 == pytest.approx(2.0)

    sp = show(page, "sp", "rms")
    lines = {(t["module"], t["step"]): t["slope"] for t in sp if t["role"] == "prediction"}
    assert lines[("blocks.0.mlp", 0)] == 1.0  # two σ-initialized width×width matrices: √width each
    assert ("blocks.0.attn", 0) not in lines  # recorded, not judged (its softmax sharpens with width)
    assert lines[("logits", 1)] == 1.0
    assert len([t for t in sp if t["role"] == "measured"]) == len(COORD_MODULES) * 3
    expect(page.locator("#plot-coord .legend-text", has_text="predicted slope (dashed)")).to_have_count(1)
    screenshot(page, "sweep-coord-panel-sp")
