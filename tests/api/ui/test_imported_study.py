"""An imported study in the browser: runs a team already had, uploaded through the real API (POST
/api/v1/imports, docs/import.md), read on the sweep page like any sweep (the μTransfer plot, the
optimum-vs-width and loss-vs-scale plots, the trial table, the plan card with the transferred lr) and marked
imported everywhere: a badge, the source file, the run and diverged counts, the axes and HPs. Nothing was
trained, so nothing is launched or awaited: no launch button, and the coordinate-check and target-run panels
say "not applicable" instead of spinning. A file sized by n_params alone is drawn per n_params, never as one
"width 0" curve. The sweeps list shows the imported status and the run counts."""

from __future__ import annotations

import math
from typing import Any

import httpx
import pytest
from playwright.sync_api import Page, expect
from support.figures import roles, traces
from support.seed import surface_loss

WIDTHS = [32, 64, 128]
LRS = [2 ** (-10 + 8 * i / 6) for i in range(7)]
DEPTH = 4


def n_params(width: int) -> int:
    return 12 * DEPTH * width * width


def runs_csv(*, width_column: bool = True) -> tuple[str, int]:
    """μP-shaped runs (the optimum stays put across widths; far above it a run diverges), one seed: the CSV
    text and how many runs diverged (written as `inf`, the import format's diverged loss)."""
    size = "width," if width_column else ""
    lines = [f"parametrization,{size}depth,n_params,tokens,batch_size,context_length,seed,lr,loss,notes"]
    diverged = 0
    for width in WIDTHS:
        for lr in LRS:
            loss = surface_loss("mup", width, WIDTHS[0], lr)
            diverged += math.isinf(loss)
            cell = "inf" if math.isinf(loss) else f"{loss:.6f}"
            size_cell = f"{width}," if width_column else ""
            run = f"{DEPTH},{n_params(width)},1e7,32,256,0,{lr:.8g},{cell}"
            lines.append(f"mup,{size_cell}{run},from our cluster")
    return "\n".join(lines) + "\n", diverged


def import_runs(url: str, name: str, text: str, target: str) -> dict[str, Any]:
    response = httpx.post(
        f"{url}/api/v1/imports",
        params={"name": name, "hps": "lr", "target": target},
        content=text,
        headers={"content-type": "text/csv"},
    )
    assert response.status_code == 201, response.text
    return response.json()


@pytest.fixture(scope="module")
def studies(stored_server) -> dict[str, Any]:
    """Two imported studies of the same runs: one with a width column, one sized by n_params alone."""
    server, _ = stored_server
    by_width, diverged = runs_csv()
    by_params, _ = runs_csv(width_column=False)
    return {
        "url": server.url,
        "diverged": diverged,
        "width": import_runs(server.url, "team-runs.csv", by_width, "width=512"),
        "n_params": import_runs(server.url, "params-only.csv", by_params, f"n_params={n_params(512)}"),
    }


def open_study(page: Page, url: str, sweep_id: int) -> None:
    page.goto(f"{url}/sweeps/{sweep_id}")
    page.wait_for_function("() => document.body.dataset.rendered === '1'")


def test_an_imported_study_is_read_like_a_sweep_and_marked_imported(studies, page: Page, screenshot) -> None:
    url, created = studies["url"], studies["width"]
    runs, diverged = len(WIDTHS) * len(LRS), studies["diverged"]
    assert 0 < diverged < runs
    assert (created["status"], created["runs"], created["diverged"]) == ("imported", runs, diverged)
    assert created["plan_version"] == 1
    plan = httpx.get(f"{url}/api/v1/sweeps/{created['id']}/plan").json()["plan"]
    assert plan["target_choice"] is None and plan["imported"]["source"] == "team-runs.csv"

    open_study(page, url, created["id"])
    expect(page.locator("#sweep-name")).to_have_text("team-runs.csv")
    expect(page.locator("#sweep-status .badge")).to_have_text("imported")  # the marker by the title
    line = page.locator("#sweep-imported")
    expect(line).to_be_visible()
    expect(line.locator("#imported-source")).to_have_text("team-runs.csv")
    expect(line.locator("#imported-counts")).to_contain_text(f"{runs} runs ({diverged} diverged)")
    for axis in ("width", "depth", "n_params", "tokens"):
        expect(line).to_contain_text(axis)
    expect(line).to_contain_text("swept HPs lr")
    expect(line).to_contain_text("imported runs: nothing to train or launch")
    expect(page.locator("#sweep-meta")).to_contain_text("widths 32, 64, 128 → target 512")
    expect(page.locator("#progress-label")).to_contain_text(f"{runs} imported runs")

    # the plots, drawn as for a trained sweep: one curve per width, the diverged row, the fitted optima
    transfer = roles(page, "plot-transfer")
    assert transfer["width"] == len(WIDTHS) and transfer["diverged"] == 1, transfer
    assert sum(t["points"] for t in traces(page, "plot-transfer") if t["role"] == "optimum") == len(WIDTHS)
    assert [t["name"] for t in traces(page, "plot-transfer") if t["role"] == "width"] == [
        f"width {w}" for w in WIDTHS
    ]
    for plot in ("plot-transfer", "plot-scaling", "plot-optimum"):
        assert page.evaluate(f"() => document.getElementById('{plot}').charts.length") > 0, plot
    for plot in ("plot-scaling", "plot-optimum"):
        drawn = roles(page, plot)
        assert drawn["observed"] == drawn["fit"] == drawn["prediction"] == 1, (plot, drawn)

    # the plan card: marked imported, with the transferred lr; nothing to launch
    card = page.locator("#plan-card")
    expect(card.locator("#plan-imported")).to_contain_text("team-runs.csv")
    nothing = card.locator("#plan-nothing-to-launch")
    expect(nothing).to_contain_text("Imported runs: nothing to train or launch")
    expect(card.locator("#plan-table thead")).to_contain_text("Transferred to width 512")
    lr = plan["parametrizations"]["mup"]["hparams"]["lr"]["value"]
    shown = card.locator('#plan-table tr[data-parametrization="mup"] td').nth(1).locator("b").first
    assert float(shown.inner_text()) == pytest.approx(lr, rel=2e-3)
    assert lr == pytest.approx(2**-6, rel=0.05)  # μP's optimum, where the runs put it
    expect(page.locator("#launch-button")).to_be_hidden()
    expect(page.get_by_role("button", name="Launch target run")).to_have_count(0)

    # the stages it never had say so, and nothing is left loading
    expect(page.locator("#plot-coord")).to_contain_text("Not applicable to an imported study")
    expect(page.locator("#plot-target")).to_contain_text("Not applicable to an imported study")
    expect(page.locator("#plot-target")).not_to_contain_text("Launch")
    expect(page.locator(".state.loading")).to_have_count(0)
    expect(page.locator("#page-error")).to_be_hidden()

    # the trial table: every run of the file, none with a loss curve to open
    expect(page.locator("#tf-count")).to_have_text(f"{runs} of {runs} trials")
    expect(page.locator("#trial-table tbody tr")).to_have_count(runs)
    expect(page.locator("#trial-table a[data-curve]")).to_have_count(0)
    expect(page.locator("#trial-table tbody tr").first).to_contain_text("imported: no per-step metrics")
    screenshot(page, "imported-study")


def test_a_study_sized_by_n_params_is_drawn_per_n_params_not_as_width_0(studies, page: Page) -> None:
    url, created = studies["url"], studies["n_params"]
    assert created["status"] == "imported" and "width" not in created["axes"]
    open_study(page, url, created["id"])
    expect(page.locator("#sweep-imported")).to_contain_text("sized by n_params")
    expect(page.locator("#sweep-meta")).to_contain_text("sizes (n_params) 49.2k, 197k, 786k → target 12.6M")

    curves = [t["name"] for t in traces(page, "plot-transfer") if t["role"] == "width"]
    # one curve per size, named by n_params: never a single "width 0" curve
    assert curves == ["n_params 49.2k", "n_params 197k", "n_params 786k"]
    assert sum(t["points"] for t in traces(page, "plot-transfer") if t["role"] == "optimum") == len(WIDTHS)
    expect(page.locator("#transfer-note")).to_contain_text("one curve per size (n_params)")
    expect(page.locator("#optimum-title")).to_have_text("Optimum against size (n_params)")
    x_title = "() => document.getElementById('plot-optimum').figure.layout.xaxis.title.text"
    assert "n_params" in page.evaluate(x_title)
    assert roles(page, "plot-optimum")["observed"] == 1
    expect(page.locator("#plan-table thead")).to_contain_text("Transferred to n_params 12.6M")
    width_col = page.locator("#trial-table thead th").all_inner_texts().index("Width")
    widths = page.locator("#trial-table tbody tr").evaluate_all(
        f"rows => rows.map(r => r.children[{width_col}].textContent.trim())"
    )
    assert set(widths) == {"—"}  # the file gave no widths: unknown, not 0


def test_the_sweeps_list_shows_the_imported_status(studies, page: Page) -> None:
    url, created = studies["url"], studies["width"]
    runs, diverged = len(WIDTHS) * len(LRS), studies["diverged"]
    page.goto(f"{url}/")
    row = page.locator(f'tr[data-sweep-id="{created["id"]}"]')
    expect(row.locator("td.status")).to_have_text("imported")
    expect(row).to_contain_text("team-runs.csv")
    expect(row).to_contain_text(f"{runs} runs imported ({diverged} diverged)")
    expect(row.get_by_role("progressbar")).to_have_count(0)  # nothing to make progress on
    page.select_option("#filter-status", "imported")
    expect(page.locator("#sweeps-body tr[data-sweep-id]")).to_have_count(2)
    page.select_option("#filter-status", "queued")
    expect(row).to_have_count(0)
