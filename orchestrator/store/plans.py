"""Plans and coordinate checks in the store: what the planner and the preflight leave behind.

Plans are never overwritten: a re-plan (after more trials, or with another planner version) is version
n+1, so a target run always points at the exact plan it was launched from (`TargetRun.plan_version`).
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError

from orchestrator.store.db import Database
from orchestrator.store.errors import Conflict, NotFound
from orchestrator.store.models import CoordCheckResult, TransferPlan

# A version number taken by a concurrent re-plan is retried with the next one this many times.
VERSION_RETRIES = 5


class Plans:
    """The plan-version queries of one store (`SweepStore.plans`)."""

    def __init__(self, db: Database) -> None:
        self.db = db

    def add(self, sweep_id: int, plan: dict[str, Any]) -> TransferPlan:
        """Store `plan` as max(version) + 1 (a concurrent re-plan that took the number: take the next)."""
        for _ in range(VERSION_RETRIES):
            try:
                with self.db.session() as session:
                    latest = session.scalar(
                        select(func.max(TransferPlan.version)).where(TransferPlan.sweep_id == sweep_id)
                    )
                    row = TransferPlan(sweep_id=sweep_id, version=(latest or 0) + 1, plan=plan)
                    session.add(row)
                return row
            except IntegrityError:
                continue
        raise Conflict(
            f"could not store a new plan version for sweep {sweep_id}: too many concurrent re-plans"
        )

    def get(self, sweep_id: int, version: int | None = None) -> TransferPlan:
        """The latest plan, or the given version; `NotFound` says which versions exist."""
        with self.db.session() as session:
            query = select(TransferPlan).where(TransferPlan.sweep_id == sweep_id)
            if version is not None:
                query = query.where(TransferPlan.version == version)
            row = session.scalar(query.order_by(TransferPlan.version.desc()).limit(1))
        if row is None:
            versions = self.versions(sweep_id)
            if version is not None and versions:
                raise NotFound(f"sweep {sweep_id} has no plan version {version}; versions: {versions}")
            raise NotFound(
                f"sweep {sweep_id} has no plan yet: one is made when its proxy trials finish "
                "(or POST to this URL to plan from the trials stored so far)"
            )
        return row

    def versions(self, sweep_id: int) -> list[int]:
        with self.db.session() as session:
            rows = session.scalars(
                select(TransferPlan.version)
                .where(TransferPlan.sweep_id == sweep_id)
                .order_by(TransferPlan.version)
            )
            return list(rows)


class CoordChecks:
    """The coordinate-check results of one store (`SweepStore.coord_checks`)."""

    def __init__(self, db: Database) -> None:
        self.db = db

    def add(self, sweep_id: int, parametrization: str, passed: bool, report: dict[str, Any]) -> None:
        with self.db.session() as session:
            session.add(
                CoordCheckResult(
                    sweep_id=sweep_id, parametrization=parametrization, passed=passed, data=report
                )
            )

    def latest(self, sweep_id: int) -> list[CoordCheckResult]:
        """The most recent result of each checked parametrization, in the order they were first checked."""
        with self.db.session() as session:
            query = select(CoordCheckResult).where(CoordCheckResult.sweep_id == sweep_id)
            rows = session.scalars(query.order_by(CoordCheckResult.id)).all()
        return list({row.parametrization: row for row in rows}.values())

    def checked(self, sweep_id: int) -> set[str]:
        """Parametrizations already checked for the sweep (a resumed preflight skips them)."""
        with self.db.session() as session:
            rows = session.scalars(
                select(CoordCheckResult.parametrization).where(CoordCheckResult.sweep_id == sweep_id)
            )
            return set(rows)
