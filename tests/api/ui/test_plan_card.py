"""Transfer verdicts only when tested, on every surface a plan is read from: a 2-width study's plan says
"untested" in the API's JSON, in `mutransfer status ID` and on the sweep page's plan card (which also lists
what the intervals leave out and folds every warning into one <details>); a 3-width study gets its verdict."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from playwright.sync_api import Page, expect
from support.seed import seed_sweep, study_spec
from typer.testing import CliRunner

from api.cli import app

PARAMS = ("sp", "mup")


@pytest.fixture(scope="module")
def studies(stored_server) -> dict[int, tuple[str, int]]:
    """Stored, planned SP + μP studies over 2 and 3 widths: {number of widths: (server url, sweep id)}."""
    server, store = stored_server
    return {
        n: (server.url, seed_sweep(store, study_spec(f"card-{n}-widths", [32, 64, 128][:n], 7)))
        for n in (2, 3)
    }


def plan_json(url: str, sweep_id: int) -> dict[str, Any]:
    response = httpx.get(f"{url}/api/v1/sweeps/{sweep_id}/plan")
    assert response.status_code == 200, response.text
    return response.json()["plan"]


def cli_rows(url: str, sweep_id: int) -> dict[str, str]:
    result = CliRunner().invoke(app, ["status", str(sweep_id), "--server", url])
    assert result.exit_code == 0, result.output
    rows = {p: line for line in result.output.splitlines() for p in PARAMS if line.startswith(f"│ {p} ")}
    assert set(rows) == set(PARAMS), result.output
    return rows


def test_a_two_width_plan_reads_untested_in_the_api_the_cli_and_the_card(
    studies, page: Page, screenshot
) -> None:
    url, sweep_id = studies[2]
    plan = plan_json(url, sweep_id)
    for p in PARAMS:
        entry = plan["parametrizations"][p]
        assert entry["transfer_verdict"] == "untested" and entry["transfer_holds"] is False
        assert "≥ 3" in entry["transfer_verdict_reason"]
    assert plan["recommended"] in PARAMS and "untested" in plan["recommendation"]  # still launchable

    for p, row in cli_rows(url, sweep_id).items():
        assert "untested" in row and "holds" not in row, (p, row)

    page.goto(f"{url}/sweeps/{sweep_id}")
    card = page.locator("#plan-card")
    expect(card.locator("#plan-table")).to_be_visible()
    for p in PARAMS:
        verdict = card.locator(f'tr[data-parametrization="{p}"] .verdict')
        expect(verdict).to_have_attribute("data-verdict", "untested")
        expect(verdict).to_have_text("transfer untested")
        notes = card.locator(f'tr[data-notes-for="{p}"]')
        expect(notes.locator(".plan-verdict")).to_contain_text("≥ 3")
        expect(notes.locator(".plan-caveats")).to_contain_text("pure power law")  # the E = 0 point, in view
        expect(card.locator(f'tr[data-parametrization="{p}"] [data-noise-source]')).to_contain_text(
            "one run's noise"
        )
    expect(card).not_to_contain_text("transfer holds")
    fold = card.locator("details#plan-warnings-fold")
    expect(fold.locator("summary")).to_have_text(f"Warnings ({len(plan['warnings'])})")
    expect(fold.locator("#plan-warnings li")).to_have_count(len(plan["warnings"]))  # folded, none dropped
    screenshot(page, "plan-card-two-widths-untested")


def test_a_three_width_plan_gets_its_verdict_everywhere(studies, page: Page) -> None:
    url, sweep_id = studies[3]
    plan = plan_json(url, sweep_id)
    verdicts = {p: plan["parametrizations"][p]["transfer_verdict"] for p in PARAMS}
    assert set(verdicts.values()) <= {"holds", "fails"}, verdicts
    rows = cli_rows(url, sweep_id)
    page.goto(f"{url}/sweeps/{sweep_id}")
    for p, verdict in verdicts.items():
        assert verdict in rows[p] and "untested" not in rows[p]
        badge = page.locator(f'#plan-table tr[data-parametrization="{p}"] .verdict')
        expect(badge).to_have_attribute("data-verdict", verdict)
        expect(badge).to_have_text(f"transfer {verdict}")
