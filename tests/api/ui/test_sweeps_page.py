"""The sweeps page in a real browser: the table with progress and filters, and the YAML form."""

from __future__ import annotations

import re

import httpx
import yaml
from playwright.sync_api import Page, expect
from support.seed import seed_sweep, study_spec

from orchestrator.store.models import SweepStatus
from ui.conftest import start_server, stop_server


def test_sweeps_table_shows_status_progress_and_filters(stored_server, page: Page) -> None:
    server, store = stored_server
    done_id = seed_sweep(store, study_spec("list-finished", [32, 64], 3), plan=False)
    queued = study_spec("list-queued", [32, 64], 3)
    queued_id = seed_sweep(store, queued, status=SweepStatus.QUEUED, plan=False)

    page.goto(server.url + "/")
    done_row = page.locator(f'tr[data-sweep-id="{done_id}"]')
    expect(done_row).to_contain_text("list-finished")
    expect(done_row.locator("td.status")).to_have_text("completed")
    expect(done_row.get_by_role("progressbar")).to_have_attribute("aria-valuenow", "12")
    expect(done_row).to_contain_text("12 / 12")
    expect(done_row.locator("td.best-loss")).not_to_have_text("—")  # the best loss of a finished sweep
    expect(page.locator(f'tr[data-sweep-id="{queued_id}"]')).to_contain_text("0 / 12")

    page.select_option("#filter-status", "queued")
    expect(page.locator(f'tr[data-sweep-id="{done_id}"]')).to_have_count(0)
    expect(page.locator(f'tr[data-sweep-id="{queued_id}"]')).to_have_count(1)
    page.select_option("#filter-status", "")
    page.fill("#filter-name", "no-such-sweep-name")
    expect(page.locator("#sweeps-body")).to_contain_text("No sweep matches these filters.")

    page.fill("#filter-name", "list-fin")
    page.locator(f'tr[data-sweep-id="{done_id}"] a').click()
    expect(page).to_have_url(re.compile(rf"/sweeps/{done_id}$"))
    expect(page.locator("#sweep-name")).to_have_text("list-finished")


def test_new_sweep_form_shows_validation_messages_then_creates_the_sweep(stored_server, page: Page) -> None:
    server, _ = stored_server
    page.goto(server.url + "/")
    page.click("#new-sweep-toggle")
    editor = page.locator("#spec-yaml")
    expect(editor).to_have_value(re.compile(r"parametrizations"))  # the starter spec is loaded

    bad = yaml.safe_load(editor.input_value())
    bad["proxy"]["widths"] = [128, 64]
    bad["search"]["space"]["lr"]["low"] = -1
    editor.fill(yaml.safe_dump(bad))
    page.click("#spec-submit")
    messages = page.locator("#form-messages")
    expect(messages).to_contain_text("The spec is not valid")
    expect(messages).to_contain_text("proxy.widths")
    expect(messages).to_contain_text("strictly ascending")
    expect(page).to_have_url(server.url + "/")

    editor.fill("name: [unclosed")
    page.click("#spec-submit")
    expect(messages).to_contain_text("not valid YAML")

    good = yaml.safe_load(page.request.get(server.url + "/ui/static/starter.yaml").text())
    good["name"] = "created-from-the-form"
    editor.fill(yaml.safe_dump(good, sort_keys=False))
    page.click("#spec-submit")
    expect(page).to_have_url(re.compile(r"/sweeps/\d+$"))
    expect(page.locator("#sweep-name")).to_have_text("created-from-the-form")
    sweep_id = int(page.url.rsplit("/", 1)[1])
    stored = httpx.get(f"{server.url}/api/v1/sweeps/{sweep_id}").json()
    assert stored["spec"]["name"] == "created-from-the-form"
    assert stored["total_trials"] == 30


def test_pasted_token_is_kept_for_the_tab_and_sent_on_every_call(tmp_path, page: Page, expected_errors):
    token = "ui-test-admin-token-" + "x" * 24
    server = start_server(tmp_path, run_sweeps=False, admin_token=token)
    try:
        expected_errors.append(("401", "/api/v1/"))  # the calls made before the token is pasted
        page.goto(server.url + "/")
        expect(page.locator("#list-error")).to_contain_text("paste an API token")
        sent: list[str | None] = []
        page.on("request", lambda r: "/api/" in r.url and sent.append(r.headers.get("authorization")))
        page.fill("#token-input", token)
        page.click("#token-form button")
        expect(page.locator("#token-info")).to_contain_text("every project")
        expect(page.locator("#list-error")).to_be_hidden()
        expect(page.locator("#sweeps-body")).to_contain_text("No sweeps yet")
        assert sent and set(sent) == {f"Bearer {token}"}
        assert page.evaluate("() => sessionStorage.getItem('mutransfer.token')") == token
        page.reload()  # same tab: still signed in
        expect(page.locator("#token-info")).to_contain_text("every project")
        page.click("#token-clear")
        assert page.evaluate("() => sessionStorage.getItem('mutransfer.token')") is None
    finally:
        stop_server(server)
