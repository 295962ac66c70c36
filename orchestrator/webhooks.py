"""Webhooks: a project's sweep events POSTed to a URL it subscribed, signed, retried, logged
(docs/operations.md, "Webhooks").

The dispatcher reads the sweep event log (every status change is an event, `store/sweep_status.py`), so
nothing in the lifecycle knows about webhooks. Each webhook keeps a cursor into the log; every event past it
becomes a delivery row per subscribed type, then a background thread POSTs due deliveries:

- the body is JSON with a Slack-compatible `text`, so a Slack incoming webhook works as is;
- `X-Mutransfer-Signature: t=<unix time>,v1=<hex HMAC-SHA256 of "<t>.<body>" under the webhook's secret>`
  (the timestamp inside the MAC lets a receiver refuse replays older than a few minutes: `verify`);
- a non-2xx answer or no answer is retried with exponential backoff (base × 2^attempt, capped), up to
  `MAX_ATTEMPTS`, then the delivery is `failed`; every attempt's status code or error is kept and served
  at `GET /webhooks/{id}/deliveries`.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import secrets
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx

from orchestrator.status import SweepStatus
from orchestrator.store import SweepStore
from orchestrator.store.webhooks import DueDelivery, NewEvent

log = logging.getLogger(__name__)

# What a webhook may subscribe to, and the sweep event kinds each comes from.
EVENT_TYPES = {
    "sweep.status": "every status change of a sweep (queued → preflight → running → ...)",
    "preflight.failed": "the coordinate check stopped a sweep",
    "plan.ready": "a transfer plan was made (a new version)",
    "target.finished": "the target run ended (completed, failed or cancelled)",
}
MAX_ATTEMPTS = 8
MAX_BACKOFF_S = 300.0
TIMEOUT_S = 10.0
SIGNATURE_HEADER = "X-Mutransfer-Signature"
REPLAY_WINDOW_S = 300


def new_secret() -> str:
    return "whsec_" + secrets.token_urlsafe(32)


def sign(secret: str, body: bytes, timestamp: int) -> str:
    mac = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()
    return f"t={timestamp},v1={mac}"


def verify(secret: str, header: str, body: bytes, now: float | None = None) -> bool:
    """What a receiver checks: the MAC matches and the timestamp is within `REPLAY_WINDOW_S`."""
    try:
        parts = dict(item.split("=", 1) for item in header.split(","))
        timestamp = int(parts["t"])
    except (ValueError, KeyError):
        return False
    if abs((time.time() if now is None else now) - timestamp) > REPLAY_WINDOW_S:
        return False
    return hmac.compare_digest(sign(secret, body, timestamp), header)


def event_types(event: NewEvent) -> Iterator[str]:
    """The webhook types a sweep event is: a status change, and a preflight failure among them."""
    if event.kind == "status":
        yield "sweep.status"
        if (event.data or {}).get("to") == SweepStatus.PREFLIGHT_FAILED.value:
            yield "preflight.failed"
    elif event.kind == "planned":
        yield "plan.ready"
    elif event.kind == "target_finished":
        yield "target.finished"


def payload(event_type: str, event: NewEvent) -> dict[str, Any]:
    return {
        "type": event_type,
        "sweep": {"id": event.sweep_id, "name": event.sweep_name},
        "event": {
            "id": event.id,
            "kind": event.kind,
            "level": event.level,
            "message": event.message,
            "data": event.data,
            "ts": event.ts.isoformat(),
        },
        "text": f"mutransfer · sweep {event.sweep_id} ({event.sweep_name}): {event.message}",
    }


def to_deliveries(subscribed: list[str], event: NewEvent) -> list[tuple[str, dict[str, Any]]]:
    return [(t, payload(t, event)) for t in event_types(event) if t in subscribed]


class Dispatcher:
    """The background thread: enqueue new events, deliver what is due, every `poll_s` seconds."""

    def __init__(self, store: SweepStore, *, backoff_s: float = 2.0, poll_s: float = 0.5) -> None:
        self.store = store
        self.backoff_s = backoff_s
        self.poll_s = poll_s
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None
        self._client = httpx.Client(timeout=TIMEOUT_S, follow_redirects=False)

    def start(self) -> None:
        if self._thread is None:
            self._stopping.clear()
            self._thread = threading.Thread(target=self._loop, name="webhooks", daemon=True)
            self._thread.start()

    def stop(self) -> None:
        self._stopping.set()
        if self._thread is not None:
            self._thread.join(timeout=TIMEOUT_S + 5)
            self._thread = None
        self._client.close()

    def _loop(self) -> None:
        while not self._stopping.is_set():
            try:
                self.step()
            except Exception:  # a database hiccup: try again at the next poll, never die
                log.exception("webhook dispatcher step failed")
            self._stopping.wait(self.poll_s)

    def step(self) -> None:
        self.store.webhooks.enqueue_new(to_deliveries)
        for delivery in self.store.webhooks.due():
            if self._stopping.is_set():
                return
            self._deliver(delivery)

    def _deliver(self, delivery: DueDelivery) -> None:
        body = json.dumps({"id": delivery.id, **delivery.payload}, separators=(",", ":")).encode()
        headers = {
            "Content-Type": "application/json",
            "User-Agent": "mutransfer-webhooks",
            "X-Mutransfer-Event": delivery.event_type,
            "X-Mutransfer-Delivery": str(delivery.id),
            SIGNATURE_HEADER: sign(delivery.secret, body, int(time.time())),
        }
        status_code, error = None, None
        try:
            response = self._client.post(delivery.url, content=body, headers=headers)
            status_code = response.status_code
            if not 200 <= status_code < 300:
                error = f"HTTP {status_code}: {response.text[:200]}"
        except httpx.HTTPError as exc:
            error = f"{type(exc).__name__}: {exc}"[:500]
        attempt = delivery.attempts + 1
        retry_at = None
        if error is not None and attempt < MAX_ATTEMPTS:
            retry_at = datetime.now(UTC) + timedelta(
                seconds=min(MAX_BACKOFF_S, self.backoff_s * 2 ** (attempt - 1))
            )
        self.store.webhooks.record_attempt(
            delivery.id,
            delivered=error is None,
            status_code=status_code,
            error=error,
            next_attempt_at=retry_at,
        )
