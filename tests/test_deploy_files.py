"""The README's two commands, CI's copy of the test command, and the production compose file."""

from __future__ import annotations

import json
import re
import shutil
import subprocess

import jsonschema
import pytest
import yaml
from conftest import REPO_ROOT

README = (REPO_ROOT / "README.md").read_text()
COMPOSE = REPO_ROOT / "docker-compose.yml"
CI = REPO_ROOT / ".ci" / "run"


def _block(marker: str) -> str:
    match = re.search(rf"<!-- {marker} -->\n```bash\n(.*?)\n```\n<!-- /{marker} -->", README, re.S)
    assert match, f"README.md has no ```bash block between <!-- {marker} --> markers"
    return match.group(1)


def test_readme_has_exactly_the_two_setup_commands() -> None:
    setup = "python3 -m venv .venv && .venv/bin/pip install -e '.[test]'"
    assert _block("demo-command") == f"{setup} && .venv/bin/mutransfer demo"
    assert _block("test-command") == f"{setup} && .venv/bin/lint-imports && .venv/bin/python -m pytest -q"


def test_ci_runs_the_readme_test_command_verbatim() -> None:
    subprocess.run(["bash", "-n", str(CI)], check=True)
    awk = re.search(r"TEST_COMMAND=\$\((awk .*? README\.md)\)", CI.read_text())
    assert awk, ".ci/run must read the test command from README.md"
    extracted = subprocess.run(["bash", "-c", awk.group(1)], cwd=REPO_ROOT, capture_output=True, text=True)
    assert extracted.stdout.strip() == _block("test-command")


def test_compose_file_matches_the_compose_specification() -> None:
    schema = json.loads((REPO_ROOT / "tests" / "data" / "compose-spec.schema.json").read_text())
    compose = yaml.safe_load(COMPOSE.read_text())
    errors = [f"{list(e.path)}: {e.message}" for e in jsonschema.Draft7Validator(schema).iter_errors(compose)]
    assert errors == []
    assert {"postgres", "api", "ray-head", "ray-worker-gpu"} <= set(compose["services"])
    devices = compose["services"]["ray-worker-gpu"]["deploy"]["resources"]["reservations"]["devices"]
    assert devices[0]["driver"] == "nvidia" and "gpu" in devices[0]["capabilities"]
    assert compose["services"]["api"]["environment"]["MUTRANSFER_DATABASE_URL"].startswith("postgresql://")


@pytest.mark.skipif(
    shutil.which("docker") is None
    or subprocess.run(["docker", "compose", "version"], capture_output=True).returncode != 0,
    reason="the `docker compose` plugin is not installed here",
)
def test_docker_compose_config_parses() -> None:
    result = subprocess.run(
        ["docker", "compose", "config", "-q"], cwd=REPO_ROOT, capture_output=True, text=True
    )
    assert result.returncode == 0, result.stderr
