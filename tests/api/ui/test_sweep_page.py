"""The sweep page on a stored, finished study: every plot draws the series it should, the trial table
sorts and filters, a trial's loss curve opens, and the plan card shows the transferred values."""

from __future__ import annotations

import math
from collections import Counter
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from playwright.sync_api import Page, expect
from support.figures import roles, traces
from support.seed import COORD_MODULES, seed_sweep, study_spec, surface_loss

WIDTHS = [32, 64, 128]
LR_POINTS = 7


@pytest.fixture(scope="module")
def finished_sweep(stored_server) -> tuple[str, int]:
    server, store = stored_server
    sweep_id = seed_sweep(store, study_spec("detail-finished", WIDTHS, LR_POINTS), target_metrics=60)
    return server.url, sweep_id


def wait_for_plot(page: Page, plot_id: str) -> None:
    page.wait_for_function("id => (document.getElementById(id).figure?.data || []).length > 0", arg=plot_id)


def test_every_plot_draws_its_series(finished_sweep, page: Page, screenshot) -> None:
    url, sweep_id = finished_sweep
    plan = httpx.get(f"{url}/api/v1/sweeps/{sweep_id}/plan").json()
    plan_doc = plan.get("plan", plan)
    page.goto(f"{url}/sweeps/{sweep_id}")
    for plot in ("plot-transfer", "plot-coord", "plot-scaling", "plot-optimum", "plot-target"):
        wait_for_plot(page, plot)

    params = ["sp", "mup"]
    transfer = roles(page, "plot-transfer")
    assert transfer["width"] == len(params) * len(WIDTHS)  # one curve per width in each panel
    lrs = [2 ** (-10 + 8 * i / (LR_POINTS - 1)) for i in range(LR_POINTS)]
    with_divergence = [
        p for p in params if any(math.isinf(surface_loss(p, w, WIDTHS[0], lr)) for w in WIDTHS for lr in lrs)
    ]
    assert transfer["diverged"] == len(with_divergence) > 0
    per_param = plan_doc["parametrizations"]
    optima = [f for p in params for f in per_param[p]["optima"]["lr"] if f["u"] is not None]
    optimum_points = sum(t["points"] for t in traces(page, "plot-transfer") if t["role"] == "optimum")
    assert optimum_points == len(optima) > 0
    titles = "() => document.getElementById('plot-transfer').figure?.layout.annotations.map(a => a.text)"
    panels = page.evaluate(titles)
    assert panels == ["<b>SP</b>", "<b>μP</b>"]  # side by side, in the spec's order

    # SP's check is shown first, with its change since step 0 (more in tests/api/ui/test_coord_panel.py)
    coord = roles(page, "plot-coord")
    assert coord["measured"] == len(COORD_MODULES) * 3  # each module's points in each of 3 step panels
    assert coord["prediction"] == 3  # SP predicts its embedding's change (steps 1, 2), the logits' (step 1)
    expect(page.locator("#coord-verdict")).to_contain_text("passed")

    for plot in ("plot-scaling", "plot-optimum"):
        drawn = roles(page, plot)
        assert drawn["observed"] == drawn["fit"] == drawn["prediction"] == len(params), (plot, drawn)
    assert all("γ = " in t["name"] for t in traces(page, "plot-optimum") if t["role"] == "fit")

    target = roles(page, "plot-target")
    assert target["loss"] == 1 and target["prediction"] == 1 and target["band"] == 2
    expect(page.locator("#target-note")).to_contain_text("inside the interval")

    plan_table = page.locator("#plan-table")
    for p in params:
        lr = per_param[p]["hparams"]["lr"]["value"]
        cell = plan_table.locator(f'tr[data-parametrization="{p}"] td').nth(1)
        shown = cell.locator("b").first.inner_text()
        assert float(shown) == pytest.approx(lr, rel=2e-3)  # the transferred lr, to the digits shown
        law = per_param[p]["width_transfer"]["lr"]
        expect(cell).to_contain_text(f"{law['gamma']['value']:.2f}")
        if (
            law["model"] == "invariant"
        ):  # μP's γ = 0 held: shrunk toward it, the interval still the data's band
            expect(cell).to_contain_text("shrunk toward the promise")
    if plan_doc["recommended"]:
        expect(plan_table.locator(f'tr[data-parametrization="{plan_doc["recommended"]}"]')).to_contain_text(
            "recommended"
        )
    screenshot(page, "sweep-detail-stored-finished")


DRAWN = """id => {
  const el = document.getElementById(id);
  const datasets = el.charts.flatMap((c, panel) => c.data.datasets.map((d, k) => ({panel, k, d, c})));
  return {
    canvases: el.querySelectorAll('canvas').length,
    titles: el.charts.map(c => c.options.plugins.title.text),
    traces: el.figure.data.map((t, i) => {
      const drawn = datasets.find(({d}) => d.traceIndex === i);
      const finite = (t.x || []).filter((x, j) => Number.isFinite(x) && Number.isFinite(t.y[j])).length;
      return {name: t.name, role: t.meta.role, finite, drawn: drawn.d.data.length,
              visible: drawn.c.isDatasetVisible(drawn.k)};
    }),
  };
}"""


def test_figures_are_drawn_panel_by_panel_the_legend_hides_a_series_in_every_panel_and_a_drag_zooms(
    finished_sweep, page: Page
) -> None:
    url, sweep_id = finished_sweep
    page.goto(f"{url}/sweeps/{sweep_id}")
    wait_for_plot(page, "plot-transfer")
    drawn = page.evaluate(DRAWN, "plot-transfer")
    assert drawn["canvases"] == 2 and drawn["titles"] == ["SP", "μP"]  # one chart per parametrization
    widths = [t for t in drawn["traces"] if t["role"] == "width"]
    assert len(widths) == 2 * len(WIDTHS)
    assert all(t["drawn"] == t["finite"] > 0 and t["visible"] for t in widths)  # every finite point, no more

    page.locator("#plot-transfer .legend-item", has_text="width 32").click()
    expect(page.locator("#plot-transfer .legend-item.off .legend-text")).to_have_text(["width 32"])
    after = page.evaluate(DRAWN, "plot-transfer")["traces"]
    assert [t["visible"] for t in after if t["role"] == "width"] == [
        t["name"] != "width 32" for t in widths
    ]  # hidden in both panels, the other widths kept
    page.locator("#plot-transfer .legend-item", has_text="width 32").click()
    after = page.evaluate(DRAWN, "plot-transfer")["traces"]
    assert all(t["visible"] for t in after if t["role"] == "width")

    # drag a box on SP's panel: its axes zoom to the box and survive a redraw; a double-click goes back
    bounds = (
        "() => document.getElementById('plot-transfer').charts.map(c => [c.scales.x.min, c.scales.x.max])"
    )
    full = page.evaluate(bounds)
    box = page.locator("#plot-transfer canvas").first.bounding_box()
    page.mouse.move(box["x"] + 0.3 * box["width"], box["y"] + 0.3 * box["height"])
    page.mouse.down()
    page.mouse.move(box["x"] + 0.6 * box["width"], box["y"] + 0.6 * box["height"], steps=4)
    page.mouse.up()
    zoomed = page.evaluate(bounds)
    assert full[0][0] < zoomed[0][0] < zoomed[0][1] < full[0][1] and zoomed[1] == full[1]
    page.locator("#plot-transfer .legend-item", has_text="width 64").click()  # redraws, as a poll does
    assert page.evaluate(bounds) == zoomed
    page.locator("#plot-transfer canvas").first.dblclick()
    assert page.evaluate(bounds) == full


def column_values(page: Page, column: int) -> list[str]:
    return page.locator("#trial-table tbody tr").evaluate_all(
        f"rows => rows.map(r => r.children[{column}].textContent.trim())"
    )


def test_trial_table_sorts_and_filters(finished_sweep, page: Page) -> None:
    url, sweep_id = finished_sweep
    page.goto(f"{url}/sweeps/{sweep_id}")
    total = len(WIDTHS) * LR_POINTS * 2
    expect(page.locator("#tf-count")).to_have_text(f"{total} of {total} trials")
    headers = page.locator("#trial-table thead th").all_inner_texts()
    final_col = headers.index("Val loss (final)")  # the planner's objective, named as such
    assert "Train loss (last step)" in headers
    width_col = headers.index("Width")

    final_header = page.locator("#trial-table th[data-key='final_val_loss']")
    final_header.click()  # already ascending by default: now descending
    expect(final_header).to_have_attribute("aria-sort", "descending")
    losses = [float(v) for v in column_values(page, final_col) if v != "—"]
    assert losses == sorted(losses, reverse=True) and len(losses) > 10
    final_header.click()
    expect(final_header).to_have_attribute("aria-sort", "ascending")
    losses = [float(v) for v in column_values(page, final_col) if v != "—"]
    assert losses == sorted(losses)
    assert column_values(page, final_col)[-1] == "—"  # diverged trials (no loss) sort last

    page.click("#trial-table th[data-key='width']")
    # the server sorts: the header says so once the sorted page has arrived
    expect(page.locator("#trial-table th[data-key='width']")).to_have_attribute("aria-sort", "ascending")
    widths = [int(v) for v in column_values(page, width_col)]
    assert widths == sorted(widths)

    page.select_option("#tf-width", "64")
    page.select_option("#tf-status", "diverged")
    rows = page.locator("#trial-table tbody tr")
    expect(rows.first).to_contain_text("diverged")
    assert set(column_values(page, width_col)) == {"64"}
    page.select_option("#tf-status", "")
    page.fill("#tf-text", "mup-w64-d2-i3")
    expect(rows).to_have_count(1)
    expect(page.locator("#tf-count")).to_have_text(f"1 of {total} trials")


def test_loss_curve_of_a_trial_opens_with_log_axes(finished_sweep, page: Page) -> None:
    url, sweep_id = finished_sweep
    page.goto(f"{url}/sweeps/{sweep_id}")
    page.fill("#tf-text", "mup-w128-d2-i2")
    expect(page.locator("#trial-table tbody tr")).to_have_count(1)
    page.locator("#trial-table a[data-curve]").click()
    expect(page.locator("#curve-modal")).to_be_visible()
    expect(page.locator("#curve-title")).to_contain_text("width 128")
    wait_for_plot(page, "plot-curve")
    curve = page.evaluate(
        "() => { const f = document.getElementById('plot-curve').figure; return {x: f.data[0].x, "
        "xtype: f.layout.xaxis.type, ytype: f.layout.yaxis.type, role: f.data[0].meta.role}; }"
    )
    assert curve == {"x": [1, 2, 3, 4, 5], "xtype": "log", "ytype": "log", "role": "loss"}
    page.keyboard.press("Escape")
    expect(page.locator("#curve-modal")).to_be_hidden()


@pytest.fixture(scope="module")
def two_hp_sweep(stored_server) -> tuple[str, int]:
    server, store = stored_server
    spec = study_spec("detail-two-hps", WIDTHS, 5, init_stds=3)
    return server.url, seed_sweep(store, spec, target_metrics=20)


def test_two_swept_hps_get_one_panel_row_and_one_law_each(two_hp_sweep, page: Page, screenshot) -> None:
    """μTransfer plot: a row per swept HP (each point the best over the other HP), a column per
    parametrization; the optimum plot: one panel per HP with its own law and transferred value."""
    url, sweep_id = two_hp_sweep
    plan = httpx.get(f"{url}/api/v1/sweeps/{sweep_id}/plan").json()
    per_param = plan.get("plan", plan)["parametrizations"]
    page.goto(f"{url}/sweeps/{sweep_id}")
    for plot in ("plot-transfer", "plot-optimum"):
        wait_for_plot(page, plot)
    drawn = page.evaluate(
        "() => document.getElementById('plot-transfer').figure?.data.filter(t => t.meta.role === 'width')"
        ".map(t => ({hp: t.meta.hp, p: t.meta.parametrization, w: t.meta.width, x: t.customdata, y: t.y}))"
    )
    assert {(d["hp"], d["p"]) for d in drawn} == {(h, p) for h in ("lr", "init_std") for p in ("sp", "mup")}
    assert len(drawn) == 2 * 2 * len(WIDTHS)
    # each point is the best loss over the other HP's grid at that value: check one against the surface
    lrs = [2 ** (-10 + 8 * i / 4) for i in range(5)]
    stds = [2 ** (-5 + 4 * i / 2) for i in range(3)]
    curve = next(d for d in drawn if d["hp"] == "init_std" and d["p"] == "sp" and d["w"] == 128)
    for std, loss in zip(curve["x"], curve["y"], strict=True):
        finite = [surface_loss("sp", 128, WIDTHS[0], lr, std) for lr in lrs]
        assert loss == pytest.approx(min(v for v in finite if math.isfinite(v)))
    assert sorted(curve["x"]) == pytest.approx(stds)
    axes = page.evaluate(
        "() => { const l = document.getElementById('plot-transfer').figure?.layout;"
        " return Object.keys(l).filter(k => k.startsWith('xaxis')).map(k => l[k].title.text); }"
    )
    assert sorted(set(axes)) == ["log<sub>2</sub> init_std", "log<sub>2</sub> lr"]
    expect(page.locator("#transfer-note")).to_contain_text("validation loss")
    expect(page.locator("#plan-objective")).to_contain_text("final validation loss")  # what the plan predicts

    laws = page.evaluate(
        "() => document.getElementById('plot-optimum').figure?.data.filter(t => t.meta.role === 'fit')"
        ".map(t => ({hp: t.meta.hp, p: t.meta.parametrization, gamma: t.meta.gamma}))"
    )
    assert {(d["hp"], d["p"]) for d in laws} == {(h, p) for h in ("lr", "init_std") for p in ("sp", "mup")}
    for d in laws:
        assert d["gamma"] == pytest.approx(per_param[d["p"]]["width_transfer"][d["hp"]]["gamma"]["value"])
    predictions = page.evaluate(
        "() => document.getElementById('plot-optimum').figure?.data.filter(t => t.meta.role === 'prediction')"
        ".map(t => t.meta.hp)"
    )
    assert Counter(predictions) == {"lr": 2, "init_std": 2}
    screenshot(page, "sweep-detail-two-hps")


def test_the_header_shows_the_budget_and_its_use(stored_server, page: Page) -> None:
    server, store = stored_server
    spec = study_spec("detail-budget", WIDTHS, 3)
    spec["budget"] = {"max_wall_time": 7200, "max_trial_hours": 2.5}
    sweep_id = seed_sweep(store, spec, plan=False, coord_check=False)
    page.goto(f"{server.url}/sweeps/{sweep_id}")
    budget = page.locator("#sweep-budget")
    expect(budget).to_be_visible()
    expect(budget).to_contain_text("budget: wall time")
    expect(budget).to_contain_text("of 2 h 0 min")
    expect(budget).to_contain_text("trial time")
    expect(budget).to_contain_text("of 2.5 h")
    no_budget = seed_sweep(store, study_spec("detail-no-budget", WIDTHS, 3), plan=False, coord_check=False)
    page.goto(f"{server.url}/sweeps/{no_budget}")
    expect(page.locator("#sweep-name")).to_have_text("detail-no-budget")
    expect(page.locator("#sweep-budget")).to_be_hidden()


def test_the_trial_table_marks_reused_trials(stored_server, page: Page) -> None:
    from sqlalchemy import update

    from orchestrator.store.models import Trial

    server, store = stored_server
    original = seed_sweep(store, study_spec("detail-original", WIDTHS, 3), plan=False, coord_check=False)
    repeat = seed_sweep(store, study_spec("detail-repeat", WIDTHS, 3), plan=False, coord_check=False)
    source, copy = store.all_trials(original)[0], store.all_trials(repeat)[0]
    with store.session() as session:
        session.execute(
            update(Trial)
            .where(Trial.id == copy.id)
            .values(reused_from_sweep=original, reused_from_trial=source.id)
        )
    page.goto(f"{server.url}/sweeps/{repeat}")
    marked = page.locator("#trial-table tbody tr .reused")
    expect(marked).to_have_count(1)
    expect(marked).to_have_text(f"reused from sweep {original}")
    assert f"trial {source.id}" in (marked.get_attribute("title") or "")


def test_the_page_draws_from_the_summary_and_pages_trials_through_the_server(
    stored_server, page: Page
) -> None:
    """More trials than one table page: the μTransfer plot is the server's summary, drawn as it is, and the
    table asks for one page at a time (sorted by the server), never for the whole sweep."""
    server, store = stored_server
    widths = [32, 64, 128, 256]
    spec = study_spec("detail-paged", widths, LR_POINTS, init_stds=2)
    sweep_id = seed_sweep(store, spec, plan=False, coord_check=False)
    total = 2 * len(widths) * LR_POINTS * 2
    lists: list[dict[str, list[str]]] = []
    summaries: list[str] = []

    def on_request(request: Any) -> None:
        url = urlsplit(request.url)
        if url.path == f"/api/v1/sweeps/{sweep_id}/trials":
            lists.append(parse_qs(url.query))
        elif url.path == f"/api/v1/sweeps/{sweep_id}/trials/summary":
            summaries.append(request.url)

    page.on("request", on_request)
    page.goto(f"{server.url}/sweeps/{sweep_id}")
    wait_for_plot(page, "plot-transfer")
    expect(page.locator("#tf-count")).to_have_text(f"{total} of {total} trials")
    rows = page.locator("#trial-table tbody tr")
    expect(rows).to_have_count(50)
    expect(page.locator("#tf-page")).to_have_text("page 1 of 3")
    final_col = page.locator("#trial-table thead th").all_inner_texts().index("Val loss (final)")
    first = [float(v) for v in column_values(page, final_col) if v != "—"]  # the default sort: ascending
    page.click("#tf-next")
    expect(page.locator("#tf-page")).to_have_text("page 2 of 3")
    second = [float(v) for v in column_values(page, final_col) if v != "—"]
    assert first == sorted(first) and second == sorted(second) and first[-1] <= second[0]
    page.click("#tf-next")
    expect(page.locator("#tf-page")).to_have_text("page 3 of 3")
    expect(rows).to_have_count(total - 100)

    assert summaries, "the plot did not read the trial summary"
    assert lists and all(int(q["limit"][0]) <= 50 for q in lists), lists  # never more than one page
    assert {int(q["offset"][0]) for q in lists} >= {0, 50, 100}
    assert all(q["sort"] == ["final_val_loss"] and q["order"] == ["asc"] for q in lists)

    summary = httpx.get(f"{server.url}/api/v1/sweeps/{sweep_id}/trials/summary").json()
    expected = {
        (g["parametrization"], g["width"], hp): [
            (p["value"], p["best"]) for p in points if p["best"] is not None
        ]
        for g in summary["groups"]
        for hp, points in g["points"].items()
    }
    drawn = page.evaluate(
        "() => document.getElementById('plot-transfer').figure?.data.filter(t => t.meta.role === 'width')"
        ".map(t => ({p: t.meta.parametrization, w: t.meta.width, hp: t.meta.hp, x: t.customdata, y: t.y}))"
    )
    assert len(drawn) == 2 * 2 * len(widths)
    for d in drawn:
        assert list(zip(d["x"], d["y"], strict=True)) == expected[(d["p"], d["w"], d["hp"])]


def test_without_chart_js_each_plot_says_so_and_the_rest_of_the_page_renders(
    finished_sweep, page: Page, expected_errors
) -> None:
    url, sweep_id = finished_sweep
    expected_errors.append(("ERR_FAILED", "/ui/vendor/chart.min.js"))  # the load this test blocks
    page.route("**/ui/vendor/chart.min.js", lambda route: route.abort())
    page.goto(f"{url}/sweeps/{sweep_id}")
    page.wait_for_function("() => document.body.dataset.rendered === '1'")
    expect(page.locator("#plot-transfer")).to_contain_text(
        "This plot could not be drawn: Chart.js could not be loaded from /ui/vendor/chart.min.js"
    )
    expect(page.locator("#trial-table tbody tr").first).to_be_visible()
    expect(page.locator("#plan-table")).to_be_visible()
