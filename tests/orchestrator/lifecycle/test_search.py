"""The sweep searcher with real Optuna samplers: every algorithm samples inside the space, and a resumed
search continues from the stored trials (no finished point is sampled again)."""

from __future__ import annotations

import math

import pytest
from support.execution import tiny_spec

from orchestrator.executor.interface import KnownTrial, TrialRequest
from orchestrator.executor.search import SweepSearcher


def _drive(searcher: SweepSearcher, n: int, loss=lambda lr: (math.log10(lr) + 2) ** 2) -> list[TrialRequest]:
    """Ask for `n` trials, completing each with a loss that is lowest at lr = 1e-2."""
    emitted: list[TrialRequest] = []
    searcher._on_request = emitted.append  # noqa: SLF001 - collect what the searcher hands to Tune
    for i in range(n):
        config = searcher.suggest(f"t{i}")
        assert isinstance(config, dict), config
        lr = emitted[-1].hparams["lr"]
        searcher.on_trial_complete(f"t{i}", {"status": "completed", "objective": loss(lr)})
    return emitted


@pytest.mark.parametrize("algorithm", ["tpe", "random", "cmaes", "gp"])
def test_every_sampler_samples_inside_the_space_per_search(algorithm: str) -> None:
    spec = tiny_spec(**{"search.algorithm": algorithm, "search.trials_per_width": 4})
    searcher = SweepSearcher(spec, 1, [], lambda r: {"trial_key": r.key}, lambda r: None)
    emitted = _drive(searcher, spec.total_trials())
    assert searcher.suggest("extra") == SweepSearcher.FINISHED
    assert sorted(r.key for r in emitted) == sorted(
        f"mup-w{w}-d1-i{i}-s0" for w in (16, 32) for i in range(4)
    )
    assert all(1e-3 <= r.hparams["lr"] <= 1e-1 for r in emitted)


def test_resumed_grid_search_runs_only_the_cells_and_seeds_not_finished() -> None:
    spec = tiny_spec(
        **{
            "proxy.seeds": [0, 1],
            "search.algorithm": "grid",
            "search.trials_per_width": None,
            "search.space": {"lr": {"scale": "log", "low": 1e-3, "high": 1e-1, "grid_points": 3}},
        }
    )
    first = SweepSearcher(spec, 7, [], lambda r: {}, lambda r: None)
    emitted: list[TrialRequest] = []
    first._on_request = emitted.append  # noqa: SLF001
    for i in range(5):  # the service dies after handing out 5 trials; 4 of them finished
        first.suggest(f"t{i}")
    known = [KnownTrial(r, "completed" if j < 4 else "running", 1.0) for j, r in enumerate(emitted)]

    resumed = SweepSearcher(spec, 7, known, lambda r: {}, lambda r: None)
    rest = _drive(resumed, spec.total_trials() - 4)
    assert resumed.suggest("extra") == SweepSearcher.FINISHED
    keys = [r.key for r in emitted[:4]] + [r.key for r in rest]
    assert len(keys) == len(set(keys)) == spec.total_trials() == 12  # nothing twice, nothing missing
    assert emitted[4].key in {r.key for r in rest}  # the unfinished one runs again with its values
    rerun = next(r for r in rest if r.key == emitted[4].key)
    assert rerun.hparams == emitted[4].hparams
    for width in (16, 32):  # each width visits each grid cell exactly once per seed
        cells = {(round(r.hparams["lr"], 12), r.seed) for r in [*emitted[:4], *rest] if r.width == width}
        assert len(cells) == 6


def test_a_resumed_random_search_draws_the_points_the_uninterrupted_one_draws_and_keeps_no_history() -> None:
    spec = tiny_spec(**{"search.algorithm": "random", "search.trials_per_width": 6})
    whole = _drive(SweepSearcher(spec, 3, [], lambda r: {}, lambda r: None), spec.total_trials())

    first = SweepSearcher(spec, 3, [], lambda r: {}, lambda r: None)
    done = _drive(first, 5)  # the service dies after 5 finished trials
    known = [KnownTrial(r, "completed", 1.0) for r in done]
    resumed = SweepSearcher(spec, 3, known, lambda r: {}, lambda r: None)
    rest = _drive(resumed, spec.total_trials() - 5)

    assert {r.key: r.hparams for r in [*done, *rest]} == {r.key: r.hparams for r in whole}
    assert len(rest) == len(whole) - 5
    assert len({r.hparams["lr"] for r in whole}) == len(whole)  # distinct draws, not one seed reused
    for searcher in (first, resumed):  # random sampling reads no history, so none is kept
        for search in searcher._searches:  # noqa: SLF001
            assert search.optuna._ot_study.trials == []  # noqa: SLF001
            assert search.points == {}
