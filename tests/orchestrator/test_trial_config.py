"""The spec → worker-config mapping: every tunable hyperparameter reaches its TrialConfig field."""

from __future__ import annotations

from orchestrator.executor.trainable import build_config
from orchestrator.spec import KNOWN_HPARAMS
from workers.config import TrialConfig


def test_every_tunable_hyperparameter_reaches_its_worker_field() -> None:
    """The search space's names map onto TrialConfig fields (`warmup` is the schedule's warmup_fraction), both
    where the driver builds a config and where the Ray trainable rebuilds it from the sampled values."""
    sampled = {name: 0.25 for name in KNOWN_HPARAMS}
    config = TrialConfig(width=32).with_hparams(sampled)
    assert config.warmup_fraction == 0.25 and config.lr == 0.25
    per_trial = {"parametrization": "mup", "width": 32, "depth": 2, "seed": 0, "hparams": sampled}
    assert build_config(TrialConfig().to_dict(), per_trial) == config.__class__(
        **{**TrialConfig().to_dict(), "width": 32, "betas": (0.9, 0.95)}
    ).with_hparams(sampled)
