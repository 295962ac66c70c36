"""The service: settings, database and (optionally) the sweep runner, started and stopped together.

The API's lifespan and the CLI's `demo` both drive one `Service`. It upgrades the schema at start
(so a fresh SQLite file or an empty PostgreSQL database just works) and then starts the sweep runner
that executes queued sweeps. The runner is a seam: anything with `start()`, `stop()` and `wake()`,
built by a `RunnerFactory` from the service. This module is the composition root: `make_runner` is the
one place that names the Ray adapter (`orchestrator/executor/ray_executor.py`); with no runner, sweeps are
validated, stored and served, and stay queued.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from importlib.util import find_spec
from typing import Any, Protocol

from orchestrator import user_code
from orchestrator.lifecycle import launch_target
from orchestrator.rejected import Rejected
from orchestrator.runner import SweepRunner
from orchestrator.settings import Settings
from orchestrator.spec import SweepSpec, parse_spec
from orchestrator.store import DEFAULT_PROJECT, Sweep, SweepStore, TargetRun, make_engine, upgrade_database
from orchestrator.tracking import Destination, LiveExporter
from orchestrator.webhooks import Dispatcher
from workers.external import EXTERNAL_FAMILIES

log = logging.getLogger(__name__)


class Runner(Protocol):
    """Executes queued sweeps in the background (its own thread/process: the API must stay responsive)."""

    def start(self) -> None: ...

    def stop(self) -> None: ...

    def wake(self) -> None:
        """A sweep was queued or a cancel requested: look now rather than at the next poll."""
        ...


RunnerFactory = Callable[["Service"], Runner]


def make_runner(service: Service) -> SweepRunner:
    """The default `RunnerFactory`: the sweep lifecycle on Ray (local, or `settings.ray_address`), with the
    service's data dir for Ray's files and the target's checkpoints."""
    from orchestrator.executor.ray_executor import RayExecutor  # Ray loads only here

    settings = service.settings
    executor = RayExecutor(
        settings.data_dir,
        settings.ray_address,
        max_failures=settings.trial_retries,
        code_source=service.store.code.get,
    )
    return SweepRunner(service.store, executor, settings.data_dir)


class Service:
    def __init__(self, settings: Settings, runner_factory: RunnerFactory | None = None):
        self.settings = settings
        self.engine = make_engine(settings.database_url)
        self.store = SweepStore.from_engine(self.engine)
        self.runner_factory = runner_factory  # None: `make_runner`
        self.runner: Runner | None = None
        self.dispatcher: Dispatcher | None = None
        self.exporter: LiveExporter | None = None
        self.started = False

    def start(self) -> None:
        """Upgrade the schema, make sure the default project exists, start the runner if enabled."""
        if self.started:
            return
        self.settings.data_dir.mkdir(parents=True, exist_ok=True)
        upgrade_database(self.engine)
        self.store.ensure_project(DEFAULT_PROJECT)
        if self.settings.run_sweeps:
            self.runner = (self.runner_factory or make_runner)(self)
            self.runner.start()
            # webhooks go out from the process that runs sweeps (one per deployment, as the runner is)
            self.dispatcher = Dispatcher(self.store, backoff_s=self.settings.webhook_backoff_s)
            self.dispatcher.start()
            default = (
                Destination(self.settings.mlflow_uri, self.settings.mlflow_experiment)
                if self.settings.mlflow_uri
                else None
            )
            self.exporter = LiveExporter(self.store, default, poll_s=self.settings.mlflow_poll_s)
            self.exporter.start()
        self.started = True

    def stop(self) -> None:
        if self.runner is not None:
            self.runner.stop()
            self.runner = None
        if self.dispatcher is not None:
            self.dispatcher.stop()
            self.dispatcher = None
        if self.exporter is not None:
            self.exporter.stop()
            self.exporter = None
        self.engine.dispose()
        self.started = False

    @property
    def runs_sweeps(self) -> bool:
        """True when queued sweeps will be executed (the CLI waits for a terminal status only then)."""
        return self.runner is not None

    def validate(self, data: Any) -> SweepSpec:
        """Validate a spec dict under this service's limits (raises pydantic's ValidationError)."""
        return parse_spec(data, self.settings.limits)

    def submit(self, data: Any, project: str = DEFAULT_PROJECT, can_run_code: bool = True) -> Sweep:
        """Validate and store a sweep as queued, then wake the runner. An external model is built at every
        size first (in a child process), so a model that cannot be built is a 4xx now, not a failed sweep."""
        spec = self.validate(data)
        if (spec.tracking and spec.tracking.mlflow or self.settings.mlflow_uri) and not find_spec("mlflow"):
            raise Rejected(422, "tracking.mlflow needs the mlflow package: pip install 'mutransfer[mlflow]'")
        if spec.model.family in EXTERNAL_FAMILIES:
            if spec.model.family == "custom":
                user_code.authorize(self.settings, can_run_code)
            user_code.check_model(spec, self.store)
        sweep = self.store.create_sweep(spec, project)
        self._wake()
        return sweep

    def upload_code(self, data: bytes, claimed: str | None, can_run_code: bool) -> tuple[str, bool]:
        """Store a model code archive (see `orchestrator.user_code.upload`); (digest, whether it was new)."""
        return user_code.upload(self.store, self.settings, data, claimed, can_run_code)

    def cancel(self, sweep_id: int, project: str | None = None) -> Sweep:
        sweep = self.store.request_cancel(sweep_id, project)
        self._wake()
        return sweep

    def launch_target(self, sweep_id: int, project: str | None = None) -> TargetRun:
        """Launch (or relaunch) the sweep's target from its latest plan; the runner trains it."""
        run = launch_target(self.store, self.settings.data_dir, sweep_id, project)
        self._wake()
        return run

    def cluster_usage(self) -> dict[str, float] | None:
        """The executor's cluster CPUs/GPUs and their use (None without a runner, or before it connects)."""
        executor = getattr(self.runner, "executor", None)
        usage = getattr(executor, "cluster_usage", None)
        return usage() if callable(usage) else None

    def _wake(self) -> None:
        if self.runner is not None:
            self.runner.wake()
