"""Browser fixtures: Debian's Chromium driven by Playwright against the real service (`mutransfer serve`,
real uvicorn, real SQLite), and a page that fails its test on any console error or uncaught exception."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from conftest import REPO_ROOT, RunningServer, free_port, wait_until_ready

from orchestrator.store.db import make_engine
from orchestrator.store.repository import SweepStore

CHROMIUM = Path("/usr/bin/chromium")
SCREENSHOTS = REPO_ROOT / "test-artifacts" / "screenshots"

if not CHROMIUM.exists():
    pytest.skip(
        "Debian's chromium is not installed at /usr/bin/chromium (apt-get install chromium)",
        allow_module_level=True,
    )

from playwright.sync_api import Browser, ConsoleMessage, Page, sync_playwright  # noqa: E402

pytestmark = pytest.mark.browser


@pytest.fixture(scope="session")
def browser() -> Iterator[Browser]:
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(
            executable_path=str(CHROMIUM),
            args=["--no-sandbox", "--disable-gpu", "--disable-background-networking"],
            headless=True,
        )
        yield chromium
        chromium.close()


@pytest.fixture
def expected_errors() -> list[tuple[str, str]]:
    """(message substring, URL substring) of console errors a test provokes on purpose (e.g. a 401)."""
    return []


@pytest.fixture
def page(browser: Browser, expected_errors: list[tuple[str, str]]) -> Iterator[Page]:
    """A fresh tab (own session storage); the test fails if the page logs an error or throws."""
    context = browser.new_context(viewport={"width": 1400, "height": 1000})
    tab = context.new_page()
    tab.set_default_timeout(15_000)
    errors: list[str] = []

    def on_console(message: ConsoleMessage) -> None:
        url = message.location.get("url", "")
        if message.type == "error" and not any(m in message.text and u in url for m, u in expected_errors):
            errors.append(f"console error: {message.text} ({url})")

    tab.on("console", on_console)
    tab.on("pageerror", lambda exc: errors.append(f"uncaught exception: {exc}"))
    yield tab
    context.close()
    assert not errors, "the page reported errors:\n" + "\n".join(errors)


def start_server(directory: Path, *, run_sweeps: bool, admin_token: str | None = None) -> RunningServer:
    """The real app (`create_app` under uvicorn, as `mutransfer serve` runs it) on a free loopback port
    with its own SQLite file and data dir, configured through the environment like a deployment."""
    port = free_port()
    data_dir = directory / f"server-{port}"
    db_url = f"sqlite:///{data_dir / 'mutransfer.db'}"
    log_path = directory / f"server-{port}.log"
    env = {
        **os.environ,
        "MUTRANSFER_DATABASE_URL": db_url,
        "MUTRANSFER_DATA_DIR": str(data_dir),
        "MUTRANSFER_RUN_SWEEPS": "true" if run_sweeps else "false",
        # Auth off (loopback only) unless the test brings an admin token: then tokens are required.
        "MUTRANSFER_AUTH": "on" if admin_token else "off",
        **({"MUTRANSFER_ADMIN_TOKEN": admin_token} if admin_token else {}),
    }
    command = [
        sys.executable,
        "-m",
        "uvicorn",
        "api.app:create_app",
        "--factory",
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--log-level",
        "warning",
    ]
    with log_path.open("wb") as log:
        process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, env=env, cwd=REPO_ROOT)
    server = RunningServer(f"http://127.0.0.1:{port}", db_url, data_dir, process, log_path)
    try:
        wait_until_ready(server.url, process, log_path)
    except Exception:
        stop_server(server)
        raise
    return server


def stop_server(server: RunningServer) -> None:
    if server.process.poll() is None:
        server.process.terminate()
        try:
            server.process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            server.process.kill()
            server.process.wait()


@pytest.fixture(scope="module")
def stored_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[RunningServer, SweepStore]]:
    """A service with the runner off (sweeps stay as stored) and a store on its database for seeding."""
    server = start_server(tmp_path_factory.mktemp("ui-stored"), run_sweeps=False)
    engine = make_engine(server.database_url)
    try:
        yield server, SweepStore.from_engine(engine)
    finally:
        engine.dispose()
        stop_server(server)


@pytest.fixture
def screenshot() -> Callable[[Page, str], Path]:
    """Save a full-page screenshot under test-artifacts/screenshots/ (for people to inspect)."""

    def take(tab: Page, name: str) -> Path:
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        path = SCREENSHOTS / f"{name}.png"
        tab.screenshot(path=str(path), full_page=True)
        return path

    return take
