"""`mutransfer submit`, `status` and `demo` against a real running service."""

from __future__ import annotations

from pathlib import Path

import httpx
import yaml
from conftest import REPO_ROOT, RunningServer, free_port
from typer.testing import CliRunner

from api.cli import app

TINY = str(REPO_ROOT / "examples" / "tiny-cpu.yaml")
runner = CliRunner()


def test_submit_then_status_against_a_running_server(live_server: RunningServer) -> None:
    submitted = runner.invoke(app, ["submit", TINY, "--server", live_server.url])
    assert submitted.exit_code == 0, submitted.output
    assert "queued sweep 'tiny-cpu-sp-vs-mup' with 90 proxy trials" in submitted.output
    sweep_id = int(submitted.output.strip().split()[-1])

    stored = httpx.get(f"{live_server.url}/api/v1/sweeps/{sweep_id}").json()
    assert stored["status"] == "queued" and stored["spec"]["parametrizations"] == ["sp", "mup"]

    listing = runner.invoke(app, ["status", "--server", live_server.url])
    assert listing.exit_code == 0, listing.output
    assert "tiny-cpu-sp-vs-mup" in listing.output and "0/90" in listing.output

    one = runner.invoke(app, ["status", str(sweep_id), "--server", live_server.url])
    assert one.exit_code == 0, one.output
    assert f"sweep {sweep_id} tiny-cpu-sp-vs-mup (queued)" in one.output and "0/90" in one.output

    quiet = runner.invoke(app, ["submit", TINY, "--server", live_server.url, "-q"])
    assert quiet.output.strip() == str(sweep_id + 1)

    missing = runner.invoke(app, ["status", "999", "--server", live_server.url])
    assert missing.exit_code == 1 and "404: sweep 999 not found" in missing.output


def test_submit_validates_locally_before_posting(live_server: RunningServer, tmp_path: Path) -> None:
    spec = yaml.safe_load(Path(TINY).read_text())
    spec["proxy"]["widths"] = [64, 32, 128]
    spec["optimiser"] = {"name": "adamw"}
    bad = tmp_path / "bad.yaml"
    bad.write_text(yaml.safe_dump(spec))
    result = runner.invoke(app, ["submit", str(bad), "--server", live_server.url])
    assert result.exit_code == 1
    assert "proxy.widths must be strictly ascending" in result.output
    assert "optimiser: unknown field" in result.output
    assert httpx.get(f"{live_server.url}/api/v1/sweeps").json()["total"] == 0

    broken = tmp_path / "broken.yaml"
    broken.write_text("name: [unclosed\n")
    result = runner.invoke(app, ["submit", str(broken), "--server", live_server.url])
    assert result.exit_code == 1 and "is not valid YAML" in result.output


def test_submit_reports_the_servers_limits(server_factory) -> None:
    server = server_factory("--no-runner", env={"MUTRANSFER_LIMIT_MAX_TRIALS": "10"})
    result = runner.invoke(app, ["submit", TINY, "--server", server.url])
    assert result.exit_code == 1
    assert "422:" in result.output and "this sweep would run 90 trials; the limit is 10" in result.output


def test_submit_to_an_unreachable_server_says_so() -> None:
    result = runner.invoke(app, ["submit", TINY, "--server", f"http://127.0.0.1:{free_port()}"])
    assert result.exit_code == 1 and "is `mutransfer serve` running there?" in result.output


def test_demo_starts_the_service_and_stores_the_example(tmp_path: Path) -> None:
    port = free_port()
    result = runner.invoke(
        app,
        ["demo", "--exit", "--port", str(port), "--data-dir", str(tmp_path / "demo")],
        env={"MUTRANSFER_RUN_SWEEPS": "false", "MUTRANSFER_DATABASE_URL": ""},
    )
    assert result.exit_code == 0, result.output
    assert f"watch it: http://127.0.0.1:{port}/sweeps/1" in result.output
    assert "stored and validated" in result.output
    assert (tmp_path / "demo" / "mutransfer.db").is_file()


def test_serve_with_an_unusable_database_says_what_to_fix() -> None:
    bad_url = runner.invoke(app, ["serve", "--database-url", "mysqlx://db", "--port", str(free_port())])
    assert bad_url.exit_code == 2 and "invalid database URL 'mysqlx://db'" in bad_url.output
    unreachable = f"postgresql://nobody@127.0.0.1:{free_port()}/x"
    down = runner.invoke(app, ["serve", "--database-url", unreachable, "--port", str(free_port())])
    assert down.exit_code == 1 and "cannot reach the database" in down.output
