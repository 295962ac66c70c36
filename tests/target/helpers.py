"""Shared pieces of the target tests: a tiny SP/μP study, polling, and finding the target's Ray worker."""

from __future__ import annotations

import os
import signal
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import psutil

from orchestrator.executor.cluster import ray_temp_dir

# Ray names a worker process after the task it runs: `ray::target-<id>` (orchestrator/executor/target.py).
TARGET_PROCESS = "ray::target-{id}"


def study(**overrides: Any) -> dict[str, Any]:
    """SP and μP on a 1-layer GPT, proxies at widths 16/32/64 (4 LRs each), target 128: ~20 s of proxies."""
    data: dict[str, Any] = {
        "name": "tiny-target",
        "parametrizations": ["sp", "mup"],
        "base_width": 16,
        "model": {"depth": 1, "head_dim": 8, "context_length": 16},
        "proxy": {"widths": [16, 32, 64], "steps": 20, "batch_size": 4, "seeds": [0], "eval_every": 10},
        "search": {
            "algorithm": "grid",
            "space": {"lr": {"scale": "log", "low": 3e-3, "high": 3e-1, "grid_points": 4}},
        },
        "target": {"width": 128, "steps": 40, "auto_launch": True},
        "resources": {"cpus_per_trial": 1, "max_concurrent_trials": 2, "target_cpus": 1},
        "preflight": "off",
    }
    for dotted, value in overrides.items():
        node = data
        *parents, last = dotted.split(".")
        for part in parents:
            node = node.setdefault(part, {})
        node[last] = value
    return data


def wait_for(condition: Callable[[], Any], timeout: float, what: str, every: float = 0.1) -> Any:
    """Poll until `condition()` is truthy; fail with `what` after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(every)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}")


def target_worker_pid(target_run_id: int) -> int | None:
    """The pid of the Ray worker now training target run `target_run_id`, if any."""
    title = TARGET_PROCESS.format(id=target_run_id)
    for proc in psutil.process_iter(["cmdline"]):
        cmdline = " ".join(proc.info.get("cmdline") or [])
        if cmdline.startswith(title) and (len(cmdline) == len(title) or not cmdline[len(title)].isdigit()):
            return int(proc.pid)
    return None


def kill(pid: int) -> None:
    os.kill(pid, signal.SIGKILL)


def kill_orphans_of(data_dir: Path) -> None:
    """SIGKILL what the killed services left behind (their Ray agents outlive them): processes with this
    test's data dir in their environment or a file open under its Ray temp dir, so nothing of another
    test or helper is touched."""
    ray_dir = str(ray_temp_dir(data_dir))
    for proc in psutil.process_iter(["pid"]):
        try:
            if proc.pid == os.getpid():
                continue
            ours = proc.environ().get("MUTRANSFER_DATA_DIR") == str(data_dir) or any(
                f.path.startswith(ray_dir) for f in proc.open_files()
            )
            if ours:
                proc.kill()
        except (psutil.NoSuchProcess, psutil.AccessDenied, psutil.ZombieProcess):
            continue
