"""One `Settings` object for the whole service, read once: command-line flags > environment > defaults.

A pydantic-settings `BaseSettings`: each field `x` is read from `$MUTRANSFER_X` (`ray_address` from Ray's own
`$RAY_ADDRESS`), each spec limit from `$MUTRANSFER_LIMIT_<NAME>`. `Settings.load` takes the flags and,
for tests, an environment mapping in place of `os.environ`. `ENV_VARS` lists every variable (the README's
table uses the same names), so an error can name the flag or variable to fix.
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import fields
from pathlib import Path
from typing import Any

from pydantic import AliasChoices, Field, SecretStr, ValidationError, field_validator
from pydantic_settings import BaseSettings, EnvSettingsSource, PydanticBaseSettingsSource, SettingsConfigDict
from pydantic_settings.sources.utils import parse_env_vars

from orchestrator.spec import Limits

DEFAULT_DATABASE_URL = "sqlite:///./mutransfer.db"
DEFAULT_DATA_DIR = "./.mutransfer"

# setting name -> environment variable
ENV_PREFIX = "MUTRANSFER_"
ENV_VARS: dict[str, str] = {
    "database_url": "MUTRANSFER_DATABASE_URL",
    "ray_address": "RAY_ADDRESS",
    "data_dir": "MUTRANSFER_DATA_DIR",
    "host": "MUTRANSFER_HOST",
    "port": "MUTRANSFER_PORT",
    "run_sweeps": "MUTRANSFER_RUN_SWEEPS",
    "max_body_bytes": "MUTRANSFER_MAX_BODY_BYTES",
    "log_level": "MUTRANSFER_LOG_LEVEL",
    "auth": "MUTRANSFER_AUTH",
    "admin_token": "MUTRANSFER_ADMIN_TOKEN",
    "request_timeout_s": "MUTRANSFER_REQUEST_TIMEOUT_S",
    "trial_retries": "MUTRANSFER_TRIAL_RETRIES",
    "allow_user_code": "MUTRANSFER_ALLOW_USER_CODE",
    "max_code_bytes": "MUTRANSFER_MAX_CODE_BYTES",
    "metrics_public": "MUTRANSFER_METRICS_PUBLIC",
    "webhook_backoff_s": "MUTRANSFER_WEBHOOK_BACKOFF_S",
    "mlflow_uri": "MUTRANSFER_MLFLOW_URI",
    "mlflow_experiment": "MUTRANSFER_MLFLOW_EXPERIMENT",
    "mlflow_poll_s": "MUTRANSFER_MLFLOW_POLL_S",
}
# The environment `Settings.load` reads (None: os.environ); a context variable, so concurrent loads in
# tests cannot see each other's mapping.
_ENVIRONMENT: ContextVar[Mapping[str, str] | None] = ContextVar("mutransfer_settings_env", default=None)
MIN_ADMIN_TOKEN_CHARS = 16
SECRET_SETTINGS = frozenset({"admin_token"})  # never echoed in error messages
# Each spec limit is `MUTRANSFER_LIMIT_<NAME>`, e.g. MUTRANSFER_LIMIT_MAX_TRIALS=500.
LIMIT_ENV_PREFIX = "MUTRANSFER_LIMIT_"


class SettingsError(ValueError):
    """A setting has a value that cannot be used; the message names the flag/variable to fix."""


class _Environment(EnvSettingsSource):
    """pydantic-settings' environment source over `Settings.load`'s mapping instead of `os.environ`."""

    def _load_env_vars(self) -> Mapping[str, str | None]:
        env = _ENVIRONMENT.get()
        if env is None:
            return super()._load_env_vars()
        return parse_env_vars(env, self.case_sensitive, self.env_ignore_empty, self.env_parse_none_str)


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix=ENV_PREFIX, extra="forbid", frozen=True, env_ignore_empty=True, populate_by_name=True
    )

    database_url: str = DEFAULT_DATABASE_URL
    ray_address: str | None = Field(
        None,
        validation_alias=AliasChoices("ray_address", "RAY_ADDRESS"),
        description="an existing Ray cluster; None starts a local one",
    )
    data_dir: Path = Path(DEFAULT_DATA_DIR)
    host: str = "127.0.0.1"
    port: int = Field(8000, ge=0, le=65535)
    run_sweeps: bool = Field(True, description="start the sweep runner; off: store and serve only")
    max_body_bytes: int = Field(1_000_000, ge=1024, description="request bodies above this get 413")
    log_level: str = "info"
    limits: Limits = Limits()
    auth: bool = Field(True, description="require API tokens (off only for local single-user use)")
    admin_token: SecretStr | None = Field(
        None, description="accepted as an admin token (every project) from the first start"
    )
    request_timeout_s: float = Field(30.0, gt=0, le=3600, description="a request running longer gets 504")
    trial_retries: int = Field(
        2, ge=0, le=100, description="retries of a trial whose worker died; then the trial is `failed`"
    )
    allow_user_code: bool | None = Field(
        None,
        description="accept uploaded model code (family: custom), which the workers import and run; "
        "default: only with auth off (local, loopback use)",
    )
    metrics_public: bool = Field(
        False, description="serve /metrics without a token (a trusted network's scraper)"
    )
    webhook_backoff_s: float = Field(
        2.0, gt=0, le=3600, description="a failed webhook delivery is retried after this × 2^(attempt − 1) s"
    )
    mlflow_uri: str | None = Field(None, description="export every sweep to this MLflow server")
    mlflow_experiment: str = Field("mutransfer", description="the MLflow experiment of service-wide exports")
    mlflow_poll_s: float = Field(5.0, gt=0, le=3600, description="how often results are exported to MLflow")
    max_code_bytes: int = Field(
        10 * 2**20, ge=1024, description="an uploaded code archive above this gets 413"
    )

    @property
    def user_code_allowed(self) -> bool:
        """Whether uploaded code may run: the operator's explicit choice, else only in local no-auth use
        (which `api.auth.check_auth_mode` already confines to a loopback address)."""
        return self.allow_user_code if self.allow_user_code is not None else not self.auth

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        """Flags (init arguments) over the environment; no dotenv or secret files."""
        return init_settings, _Environment(settings_cls)

    @field_validator("log_level")
    @classmethod
    def _level(cls, level: str) -> str:
        allowed = ("critical", "error", "warning", "info", "debug")
        if level.lower() not in allowed:
            raise ValueError(f"log level {level!r} is not one of {list(allowed)}")
        return level.lower()

    @field_validator("admin_token")
    @classmethod
    def _strong_admin_token(cls, token: SecretStr | None) -> SecretStr | None:
        if token is not None and len(token.get_secret_value()) < MIN_ADMIN_TOKEN_CHARS:
            raise ValueError(
                f"the admin token must have at least {MIN_ADMIN_TOKEN_CHARS} characters; make one with "
                "`python -c 'import secrets; print(secrets.token_urlsafe(32))'`"
            )
        return token

    @classmethod
    def load(
        cls, overrides: Mapping[str, Any] | None = None, env: Mapping[str, str] | None = None
    ) -> Settings:
        """Settings from `overrides` (flags; None values mean "not given"), then `env` (default: the process
        environment), then defaults."""
        env = os.environ if env is None else env
        flags = {k: v for k, v in (overrides or {}).items() if v is not None and k != "limits"}
        flags["limits"] = _limits_from_env(env, (overrides or {}).get("limits"))
        try:
            with _reading(env):
                return cls(**flags)
        except ValidationError as exc:
            problems = []
            for error in exc.errors():
                name = str(error["loc"][0]) if error["loc"] else "settings"
                name = "ray_address" if name == "RAY_ADDRESS" else name
                source = f"flag --{name.replace('_', '-')} or ${ENV_VARS[name]}" if name in ENV_VARS else name
                got = "(hidden)" if name in SECRET_SETTINGS else repr(error.get("input"))
                problems.append(f"{source}: {error['msg']} (got {got})")
            raise SettingsError("invalid settings: " + "; ".join(problems)) from None


@contextmanager
def _reading(env: Mapping[str, str]) -> Iterator[None]:
    token = _ENVIRONMENT.set(env)
    try:
        yield
    finally:
        _ENVIRONMENT.reset(token)


def _limits_from_env(env: Mapping[str, str], override: Limits | None) -> Limits:
    if override is not None:
        return override
    values: dict[str, int] = {}
    for f in fields(Limits):
        raw = env.get(LIMIT_ENV_PREFIX + f.name.upper())
        if raw is None or raw == "":
            continue
        try:
            values[f.name] = int(raw)
        except ValueError:
            raise SettingsError(
                f"${LIMIT_ENV_PREFIX}{f.name.upper()} must be an integer, got {raw!r}"
            ) from None
        if values[f.name] < 1:
            raise SettingsError(f"${LIMIT_ENV_PREFIX}{f.name.upper()} must be >= 1, got {raw!r}")
    return Limits(**values)
