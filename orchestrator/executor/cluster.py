"""Where trials run: a local Ray started by the service, or the cluster at `RAY_ADDRESS`.

Local Ray (no address):
- sized to the machine (`num_cpus` defaults to all cores) and bound to 127.0.0.1;
- its temp dir (sessions, logs, Unix sockets) under the service's data dir, or under
  `/tmp/mt-ray-<hash>` when that path is too long: Unix socket paths are capped at 107 bytes and Ray
  appends ~70 characters (`session_<date>_<pid>/sockets/plasma_store`);
- auth: Ray 2.60 turns on token auth for new local clusters and writes the token to `~/.ray/auth_token`.
  We keep token auth on (anyone who can reach a Ray port can run code) but keep the token with the
  service: a random token in `<data_dir>/ray_auth_token` (mode 0600), passed via `RAY_AUTH_MODE=token`
  and `RAY_AUTH_TOKEN_PATH`, so nothing is written to the home directory. Set `RAY_AUTH_MODE` yourself
  to override (e.g. `disabled`).
- quiet: no dashboard, worker logs not echoed, Tune's console reporter and result loggers off (the
  store is the record of every result).

External cluster (`RAY_ADDRESS`): connect; auth follows the environment (`RAY_AUTH_MODE`,
`RAY_AUTH_TOKEN[_PATH]`), as set up by whoever started that cluster.
"""

from __future__ import annotations

import hashlib
import logging
import os
import secrets
import tempfile
from pathlib import Path

# Ray appends `session_YYYY-MM-DD_HH-MM-SS_ffffff_<pid>/sockets/plasma_store` (about 70 chars) to its
# temp dir; sockets must fit in 107 bytes.
MAX_RAY_TEMP_DIR_CHARS = 36

# Tune's defaults print a table per trial and write CSV/JSON/TensorBoard files for every result.
QUIET_ENV = {
    "RAY_AIR_NEW_OUTPUT": "0",
    "TUNE_DISABLE_AUTO_CALLBACK_LOGGERS": "1",
    "RAY_DEDUP_LOGS": "0",
    "TUNE_WARN_EXCESSIVE_EXPERIMENT_CHECKPOINT_SYNC_THRESHOLD_S": "0",
}

log = logging.getLogger(__name__)


def ray_temp_dir(data_dir: Path) -> Path:
    """A temp dir short enough for Ray's Unix sockets: `<data_dir>/ray` or `/tmp/mt-ray-<hash>`."""
    preferred = data_dir.resolve() / "ray"
    if len(str(preferred)) <= MAX_RAY_TEMP_DIR_CHARS:
        return preferred
    digest = hashlib.sha256(str(preferred).encode()).hexdigest()[:10]
    return Path(tempfile.gettempdir()) / f"mt-ray-{digest}"


# Whether RAY_AUTH_MODE in this process is ours (set by `_local_auth`) or the user's (left alone).
_auth_env_is_ours = False


def _local_auth(data_dir: Path) -> None:
    """Token auth with the token kept in the data dir (see the module docstring).

    Runs again for every local start in the same process (a restarted service, a test suite): each start
    points Ray at its own data dir's token and drops the token Ray cached for the previous one.
    """
    global _auth_env_is_ours
    if os.environ.get("RAY_AUTH_MODE") and not _auth_env_is_ours:
        return
    token_path = data_dir.resolve() / "ray_auth_token"
    if not token_path.exists():
        token_path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(token_path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as handle:
            handle.write(secrets.token_hex(32))
    os.environ["RAY_AUTH_TOKEN_PATH"] = str(token_path)
    # Ray reads its auth mode once per process (when `ray` is imported); this is the function Ray's own
    # `ray.init` uses to switch a running process to token auth (sets RAY_AUTH_MODE=token, reloads config).
    from ray._private.authentication.authentication_token_setup import _enable_token_auth
    from ray._raylet import AuthenticationTokenLoader

    _enable_token_auth()
    AuthenticationTokenLoader.instance().reset_cache()
    _auth_env_is_ours = True


def quiet() -> None:
    """Silence Ray/Tune/Optuna chatter in the service's log (warnings and errors still show)."""
    for name, value in QUIET_ENV.items():
        os.environ.setdefault(name, value)
    for name in ("ray", "ray.tune", "ray.train", "ray.data"):
        logging.getLogger(name).setLevel(logging.WARNING)
    # With Tune's result files off (the store keeps results), its end-of-run analysis would warn once
    # per trial that it found no result.json.
    logging.getLogger("ray.tune.analysis.experiment_analysis").setLevel(logging.ERROR)
    # Optuna's GridSampler calls `Study.stop()` when the grid is exhausted, which OptunaSearch reports
    # as a warning on every later suggestion; the searcher stops by itself at the trial count.
    logging.getLogger("ray.tune.search.optuna.optuna_search").setLevel(logging.ERROR)
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)


def ensure_ray(address: str | None, data_dir: Path, num_cpus: int | None = None) -> str:
    """Start or connect to Ray once per process; returns the address/description of the cluster."""
    quiet()
    import ray

    if ray.is_initialized():
        return str(ray.get_runtime_context().gcs_address)
    address = address or os.environ.get("RAY_ADDRESS") or None
    if address:
        ray.init(address=address, logging_level=logging.WARNING, log_to_driver=False)
    else:
        data_dir.mkdir(parents=True, exist_ok=True)
        _local_auth(data_dir)
        temp_dir = ray_temp_dir(data_dir)
        temp_dir.mkdir(parents=True, exist_ok=True)
        # RAY_ADDRESS="" must not make ray.init look for a cluster; drop it for the local start.
        os.environ.pop("RAY_ADDRESS", None)
        ray.init(
            num_cpus=num_cpus or os.cpu_count() or 1,
            include_dashboard=False,
            _temp_dir=str(temp_dir),
            _node_ip_address="127.0.0.1",
            logging_level=logging.WARNING,
            log_to_driver=False,
        )
    gcs = str(ray.get_runtime_context().gcs_address)
    log.info("ray ready at %s (%s)", gcs, "external cluster" if address else "local")
    return gcs


def cluster_gpus() -> float:
    """GPUs the connected cluster has in total (0 on a CPU-only machine)."""
    import ray

    return float(ray.cluster_resources().get("GPU", 0.0))


def cluster_cpus() -> float:
    """CPUs the connected cluster has in total."""
    import ray

    return float(ray.cluster_resources().get("CPU", 0.0))


def shutdown_ray() -> None:
    import ray

    if ray.is_initialized():
        ray.shutdown()
