"""Webhooks in the store: subscriptions per project, the event log read past each one's cursor, and the
deliveries with every attempt (orchestrator/webhooks.py decides what to send and when)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import func, select, update

from orchestrator.store.db import Database
from orchestrator.store.errors import NotFound
from orchestrator.store.models import Project, Sweep, SweepEvent, Webhook, WebhookDelivery, utcnow


@dataclass(frozen=True)
class WebhookInfo:
    id: int
    project: str
    url: str
    events: list[str]
    created_at: datetime


@dataclass(frozen=True)
class NewEvent:
    """A sweep event past a webhook's cursor, with what a delivery names of its sweep."""

    id: int
    kind: str
    message: str
    level: str
    data: dict[str, Any] | None
    ts: datetime
    sweep_id: int
    sweep_name: str


@dataclass(frozen=True)
class DueDelivery:
    id: int
    url: str
    secret: str
    event_type: str
    payload: dict[str, Any]
    attempts: int


class Webhooks:
    """The webhook queries of one store (`SweepStore.webhooks`)."""

    def __init__(self, db: Database) -> None:
        self.db = db

    def add(self, project_id: int, project: str, url: str, secret: str, events: list[str]) -> WebhookInfo:
        """A new subscription, reading the event log from now on."""
        with self.db.session() as session:
            newest = session.execute(select(func.max(SweepEvent.id))).scalar() or 0
            row = Webhook(project_id=project_id, url=url, secret=secret, events=events, last_event_id=newest)
            session.add(row)
            session.flush()
            return WebhookInfo(row.id, project, url, list(events), row.created_at)

    def list(self, project: str | None) -> list[WebhookInfo]:
        query = select(Webhook, Project.name).join(Project, Webhook.project_id == Project.id)
        if project is not None:
            query = query.where(Project.name == project)
        with self.db.session() as session:
            rows = session.execute(query.order_by(Webhook.id)).all()
        return [WebhookInfo(w.id, name, w.url, list(w.events), w.created_at) for w, name in rows]

    def get(self, webhook_id: int, project: str | None) -> WebhookInfo:
        found = [w for w in self.list(project) if w.id == webhook_id]
        if not found:
            raise NotFound(f"no webhook {webhook_id} in this project; GET /webhooks lists them")
        return found[0]

    def delete(self, webhook_id: int, project: str | None) -> None:
        self.get(webhook_id, project)
        with self.db.session() as session:
            session.delete(session.get(Webhook, webhook_id))

    def deliveries(self, webhook_id: int, project: str | None, limit: int = 100) -> list[WebhookDelivery]:
        """The newest deliveries of a webhook, newest first, each with its attempts."""
        self.get(webhook_id, project)
        with self.db.session() as session:
            query = select(WebhookDelivery).where(WebhookDelivery.webhook_id == webhook_id)
            return list(session.scalars(query.order_by(WebhookDelivery.id.desc()).limit(limit)).all())

    def enqueue_new(self, to_deliveries: Any, batch: int = 500) -> int:
        """For every webhook, read the events of its project's sweeps past its cursor, turn each into
        deliveries with `to_deliveries(webhook_events, event) -> [(type, payload)]`, store them and move the
        cursor, in one transaction per webhook (an event is enqueued once). Returns deliveries added."""
        added = 0
        with self.db.session() as session:
            hooks = list(session.scalars(select(Webhook)).all())
        for hook in hooks:
            with self.db.session() as session:
                rows = session.execute(
                    select(SweepEvent, Sweep.name)
                    .join(Sweep, SweepEvent.sweep_id == Sweep.id)
                    .where(Sweep.project_id == hook.project_id, SweepEvent.id > hook.last_event_id)
                    .order_by(SweepEvent.id)
                    .limit(batch)
                ).all()
                if not rows:
                    continue
                for event, name in rows:
                    new = NewEvent(
                        event.id,
                        event.kind,
                        event.message,
                        event.level,
                        event.data,
                        event.ts,
                        event.sweep_id,
                        name,
                    )
                    for event_type, payload in to_deliveries(hook.events, new):
                        session.add(
                            WebhookDelivery(
                                webhook_id=hook.id, event_id=event.id, event_type=event_type, payload=payload
                            )
                        )
                        added += 1
                session.execute(
                    update(Webhook).where(Webhook.id == hook.id).values(last_event_id=rows[-1][0].id)
                )
        return added

    def due(self, limit: int = 50) -> list[DueDelivery]:
        """Pending deliveries whose next attempt is due, oldest first."""
        with self.db.session() as session:
            rows = session.execute(
                select(WebhookDelivery, Webhook.url, Webhook.secret)
                .join(Webhook, WebhookDelivery.webhook_id == Webhook.id)
                .where(WebhookDelivery.status == "pending", WebhookDelivery.next_attempt_at <= utcnow())
                .order_by(WebhookDelivery.id)
                .limit(limit)
            ).all()
        return [
            DueDelivery(d.id, url, secret, d.event_type, d.payload, d.attempts) for d, url, secret in rows
        ]

    def record_attempt(
        self,
        delivery_id: int,
        *,
        delivered: bool,
        status_code: int | None,
        error: str | None,
        next_attempt_at: datetime | None,
    ) -> None:
        """One attempt's outcome: delivered, retried at `next_attempt_at`, or failed for good (None)."""
        values: dict[str, Any] = {
            "attempts": WebhookDelivery.attempts + 1,
            "last_status_code": status_code,
            "last_error": error,
        }
        if delivered:
            values.update(status="delivered", delivered_at=utcnow())
        elif next_attempt_at is None:
            values.update(status="failed")
        else:
            values.update(next_attempt_at=next_attempt_at)
        with self.db.session() as session:
            session.execute(update(WebhookDelivery).where(WebhookDelivery.id == delivery_id).values(**values))

    def counts(self, webhook_ids: Sequence[int]) -> dict[int, dict[str, int]]:
        """Deliveries per status for each webhook."""
        with self.db.session() as session:
            rows = session.execute(
                select(WebhookDelivery.webhook_id, WebhookDelivery.status, func.count())
                .where(WebhookDelivery.webhook_id.in_(list(webhook_ids)))
                .group_by(WebhookDelivery.webhook_id, WebhookDelivery.status)
            ).all()
        counts: dict[int, dict[str, int]] = {i: {} for i in webhook_ids}
        for webhook_id, status, n in rows:
            counts[webhook_id][status] = int(n)
        return counts
