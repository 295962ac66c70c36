"""Loss vs scale L(N) = E + A·N^−α: the target loss recovered inside its band; few scales handled honestly."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from orchestrator.planner import fit_loss_law, non_embedding_params

E, A, ALPHA = 1.8, 40.0, 0.3
TARGET_N = non_embedding_params(2048, 2)


def law(n: np.ndarray) -> np.ndarray:
    return E + A * n ** (-ALPHA)


def proxies(count: int, rng: np.random.Generator, noise: float = 0.003) -> tuple[np.ndarray, np.ndarray]:
    n = np.array([non_embedding_params(w, 2) for w in 32 * 2 ** np.arange(count)], dtype=float)
    return n, law(n) * np.exp(rng.normal(0.0, noise, count))


def test_target_loss_is_inside_the_band_about_90_percent_of_the_time() -> None:
    hits, widths = 0, []
    for s in range(50):
        n, loss = proxies(6, np.random.default_rng(s))
        fit = fit_loss_law(n, loss, TARGET_N, sems=loss * 0.003, seed=s, n_boot=200)
        assert fit.form == "E + A*x^-alpha" and fit.warnings == []
        hits += fit.prediction.contains(float(law(TARGET_N)))
        widths.append((fit.prediction.high - fit.prediction.low) / float(law(TARGET_N)))
    assert 0.8 <= hits / 50 <= 1.0
    assert np.mean(widths) < 0.05


def test_noise_free_points_give_back_the_exponents() -> None:
    n, loss = proxies(7, np.random.default_rng(0), noise=0.0)
    fit = fit_loss_law(n, loss, TARGET_N, seed=0)
    assert fit.alpha == pytest.approx(ALPHA, rel=0.05)
    assert fit.E == pytest.approx(E, rel=0.02)
    assert fit.predict(TARGET_N) == pytest.approx(float(law(TARGET_N)), rel=1e-3)


@pytest.mark.parametrize("count", [2, 3])
def test_two_or_three_scales_give_a_wide_honest_interval_and_a_warning(count: int) -> None:
    n, loss = proxies(count, np.random.default_rng(1))
    fit = fit_loss_law(n, loss, TARGET_N, seed=0)
    assert fit.form == "A*x^-alpha"
    assert "loss_law_underdetermined" in [w.code for w in fit.warnings]
    assert fit.prediction.contains(float(law(TARGET_N)))
    assert fit.prediction.high >= loss[-1]  # "no further gain" is inside the interval


def test_loss_rising_with_scale_is_called_out() -> None:
    n, _ = proxies(5, np.random.default_rng(2))
    fit = fit_loss_law(n, np.linspace(2.0, 2.4, 5), TARGET_N, seed=0)
    assert "loss_not_decreasing" in [w.code for w in fit.warnings]
    assert math.isfinite(fit.prediction.value)


@pytest.mark.parametrize("bad", [math.nan, math.inf, -1.0, 0.0])
def test_bad_points_are_dropped_not_fatal(bad: float) -> None:
    n, loss = proxies(5, np.random.default_rng(3))
    loss[2] = bad
    fit = fit_loss_law(n, loss, TARGET_N, seed=0)
    assert "loss_points_dropped" in [w.code for w in fit.warnings]
    assert len(fit.xs) == 4 and fit.to_dict()["prediction"]["value"] is not None


def test_nothing_to_fit_gives_an_empty_prediction() -> None:
    fit = fit_loss_law([1e6], [math.nan], TARGET_N, seed=0)
    assert fit.prediction.value is None and "loss_law_unfitted" in [w.code for w in fit.warnings]


def test_parameter_count_matches_the_workers_models() -> None:
    """N must be what the proxies actually train: count the real models' non-embedding parameters."""
    from workers.config import TrialConfig
    from workers.models import make_model
    from workers.roles import Role

    for family, width, depth in (("gpt", 64, 2), ("gpt", 96, 3), ("mlp", 128, 4)):
        with torch.device("meta"):
            model = make_model(TrialConfig(family=family, width=width, depth=depth, head_dim=16), 100)
        counted = sum(
            p.numel()
            for name, p in model.named_parameters()
            if model.param_roles[name] not in (Role.INPUT, Role.OUTPUT)
        )
        assert non_embedding_params(width, depth, family=family) == counted
