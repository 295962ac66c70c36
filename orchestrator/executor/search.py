"""One Tune searcher for a whole sweep: an `OptunaSearch` per search (parametrization, width, depth, and
the budget of a token or batch scan: `SweepSpec.searches`).

Why one searcher instead of one `Tuner` per search: a single Tune run shares the trial slots of
`max_concurrent_trials` across all searches and pays Tune's start-up once. Seeds multiply trials:
each sampled point is emitted once per seed, and Optuna is told the mean objective over the seeds
when the last one ends (a failed seed fails the point; a pruned one prunes it).

On resume, finished points are fed to their `OptunaSearch` as evaluated points (its `evaluated_rewards`
mechanism), points with unfinished seeds are emitted again with their stored parameters, and sampling
continues at the next index, so keys stay deterministic. A random search is the exception: its sampler
reads no history, so each point is drawn by a sampler seeded for that point and nothing is told or kept
(the driver's memory stays flat over a long random sweep, and a resumed one draws the same points).
"""

from __future__ import annotations

import hashlib
import itertools
import math
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import optuna
from ray.tune.search import Searcher
from ray.tune.search.optuna import OptunaSearch

from orchestrator.executor.interface import (
    OBJECTIVE,
    STEP_LOSS,
    DriverOnly,
    KnownTrial,
    TrialRequest,
    search_key,
    trial_key,
)
from orchestrator.spec import SearchCell, SearchParam, SweepSpec
from orchestrator.status import TrialStatus

FINISHED_OK = frozenset({"completed", "diverged"})


def distributions(spec: SweepSpec) -> dict[str, optuna.distributions.BaseDistribution]:
    """Optuna distributions of the spec's search space (grid points become categorical choices)."""
    out: dict[str, optuna.distributions.BaseDistribution] = {}
    for name, param in spec.search.space.items():
        if spec.search.algorithm == "grid" or param.scale == "choice":
            out[name] = optuna.distributions.CategoricalDistribution(param.grid())
        else:
            assert param.low is not None and param.high is not None
            out[name] = optuna.distributions.FloatDistribution(
                param.low, param.high, log=param.scale == "log"
            )
    return out


def make_sampler(spec: SweepSpec, seed: int) -> optuna.samplers.BaseSampler:
    """The Optuna sampler the spec names, seeded so a sweep is reproducible."""
    algorithm = spec.search.algorithm
    if algorithm == "grid":
        return optuna.samplers.GridSampler(_grid_space(spec.search.space), seed=seed)
    if algorithm == "random":
        return optuna.samplers.RandomSampler(seed=seed)
    if algorithm == "tpe":
        return optuna.samplers.TPESampler(
            seed=seed, n_startup_trials=min(10, max(2, spec.trials_per_search() // 3))
        )
    if algorithm == "cmaes":
        return optuna.samplers.CmaEsSampler(seed=seed, warn_independent_sampling=False)
    if algorithm == "gp":
        return optuna.samplers.GPSampler(seed=seed)
    raise ValueError(f"unknown search algorithm {algorithm!r}; allowed: grid, random, tpe, cmaes, gp")


def _grid_space(space: dict[str, SearchParam]) -> dict[str, list[float]]:
    return {name: param.grid() for name, param in space.items()}


def _stable_seed(*parts: object) -> int:
    digest = hashlib.sha256("/".join(map(str, parts)).encode()).digest()
    return int.from_bytes(digest[:4], "little")


@dataclass
class _Point:
    """One sampled point of a search and the state of its seeds."""

    index: int
    hparams: dict[str, float]
    ot_trial_id: str | None  # None: from the store (told to Optuna afterwards) or a random search's
    seeds_to_emit: deque[int]
    outcomes: dict[int, tuple[str, float | None]] = field(default_factory=dict)


class _Search:
    """One search (a `SearchCell`): its OptunaSearch and its points."""

    def __init__(self, spec: SweepSpec, sweep_id: int, cell: SearchCell) -> None:
        self.cell = cell
        self.key = search_key(cell.parametrization, cell.width, cell.depth, cell.tokens, cell.batch_size)
        self.seeds = list(spec.proxy.seeds)
        self.target = spec.trials_per_search()
        self.grid = spec.search.algorithm == "grid"
        self.space = distributions(spec)
        self.sweep_id = sweep_id
        # Random sampling reads no history, so a random search keeps none (Optuna's record of a told trial
        # is about 1.2 KB, for good): each point is drawn by a sampler seeded for that point alone, which
        # also makes a resumed search draw the very points it would have drawn.
        self.memoryless = spec.search.algorithm == "random"
        self.optuna = OptunaSearch(
            space=self.space,
            metric=OBJECTIVE,
            mode="min",
            sampler=make_sampler(spec, _stable_seed(sweep_id, self.key)),
            study_name=self.key,
        )
        self.points: dict[int, _Point] = {}
        self.queue: deque[int] = deque()  # points with seeds left to emit, in order
        self.next_index = 0

    def remember(self, known: list[KnownTrial]) -> None:
        """Rebuild state from stored trials: tell Optuna finished points, queue unfinished seeds."""
        by_index: dict[int, list[KnownTrial]] = {}
        for trial in known:
            by_index.setdefault(trial.request.index, []).append(trial)
        for index in sorted(by_index):
            trials = by_index[index]
            point = _Point(index, dict(trials[0].request.hparams), None, deque())
            finished = {t.request.seed: t for t in trials if t.status in TrialStatus.finished()}
            for seed, trial in finished.items():
                point.outcomes[seed] = (trial.status, trial.objective)
            point.seeds_to_emit.extend(s for s in self.seeds if s not in finished)
            self.points[index] = point
            if point.seeds_to_emit:
                self.queue.append(index)
            else:
                self._tell(point)
        self.next_index = max(by_index, default=-1) + 1

    def next_request(self) -> TrialRequest | None:
        """The next trial of this search, or None when every point has been emitted."""
        while self.queue and (
            self.queue[0] not in self.points or not self.points[self.queue[0]].seeds_to_emit
        ):
            self.queue.popleft()  # emitted (and perhaps already told and dropped)
        if not self.queue:
            if self.next_index >= self.target:
                return None
            index = self.next_index
            self.next_index += 1
            params, ot_id = self._suggest(index)
            hparams = {name: float(value) for name, value in params.items()}
            self.points[index] = _Point(index, hparams, ot_id, deque(self.seeds))
            self.queue.append(index)
        point = self.points[self.queue[0]]
        seed = point.seeds_to_emit.popleft()
        cell = self.cell
        return TrialRequest(
            key=trial_key(self.key, point.index, seed),
            parametrization=cell.parametrization,
            width=cell.width,
            depth=cell.depth,
            index=point.index,
            seed=seed,
            hparams=dict(point.hparams),
            tokens=cell.tokens,
            batch_size=cell.batch_size,
        )

    def _suggest(self, index: int) -> tuple[dict[str, Any], str | None]:
        """The parameters of point `index`, and the id Optuna knows it by (None: nothing to tell)."""
        if self.memoryless:
            sampler = optuna.samplers.RandomSampler(seed=_stable_seed(self.sweep_id, self.key, index))
            return optuna.create_study(sampler=sampler).ask(self.space).params, None
        ot_id = f"{self.key}-i{index}"
        return self.optuna.suggest(ot_id), ot_id

    def finish(self, index: int, seed: int, status: str, objective: float | None) -> None:
        point = self.points[index]
        point.outcomes[seed] = (status, objective)
        if len(point.outcomes) == len(self.seeds) and not point.seeds_to_emit:
            self._tell(point)

    def _tell(self, point: _Point) -> None:
        """Report a finished point to Optuna: mean objective, or failed/pruned."""
        if self.memoryless:  # nothing reads the outcome (see __init__)
            del self.points[point.index]
            return
        statuses = [status for status, _ in point.outcomes.values()]
        values = [v for _, v in point.outcomes.values() if v is not None and math.isfinite(v)]
        error = any(s not in FINISHED_OK | {"pruned"} for s in statuses)
        pruned = not error and any(s == "pruned" for s in statuses)
        value = sum(values) / len(values) if values and not (error or pruned) else None
        if value is None and not (error or pruned):
            error = True
        if point.ot_trial_id is not None:
            result = None if value is None else {OBJECTIVE: value}
            self.optuna.on_trial_complete(point.ot_trial_id, result=result, error=error)
            # OptunaSearch keeps every asked trial's handle and id for good (memory that grows with every
            # trial of a long sweep); the study's storage has the result, and an id is never told twice here.
            self.optuna._ot_trials.pop(point.ot_trial_id, None)  # noqa: SLF001 - no public way to drop it
            self.optuna._completed_trials.discard(point.ot_trial_id)  # noqa: SLF001 - nor this
        else:
            self._add_evaluated(point.hparams, value, error=error, pruned=pruned)
        del self.points[point.index]  # told: nothing of the point is needed again

    def _add_evaluated(
        self, hparams: dict[str, float], value: float | None, *, error: bool, pruned: bool
    ) -> None:
        """`OptunaSearch.add_evaluated_point`, plus the grid cell it covers (GridSampler only counts
        trials that carry their `grid_id`, so a resumed grid would otherwise revisit finished cells)."""
        if not self.grid:
            self.optuna.add_evaluated_point(hparams, value, error=error, pruned=pruned)  # type: ignore[arg-type]
            return
        study = self.optuna._ot_study  # noqa: SLF001 - OptunaSearch exposes no public handle on its study
        sampler = study.sampler
        assert isinstance(sampler, optuna.samplers.GridSampler)
        names = list(sampler._search_space)  # noqa: SLF001 - the grid's parameter order
        cell = tuple(hparams[name] for name in names)
        grid_id = next((i for i, g in enumerate(sampler._all_grids) if tuple(g) == cell), None)  # noqa: SLF001
        state = (
            optuna.trial.TrialState.FAIL
            if error
            else optuna.trial.TrialState.PRUNED
            if pruned
            else optuna.trial.TrialState.COMPLETE
        )
        system_attrs: dict[str, Any] = {}
        if grid_id is not None:
            system_attrs = {"grid_id": grid_id, "search_space": sampler._search_space}  # noqa: SLF001
        study.add_trial(
            optuna.trial.create_trial(
                state=state,
                value=value if state == optuna.trial.TrialState.COMPLETE else None,
                params=hparams,
                distributions=self.space,
                system_attrs=system_attrs,
            )
        )


class SweepSearcher(DriverOnly, Searcher):
    """Tune `Searcher` over every search of a sweep, emitting trials round-robin across searches.

    `on_request` is called for every trial handed to Tune (the sink creates its `pending` row);
    `config_for` turns a request into the Tune config the trainable receives; `reuse` (optional) takes a
    request whose result is already stored elsewhere and returns it, and that trial is skipped.
    """

    def __init__(
        self,
        spec: SweepSpec,
        sweep_id: int,
        known: list[KnownTrial],
        config_for: Callable[[TrialRequest], dict[str, Any]],
        on_request: Callable[[TrialRequest], None],
        reuse: Callable[[TrialRequest], tuple[str, float | None] | None] | None = None,
    ) -> None:
        super().__init__(metric=STEP_LOSS, mode="min")  # Tune checks every result carries it
        self._driver_only = ("_config_for", "_on_request", "_reuse")
        self._reuse = reuse
        self._searches = [_Search(spec, sweep_id, cell) for cell in spec.searches()]
        by_search: dict[str, list[KnownTrial]] = {}
        for trial in known:
            by_search.setdefault(trial.request.search, []).append(trial)
        for search in self._searches:
            search.remember(by_search.get(search.key, []))
        self._by_key = {s.key: s for s in self._searches}
        self._cycle = itertools.cycle(range(len(self._searches)))
        self._tune_ids: dict[str, TrialRequest] = {}
        self._config_for = config_for
        self._on_request = on_request
        self.finished = False  # every trial has been handed out (a sweep may need several Tune runs)
        self._drawn: TrialRequest | None = None  # drawn by `has_next`, not yet handed out

    def save_to_dir(self, checkpoint_dir: str, session_str: str = "default") -> None:
        """Nothing to save: a resumed sweep rebuilds the searcher from the store (`KnownTrial`s)."""

    def set_search_properties(self, metric: str | None, mode: str | None, config: dict, **spec: Any) -> bool:
        return True  # the objective is fixed; Tune's metric (the per-step loss) is for the scheduler

    def suggest(self, trial_id: str) -> dict | str | None:
        request, self._drawn = self._drawn or self._draw(), None
        if request is None:
            return Searcher.FINISHED
        self._tune_ids[trial_id] = request
        self._on_request(request)
        return self._config_for(request)

    def has_next(self) -> bool:
        """Whether another trial is left to hand out. It is drawn now and kept for the next `suggest`: asked
        between two Tune runs (nothing finishes in between), the draw is the one `suggest` would make."""
        if self._drawn is None and not self.finished:
            self._drawn = self._draw()
        return self._drawn is not None

    def _draw(self) -> TrialRequest | None:
        """The next trial to run, round-robin across searches; reused ones are told and skipped."""
        idle = 0  # searches in a row with nothing left to emit
        while idle < len(self._searches):
            search = self._searches[next(self._cycle)]
            request = search.next_request()
            if request is None:
                idle += 1
                continue
            idle = 0
            reused = self._reuse(request) if self._reuse is not None else None
            if reused is not None:  # a stored result: told to the sampler, never trained
                search.finish(request.index, request.seed, *reused)
                continue
            return request
        self.finished = True
        return None

    def on_trial_complete(self, trial_id: str, result: dict | None = None, error: bool = False) -> None:
        request = self._tune_ids.pop(trial_id, None)
        if request is None:
            return
        status, objective = classify(result, error)
        search = self._by_key[request.search]
        search.finish(request.index, request.seed, status, objective)


def classify(result: dict | None, error: bool) -> tuple[str, float | None]:
    """A finished Tune trial's status and objective from its last result: the trainable's final record
    says completed/diverged; a trial that stopped without one was stopped by the scheduler (pruned)."""
    if error:
        return "failed", None
    if not result:
        return "pruned", None
    status = result.get("status")
    if status in FINISHED_OK:
        objective = result.get(OBJECTIVE)
        return str(status), float(objective) if objective is not None else None
    return "pruned", None
