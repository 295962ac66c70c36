"""Tokens through the CLI (create prints the secret as its last word; list; revoke), the admin token from
the environment, and the auth modes: on by default, off only explicitly, never off on a network address."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import httpx
import pytest
from conftest import MUTRANSFER_CLI, RunningServer, make_settings
from typer.testing import CliRunner

from api.app import create_app
from api.auth import is_loopback
from api.cli import app as cli
from orchestrator.settings import SettingsError

runner = CliRunner()


def token_cli(*args: str) -> str:
    result = runner.invoke(cli, ["token", *args])
    assert result.exit_code == 0, result.output
    return result.output


def test_token_create_list_revoke_through_the_cli_against_a_running_service(
    server_factory: Callable[..., RunningServer],
) -> None:
    server = server_factory("--no-runner", env={"MUTRANSFER_AUTH": "on"})
    db = ["--database-url", server.database_url]
    api = f"{server.url}/api/v1"
    assert httpx.get(f"{api}/sweeps").status_code == 401

    output = token_cli("create", "--project", "vision", "--name", "ci", *db)
    token = output.split()[-1]
    assert token.startswith("mt_") and "read-write" in output
    reader = token_cli("create", "--project", "vision", "--read-only", *db).split()[-1]
    headers = {"Authorization": f"Bearer {token}"}
    assert httpx.get(f"{api}/sweeps", headers=headers).status_code == 200
    me = httpx.get(f"{api}/auth/whoami", headers={"Authorization": f"Bearer {reader}"}).json()
    assert me == {"auth": True, "project": "vision", "read_only": True, "can_run_code": False}

    listing = token_cli("list", *db)
    assert "vision" in listing and "ci" in listing and token not in listing and reader not in listing
    token_id = next(line.split()[1] for line in listing.splitlines() if " ci " in line)
    assert "revoked token" in token_cli("revoke", token_id, *db)
    assert httpx.get(f"{api}/sweeps", headers=headers).status_code == 401
    assert " ci " not in token_cli("list", *db) and " ci " in token_cli("list", "--revoked", *db)
    assert "API tokens required" in server.log()


def test_revoking_an_unknown_token_says_how_to_find_ids(sqlite_url: str) -> None:
    result = runner.invoke(cli, ["token", "revoke", "999", "--database-url", sqlite_url])
    assert result.exit_code == 1 and "mutransfer token list" in result.output


def test_the_admin_token_from_the_environment_works_from_the_first_start(
    server_factory: Callable[..., RunningServer],
) -> None:
    admin = "first-start-admin-token-0123456789"
    server = server_factory("--no-runner", env={"MUTRANSFER_AUTH": "on", "MUTRANSFER_ADMIN_TOKEN": admin})
    response = httpx.get(f"{server.url}/api/v1/auth/whoami", headers={"Authorization": f"Bearer {admin}"})
    assert response.json() == {"auth": True, "project": None, "read_only": False, "can_run_code": False}
    wrong = httpx.get(f"{server.url}/api/v1/sweeps", headers={"Authorization": f"Bearer {admin}x"})
    assert wrong.status_code == 401
    assert admin not in server.log()


def test_auth_off_is_loud_and_explicit(server_factory: Callable[..., RunningServer]) -> None:
    server = server_factory("--no-runner", "--no-auth", env={"MUTRANSFER_AUTH": "on"})
    assert httpx.get(f"{server.url}/api/v1/sweeps").status_code == 200
    assert "AUTH IS OFF" in server.log()


@pytest.mark.parametrize(
    "args, env",
    [
        (["--host", "0.0.0.0", "--no-auth"], {}),
        (["--host", "192.168.1.10"], {"MUTRANSFER_AUTH": "off"}),
        ([], {"MUTRANSFER_HOST": "::", "MUTRANSFER_AUTH": "off"}),
    ],
)
def test_serve_refuses_a_network_address_without_auth(
    tmp_path: Path, args: list[str], env: dict[str, str]
) -> None:
    import os
    import subprocess

    command = [*MUTRANSFER_CLI, "serve", "--no-runner", "--database-url", f"sqlite:///{tmp_path}/x.db", *args]
    full_env = {**os.environ, "MUTRANSFER_DATA_DIR": str(tmp_path), **env}
    result = subprocess.run(command, env=full_env, capture_output=True, text=True, timeout=120)
    assert result.returncode == 2, result.stdout + result.stderr
    assert "refusing to serve" in result.stderr and "with auth off" in result.stderr


def test_create_app_refuses_auth_off_on_a_network_address(tmp_path: Path, sqlite_url: str) -> None:
    with pytest.raises(SettingsError, match="refusing to serve 0.0.0.0 with auth off"):
        create_app(make_settings(tmp_path, sqlite_url, host="0.0.0.0", auth=False))
    create_app(make_settings(tmp_path, sqlite_url, host="0.0.0.0", auth=True))  # auth on: any address


@pytest.mark.parametrize(
    "host, loopback",
    [
        ("127.0.0.1", True),
        ("127.8.0.1", True),
        ("localhost", True),
        ("::1", True),
        ("[::1]", True),
        ("0.0.0.0", False),
        ("::", False),
        ("10.0.0.5", False),
        ("example.org", False),
        ("", False),
    ],
)
def test_only_loopback_addresses_count_as_local(host: str, loopback: bool) -> None:
    assert is_loopback(host) is loopback


def test_serve_defaults_to_auth_on_and_a_short_admin_token_is_refused(tmp_path: Path) -> None:
    assert make_settings(tmp_path, "sqlite://", auth=None).auth is True
    with pytest.raises(SettingsError, match="at least 16 characters") as info:
        make_settings(tmp_path, "sqlite://", admin_token="short-secret")
    assert "short-secret" not in str(info.value)
