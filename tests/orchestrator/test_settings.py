"""Settings come from flags, then the environment, then defaults; bad values name what to fix."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from orchestrator.settings import DEFAULT_DATABASE_URL, ENV_VARS, LIMIT_ENV_PREFIX, Settings, SettingsError
from orchestrator.spec import Limits


def test_defaults_without_flags_or_environment() -> None:
    settings = Settings.load(env={})
    assert settings.database_url == DEFAULT_DATABASE_URL == "sqlite:///./mutransfer.db"
    assert settings.data_dir == Path(".mutransfer") and settings.ray_address is None
    assert (settings.host, settings.port, settings.run_sweeps) == ("127.0.0.1", 8000, True)
    assert settings.limits == Limits()


def test_environment_overrides_defaults_and_flags_override_environment() -> None:
    env = {
        "MUTRANSFER_DATABASE_URL": "postgresql://db/mt",
        "RAY_ADDRESS": "10.0.0.2:6379",
        "MUTRANSFER_PORT": "9000",
        "MUTRANSFER_RUN_SWEEPS": "false",
        "MUTRANSFER_LIMIT_MAX_TRIALS": "50",
    }
    from_env = Settings.load(env=env)
    assert from_env.database_url == "postgresql://db/mt" and from_env.ray_address == "10.0.0.2:6379"
    assert (from_env.port, from_env.run_sweeps, from_env.limits.max_trials) == (9000, False, 50)

    flags = Settings.load({"port": 9100, "database_url": "sqlite:///x.db", "ray_address": None}, env=env)
    assert (flags.port, flags.database_url) == (9100, "sqlite:///x.db")
    assert flags.ray_address == "10.0.0.2:6379"  # a flag left unset (None) falls through to the environment


@pytest.mark.parametrize(
    "env, message",
    [
        ({"MUTRANSFER_PORT": "http"}, "flag --port or $MUTRANSFER_PORT: Input should be a valid integer"),
        ({"MUTRANSFER_PORT": "70000"}, "Input should be less than or equal to 65535"),
        ({"MUTRANSFER_RUN_SWEEPS": "maybe"}, "$MUTRANSFER_RUN_SWEEPS"),
        ({"MUTRANSFER_LOG_LEVEL": "loud"}, "log level 'loud' is not one of"),
        ({"MUTRANSFER_LIMIT_MAX_TRIALS": "lots"}, "$MUTRANSFER_LIMIT_MAX_TRIALS must be an integer"),
        ({"MUTRANSFER_MAX_BODY_BYTES": "10"}, "greater than or equal to 1024"),
    ],
)
def test_bad_values_name_the_setting_to_fix(env: dict[str, str], message: str) -> None:
    with pytest.raises(SettingsError) as info:
        Settings.load(env=env)
    assert message in str(info.value)


def test_secrets_are_never_echoed() -> None:
    with pytest.raises(SettingsError) as info:
        Settings.load(env={"MUTRANSFER_ADMIN_TOKEN": "hunter2"})
    assert "$MUTRANSFER_ADMIN_TOKEN" in str(info.value) and "hunter2" not in str(info.value)
    long_enough = "a-long-enough-admin-secret"
    assert long_enough not in repr(Settings.load(env={"MUTRANSFER_ADMIN_TOKEN": long_enough}))


def test_trial_retries_come_from_the_environment() -> None:
    assert Settings.load(env={}).trial_retries == 2
    assert Settings.load(env={"MUTRANSFER_TRIAL_RETRIES": "0"}).trial_retries == 0
    with pytest.raises(
        SettingsError, match=r"\$MUTRANSFER_TRIAL_RETRIES: Input should be greater than or equal to 0"
    ):
        Settings.load(env={"MUTRANSFER_TRIAL_RETRIES": "-1"})


def test_the_readme_table_lists_every_variable_and_no_other() -> None:
    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text()
    table = readme.split("| variable | default | meaning |", 1)[1].split("\n\n", 1)[0].splitlines()[2:]
    named = {name for line in table for name in re.findall(r"`([A-Z_<>]+)`", line.split("|")[1])}
    cli_only = {"MUTRANSFER_SERVER", "MUTRANSFER_TOKEN"}  # read by `submit`/`status`, not by the service
    assert named == set(ENV_VARS.values()) | {LIMIT_ENV_PREFIX + "<NAME>"} | cli_only
