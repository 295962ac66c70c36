"""Helpers shared by the execution tests: a tiny valid spec (`wait_for` lives in tests/conftest.py)."""

from __future__ import annotations

from typing import Any

from conftest import with_overrides

from orchestrator.spec import SweepSpec, parse_spec


def tiny_spec(**overrides: Any) -> SweepSpec:
    """2 widths x 3 sampled points x 1 seed (x parametrizations), a few steps of a 1-layer GPT."""
    data: dict[str, Any] = {
        "name": "tiny-exec",
        "parametrizations": ["mup"],
        "base_width": 16,
        "model": {"depth": 1, "head_dim": 8, "context_length": 16},
        "proxy": {"widths": [16, 32], "steps": 6, "batch_size": 4, "seeds": [0], "eval_every": 3},
        "search": {
            "algorithm": "tpe",
            "trials_per_width": 3,
            "space": {"lr": {"scale": "log", "low": 1e-3, "high": 1e-1}},
        },
        "target": {"width": 64, "steps": 6},
        "resources": {"cpus_per_trial": 1, "max_concurrent_trials": 2},
        "preflight": "off",
    }
    return parse_spec(with_overrides(data, overrides))
