"""Target runs in the store: creation (with the launch claim), the latest run, its end, its metrics.

The target's per-step metrics are written by `TargetIngest` (`ingest.py`), beside the trials' ingest; this
module holds every other query on `target_runs` and `target_metrics`.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from sqlalchemy import select, update

from orchestrator.status import LAUNCHABLE, SweepStatus, TargetStatus
from orchestrator.store import sweep_status
from orchestrator.store.db import Database
from orchestrator.store.errors import Conflict, NotFound
from orchestrator.store.models import SweepEvent, TargetMetric, TargetRun, finite_or_none, utcnow


class TargetRuns:
    """The target-run queries of one store (`SweepStore.targets`)."""

    def __init__(self, db: Database) -> None:
        self.db = db

    def create(
        self,
        sweep_id: int,
        plan_version: int,
        choice: Mapping[str, Any],
        checkpoint_root: Path,
        *,
        launch: bool = False,
    ) -> TargetRun:
        """A pending target run from plan `plan_version`'s `choice` (the plan's `target_choice`), with its
        `target_created` event. `launch=True` is the API's (re)launch: in the same transaction the sweep is
        claimed from a launchable state (`Conflict` if it left one meanwhile: two concurrent launches cannot
        both win). The checkpoint directory is `checkpoint_root/sweep-<id>/target-<run id>`."""
        hparams = dict(choice["hparams"])
        with self.db.session() as session:
            if launch:
                claimed = sweep_status.claim(
                    session, sweep_id, sorted(LAUNCHABLE), SweepStatus.TARGET_RUNNING, why="target launched"
                )
                if claimed is None:
                    raise Conflict(f"sweep {sweep_id} changed state meanwhile; reload it and try again")
            run = TargetRun(
                sweep_id=sweep_id,
                plan_version=plan_version,
                status=TargetStatus.PENDING.value,
                hparams=hparams,
                predicted_loss=finite_or_none(choice.get("predicted_loss")),
                predicted_low=finite_or_none(choice.get("predicted_low")),
                predicted_high=finite_or_none(choice.get("predicted_high")),
                steps_done=0,
                attempts=0,
            )
            session.add(run)
            session.flush()
            run.checkpoint_path = str(
                Path(checkpoint_root).resolve() / f"sweep-{sweep_id}" / f"target-{run.id}"
            )
            session.add(
                SweepEvent(
                    sweep_id=sweep_id,
                    kind="target_created",
                    message=(
                        f"target run {run.id} ({choice['parametrization']}, plan v{plan_version}) with "
                        + ", ".join(f"{k}={v:.4g}" for k, v in hparams.items())
                        + (
                            " [fallback: no parametrization was recommended]"
                            if choice.get("fallback")
                            else ""
                        )
                    ),
                    data={
                        "target_run_id": run.id,
                        "parametrization": choice["parametrization"],
                        "plan_version": plan_version,
                    },
                )
            )
            return run

    def latest(self, sweep_id: int) -> TargetRun:
        """The sweep's most recent target run; `NotFound` says how one starts."""
        with self.db.session() as session:
            row = session.scalar(
                select(TargetRun).where(TargetRun.sweep_id == sweep_id).order_by(TargetRun.id.desc()).limit(1)
            )
        if row is None:
            raise NotFound(
                f"sweep {sweep_id} has no target run yet: it starts after planning when target.auto_launch "
                "is true, else POST to this URL to launch it"
            )
        return row

    def get(self, target_run_id: int) -> TargetRun:
        with self.db.session() as session:
            row = session.get(TargetRun, target_run_id)
        if row is None:
            raise NotFound(f"target run {target_run_id} not found")
        return row

    def finish(
        self,
        target_run_id: int,
        status: TargetStatus | str,
        *,
        error: str | None = None,
        realized: float | None = None,
        within: bool | None = None,
        steps: int | None = None,
    ) -> None:
        """Record how the run ended (its realized loss beside the prediction it was launched with)."""
        values: dict[str, Any] = {
            "status": TargetStatus(status).value,
            "finished_at": utcnow(),
            "realized_loss": finite_or_none(realized),
            "within_interval": within,
        }
        if error is not None:
            values["error"] = error[:4000]
        if steps:
            values["steps_done"] = steps
        with self.db.session() as session:
            session.execute(update(TargetRun).where(TargetRun.id == target_run_id).values(**values))

    def metrics(
        self, target_run_id: int, since_step: int | None = None, limit: int = 1000
    ) -> list[TargetMetric]:
        """Metrics with step > `since_step`, in step order (poll with the last step seen)."""
        query = select(TargetMetric).where(TargetMetric.target_run_id == target_run_id)
        if since_step is not None:
            query = query.where(TargetMetric.step > since_step)
        with self.db.session() as session:
            return list(session.scalars(query.order_by(TargetMetric.step).limit(limit)).all())
