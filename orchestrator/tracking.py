"""Export a sweep to MLflow (docs/operations.md, "MLflow"): a parent run for the sweep, one nested run per
finished proxy trial and one for the target run, and the plan as parameters and a JSON artifact.

Idempotent and incremental, so the live exporter and `mutransfer export` can run as often as they like:
every run carries a `mutransfer.key` tag (`sweep/12`, `trial/345`, `target/7`) and is found again by it,
and a run's `mutransfer.exported_step` tag says how far its metrics were logged, so a later export logs
only the newer steps and never duplicates a run or a point. MLflow's client is imported here only, and
only when an export runs (`mutransfer[mlflow]`).
"""

from __future__ import annotations

import json
import logging
import os
import threading
import time
from dataclasses import dataclass
from typing import Any

from orchestrator.spec import SweepSpec, stored_spec
from orchestrator.status import SweepStatus, TrialStatus
from orchestrator.store import NotFound, SweepStore

log = logging.getLogger(__name__)

KEY = "mutransfer.key"
EXPORTED_STEP = "mutransfer.exported_step"
METRICS = ("train_loss", "val_loss", "lr", "grad_norm")
BATCH = 1000  # MLflow's log_batch takes at most 1000 metrics


@dataclass(frozen=True)
class Destination:
    uri: str
    experiment: str = "mutransfer"


def destination(spec: SweepSpec, default: Destination | None) -> Destination | None:
    """The sweep's own `tracking.mlflow`, else the service-wide one, else None (no export)."""
    if spec.tracking is not None and spec.tracking.mlflow is not None:
        return Destination(spec.tracking.mlflow.uri, spec.tracking.mlflow.experiment)
    return default


class SweepExporter:
    """Exports one sweep through one `MlflowClient` (see the module docstring)."""

    def __init__(self, store: SweepStore, target: Destination) -> None:
        # the client prints a link to stdout for every run it ends: not in a service's output
        os.environ.setdefault("MLFLOW_SUPPRESS_PRINTING_URL_TO_STDOUT", "true")
        from mlflow.tracking import MlflowClient  # the optional extra: loaded only to export

        self.store = store
        self.client = MlflowClient(tracking_uri=target.uri)
        found = self.client.get_experiment_by_name(target.experiment)
        self.experiment_id = (
            found.experiment_id if found else self.client.create_experiment(target.experiment)
        )
        self._runs: dict[str, Any] = {}

    def export(self, sweep_id: int) -> dict[str, int]:
        """Bring the sweep's MLflow runs up to date; returns what was created or logged this time."""
        sweep = self.store.get_sweep(sweep_id)
        spec = stored_spec(sweep.spec)
        self._runs = {
            run.data.tags[KEY]: run
            for run in self.client.search_runs(
                [self.experiment_id],
                filter_string=f"tags.`mutransfer.sweep_id` = '{sweep_id}'",
                max_results=50000,
            )
        }
        done = {"runs_created": 0, "points_logged": 0}
        parent = self._run(f"sweep/{sweep_id}", f"sweep-{sweep_id} {sweep.name}", None, sweep_id, done)
        self._params(parent, self._sweep_params(spec))
        self._tag(parent, "status", sweep.status)
        finished = {s.value for s in TrialStatus.finished()}
        for trial in self.store.all_trials(sweep_id):
            if trial.status not in finished or self._exported(f"trial/{trial.id}", trial.steps_done):
                continue
            run = self._run(f"trial/{trial.id}", trial.trial_key, parent, sweep_id, done)
            fields = {"parametrization": trial.parametrization, "width": trial.width, "depth": trial.depth}
            self._params(run, {**fields, "seed": trial.seed, **trial.hparams})
            self._tag(run, "status", trial.status)
            done["points_logged"] += self._metrics(run, self.store.trial_metrics, trial.id)
            self._end(run, trial.status)
        self._export_plan(sweep_id, parent)
        self._export_target(sweep_id, parent, done)
        if sweep.finished_at is not None and sweep.status != SweepStatus.AWAITING_APPROVAL.value:
            self._end(parent, sweep.status)
        return done

    # runs ----------------------------------------------------------------------------------------
    def _run(self, key: str, name: str, parent: Any, sweep_id: int, done: dict[str, int]) -> Any:
        if key in self._runs:
            return self._runs[key]
        tags = {KEY: key, "mutransfer.sweep_id": str(sweep_id)}
        if parent is not None:
            tags["mlflow.parentRunId"] = parent.info.run_id
        run = self.client.create_run(self.experiment_id, run_name=name, tags=tags)
        self._runs[key] = run
        done["runs_created"] += 1
        return run

    def _exported(self, key: str, steps: int) -> bool:
        """Whether a finished trial's run is closed with every step logged: nothing to do for it again."""
        run = self._runs.get(key)
        if run is None or run.info.status == "RUNNING":
            return False
        return int(run.data.tags.get(EXPORTED_STEP, -1)) >= steps

    def _tag(self, run: Any, key: str, value: str) -> None:
        if run.data.tags.get(key) != value:
            self.client.set_tag(run.info.run_id, key, value)
            run.data.tags[key] = value

    def _params(self, run: Any, params: dict[str, Any]) -> None:
        """Log the parameters not yet on the run (MLflow refuses to change a logged parameter)."""
        from mlflow.entities import Param

        new = [Param(k, str(v)[:6000]) for k, v in params.items() if k not in run.data.params]
        for i in range(0, len(new), 100):
            self.client.log_batch(run.info.run_id, params=new[i : i + 100])
        run.data.params.update({p.key: p.value for p in new})

    def _metrics(self, run: Any, fetch: Any, owner_id: int) -> int:
        from mlflow.entities import Metric

        since = int(run.data.tags.get(EXPORTED_STEP, 0))
        rows = fetch(owner_id, since_step=since, limit=100_000)
        points = [
            Metric(name, float(getattr(row, name)), int(time.time() * 1000), int(row.step))
            for row in rows
            for name in METRICS
            if getattr(row, name) is not None
        ]
        for i in range(0, len(points), BATCH):
            self.client.log_batch(run.info.run_id, metrics=points[i : i + BATCH])
        if rows:
            self.client.set_tag(run.info.run_id, EXPORTED_STEP, str(rows[-1].step))
            run.data.tags[EXPORTED_STEP] = str(rows[-1].step)
        return len(points)

    def _end(self, run: Any, status: str) -> None:
        """Close a run whose trial, target or sweep has ended (once: a found run says it is closed)."""
        if run.info.status == "RUNNING":
            ok = status in ("completed", "diverged")
            self.client.set_terminated(run.info.run_id, "FINISHED" if ok else "FAILED")

    # plan and target -----------------------------------------------------------------------------
    def _export_plan(self, sweep_id: int, parent: Any) -> None:
        try:
            row = self.store.plans.get(sweep_id)
        except NotFound:
            return
        if parent.data.tags.get("mutransfer.plan_version") == str(row.version):
            return
        choice = row.plan.get("target_choice") or {}
        params = {f"plan.v{row.version}.parametrization": choice.get("parametrization")}
        params.update({f"plan.v{row.version}.{k}": v for k, v in (choice.get("hparams") or {}).items()})
        params[f"plan.v{row.version}.predicted_loss"] = choice.get("predicted_loss")
        self._params(parent, params)
        self.client.log_text(parent.info.run_id, json.dumps(row.plan, indent=1), f"plan-v{row.version}.json")
        self.client.set_tag(parent.info.run_id, "mutransfer.plan_version", str(row.version))
        parent.data.tags["mutransfer.plan_version"] = str(row.version)

    def _export_target(self, sweep_id: int, parent: Any, done: dict[str, int]) -> None:
        try:
            target = self.store.targets.latest(sweep_id)
        except NotFound:
            return
        run = self._run(f"target/{target.id}", f"target-{target.id}", parent, sweep_id, done)
        self._params(run, {"plan_version": target.plan_version, **target.hparams})
        for name in ("predicted_loss", "predicted_low", "predicted_high", "realized_loss"):
            value = getattr(target, name)
            if value is not None:
                self._tag(run, f"mutransfer.{name}", str(value))
        self._tag(run, "status", target.status)
        done["points_logged"] += self._metrics(run, self.store.targets.metrics, target.id)
        if target.finished_at is not None:
            self._end(run, target.status)

    @staticmethod
    def _sweep_params(spec: SweepSpec) -> dict[str, Any]:
        return {
            "name": spec.name,
            "parametrizations": ",".join(spec.parametrizations),
            "model.family": spec.model.family,
            "base_width": spec.base_width,
            "proxy.widths": ",".join(map(str, spec.proxy.widths)),
            "target.width": spec.target.width,
            "search.algorithm": spec.search.algorithm,
            "search.space": ",".join(spec.search.space),
        }


class LiveExporter:
    """A background thread that exports every sweep with a destination while it is active, and once more
    when it settles; an MLflow server that is down is retried at the next poll (the export is idempotent).
    It reads only active sweeps each poll, so a store of many finished sweeps costs nothing."""

    WATCHED = frozenset(
        {SweepStatus.QUEUED.value, SweepStatus.AWAITING_APPROVAL.value}
        | {s.value for s in SweepStatus.active()}
    )

    def __init__(self, store: SweepStore, default: Destination | None, poll_s: float = 5.0) -> None:
        self.store = store
        self.default = default
        self.poll_s = poll_s
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None
        self._watching: dict[int, Destination] = {}  # sweeps seen active: exported once more after

    def start(self) -> None:
        if self._thread is None:
            self._stopping.clear()
            self._thread = threading.Thread(target=self._loop, name="mlflow-export", daemon=True)
            self._thread.start()

    def stop(self) -> None:
        self._stopping.set()
        if self._thread is not None:
            self._thread.join(timeout=30)
            self._thread = None

    def _loop(self) -> None:
        while not self._stopping.wait(self.poll_s):
            self.step()

    def step(self) -> None:
        active = {s.id: s for s in self.store.sweeps_with_status(sorted(self.WATCHED))}
        for sweep in active.values():
            target = destination(stored_spec(sweep.spec), self.default)
            if target is not None:
                self._watching[sweep.id] = target
        for sweep_id, target in list(self._watching.items()):
            if self._stopping.is_set():
                return
            try:
                SweepExporter(self.store, target).export(sweep_id)
            except NotFound:  # deleted meanwhile
                self._watching.pop(sweep_id, None)
                continue
            except Exception as exc:  # the tracking server is down or refused: the next poll retries
                log.warning("MLflow export of sweep %s failed: %s", sweep_id, exc)
                continue
            if sweep_id not in active:  # settled, and exported after it did
                self._watching.pop(sweep_id, None)
