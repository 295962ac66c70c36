"""The token horizon and batch size on the sweep page: a study whose proxies ran token and batch scans gets
an optimum-vs-tokens and an optimum-vs-batch-size plot (proxy optima, the fitted law drawn out to the
target's budget, the target point), and its plan card lists every axis each HP moved along with the factor,
the target's budget and schedule in steps, and AdamW's timescale. A study without scans shows neither plot,
and the μTransfer plot draws only the width sweep's trials (a scan's trial trained on another budget)."""

from __future__ import annotations

import math
from typing import Any

import httpx
import pytest
from playwright.sync_api import Page, expect
from support.seed import seed_sweep, study_spec

WIDTHS = [32, 64, 128]
BASE_TOKENS = 40 * 8 * 32  # study_spec's proxies: 40 steps × batch 8 × context 32
TARGET_TOKENS = 16 * BASE_TOKENS
PARAMS = ("sp", "mup")


def scan_spec(name: str) -> dict[str, Any]:
    """study_spec with a token scan (2× and 4× the base), a batch scan (4 and 16 around 8), a target trained
    on 16× the tokens at batch 16, and a fixed weight decay (so the plan states AdamW's timescale)."""
    spec = study_spec(name, WIDTHS, 7)
    spec["proxy"] |= {"token_budgets": [2 * BASE_TOKENS, 4 * BASE_TOKENS], "batch_sizes": [4, 16]}
    spec["target"] |= {"tokens": TARGET_TOKENS, "batch_size": 16}
    spec["optimizer"] = {"weight_decay": 0.1}
    return spec


@pytest.fixture(scope="module")
def sweeps(stored_server) -> dict[str, tuple[str, int]]:
    """Stored, planned SP + μP studies: {"scans": with token and batch scans, "plain": without}."""
    server, store = stored_server
    return {
        "scans": (server.url, seed_sweep(store, scan_spec("budget-scans"))),
        "plain": (server.url, seed_sweep(store, study_spec("budget-plain", WIDTHS, 7))),
    }


def sig3(x: float) -> str:
    """A number as the page writes it: three significant digits, no trailing zeros."""
    return f"{float(f'{x:.3g}'):g}"


def plan_json(url: str, sweep_id: int) -> dict[str, Any]:
    response = httpx.get(f"{url}/api/v1/sweeps/{sweep_id}/plan")
    assert response.status_code == 200, response.text
    return response.json()["plan"]


def drawn(page: Page, plot_id: str) -> list[dict[str, Any]]:
    """The figure's traces: role, parametrization, x values and (for a target) the error bar's extent."""
    return page.evaluate(
        "id => (document.getElementById(id).figure?.data || []).map(t => ({role: (t.meta || {}).role, "
        "parametrization: (t.meta || {}).parametrization, x: t.x, y: t.y, "
        "error: t.error_y ? [t.error_y.arrayminus[0], t.error_y.array[0]] : null}))",
        plot_id,
    )


def wait_for_plot(page: Page, plot_id: str) -> None:
    page.wait_for_function("id => (document.getElementById(id).figure?.data || []).length > 0", arg=plot_id)


def test_the_scans_draw_their_laws_and_the_card_lists_every_move(sweeps, page: Page, screenshot) -> None:
    url, sweep_id = sweeps["scans"]
    plan = plan_json(url, sweep_id)
    page.goto(f"{url}/sweeps/{sweep_id}")
    for plot in ("plot-horizon", "plot-batch", "plot-optimum"):
        wait_for_plot(page, plot)
    expect(page.locator("#horizon-card")).to_be_visible()
    expect(page.locator("#batch-card")).to_be_visible()

    for plot, key, scales in (
        ("plot-horizon", "horizon_transfer", [BASE_TOKENS, 2 * BASE_TOKENS, 4 * BASE_TOKENS]),
        ("plot-batch", "batch_transfer", [4, 8, 16]),
    ):
        traces = drawn(page, plot)
        for p in PARAMS:
            law = plan["parametrizations"][p][key]["laws"]["lr"]
            mine = {t["role"]: t for t in traces if t["parametrization"] == p}
            assert set(mine) == {"observed", "fit", "prediction"}, (plot, p, traces)
            assert mine["observed"]["x"] == scales  # one optimum per proxy budget
            assert [round(math.log2(y), 6) for y in mine["observed"]["y"]] == [
                round(u, 6) for u in law["optima_u"]
            ]
            # the law is drawn from the narrowest proxy budget out to the target's, where the target sits
            assert mine["fit"]["x"][0] == pytest.approx(scales[0])
            assert mine["fit"]["x"][-1] == pytest.approx(law["target_scale"])
            assert mine["prediction"]["x"] == [law["target_scale"]]
            assert mine["prediction"]["y"][0] == pytest.approx(law["target"]["value"])
            assert mine["prediction"]["error"] is not None  # its interval
    axis = page.evaluate("() => document.getElementById('plot-horizon').figure?.layout.xaxis")
    assert axis["type"] == "log" and axis["title"]["text"] == "tokens (proxies at width 32)"

    # the μTransfer plot: one curve per width of the width sweep, no scan trial mixed into width 32's
    transfer = page.evaluate(
        "() => document.getElementById('plot-transfer').figure.data"
        ".filter(t => t.meta.role === 'width').length"
    )
    assert transfer == len(PARAMS) * len(WIDTHS)

    moves = page.locator("#plan-card #plan-moves")
    for p in PARAMS:
        listed = plan["parametrizations"][p]["moves"]
        assert {m["axis"] for m in listed} == {"width", "horizon", "batch size"}
        expect(moves.locator(f'tr[data-parametrization="{p}"]')).to_have_count(len(listed))
        horizon = next(m for m in listed if m["axis"] == "horizon")
        row = moves.locator(f'tr[data-parametrization="{p}"][data-axis="horizon"][data-hparam="lr"]')
        expect(row.locator(".move-change")).to_have_text(f"×{sig3(horizon['factor'])}")
        expect(row.locator(".move-span")).to_have_text("10.2k → 164k tokens")
        expect(row.locator(".move-gamma")).to_contain_text("γ = -0.40 [")
    target = plan["target"]
    assert target["steps"] == TARGET_TOKENS // (16 * 32)
    expect(page.locator("#plan-target-budget")).to_have_text(
        f"164k tokens · batch 16 · {target['steps']} steps · cosine schedule: warmup 0 steps, decay "
        f"{target['steps']} steps"
    )
    expect(page.locator("#plan-proxy-budget")).to_contain_text("token scans 20.5k, 41k; batch scans 4, 16")
    for p in PARAMS:
        tau = plan["parametrizations"][p]["timescale"]
        expect(page.locator(f'#plan-timescale [data-timescale-for="{p}"]')).to_contain_text(
            f"target {sig3(tau['target']['tau'])} of a run"
        )
    screenshot(page, "budget-plots-and-moves")


def test_a_study_without_scans_shows_no_budget_plots(sweeps, page: Page) -> None:
    url, sweep_id = sweeps["plain"]
    plan = plan_json(url, sweep_id)
    assert all(plan["parametrizations"][p]["horizon_transfer"] is None for p in PARAMS)
    page.goto(f"{url}/sweeps/{sweep_id}")
    wait_for_plot(page, "plot-optimum")
    page.wait_for_function("() => document.body.dataset.rendered === '1'")
    expect(page.locator("#budget-plots")).to_be_hidden()
    expect(page.locator("#plan-moves tr[data-axis='width']")).to_have_count(len(PARAMS))  # width moves only
    expect(page.locator("#plan-moves tr[data-axis='horizon']")).to_have_count(0)
    expect(page.locator("#plan-timescale")).to_have_count(0)  # no weight decay: no timescale
