"""Webhooks end to end: a real HTTP receiver on loopback subscribes to a real sweep (runner, Ray, training);
every delivery is signed, the Slack-style text is there, and when the receiver is killed mid-sweep the
deliveries are retried with backoff until it is back, each attempt visible over the API."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from conftest import free_port, wait_for
from fastapi.testclient import TestClient
from support.target import API, running_service, study, submit, wait_status

from orchestrator.webhooks import SIGNATURE_HEADER, verify

pytestmark = pytest.mark.ray


class Receiver:
    """An HTTP server on a fixed loopback port that records every POST; stop() kills it, start() revives."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.received: list[tuple[dict[str, str], bytes]] = []
        self.server: ThreadingHTTPServer | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/hook"

    def start(self) -> None:
        received = self.received

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 (http.server's name)
                body = self.rfile.read(int(self.headers["Content-Length"]))
                received.append((dict(self.headers), body))
                self.send_response(200)
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        ThreadingHTTPServer.allow_reuse_address = True
        self.server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def stop(self) -> None:
        assert self.server is not None
        self.server.shutdown()
        self.server.server_close()
        self.server = None


@pytest.fixture(scope="module")
def client() -> Iterator[TestClient]:
    with running_service(webhook_backoff_s=0.5) as test_client:
        yield test_client


def deliveries(client: TestClient, webhook_id: int) -> list[dict]:
    response = client.get(f"{API}/webhooks/{webhook_id}/deliveries", params={"limit": 500})
    assert response.status_code == 200, response.text
    return response.json()


def test_signed_deliveries_survive_a_receiver_killed_mid_sweep(client: TestClient) -> None:
    receiver = Receiver(free_port())
    receiver.start()
    created = client.post(f"{API}/webhooks", json={"url": receiver.url})
    assert created.status_code == 201, created.text
    hook = created.json()
    assert hook["events"] == ["sweep.status", "preflight.failed", "plan.ready", "target.finished"]
    assert "secret" not in client.get(f"{API}/webhooks").json()[0]

    sweep_id = submit(client, study(name="hooked", **{"proxy.widths": [16, 32], "target.steps": 20}))
    wait_for(lambda: receiver.received, 60, "the first delivery")
    receiver.stop()  # killed mid-sweep: the next deliveries fail and are retried
    wait_for(
        lambda: any(d["attempts"] >= 2 and d["status"] == "pending" for d in deliveries(client, hook["id"])),
        90,
        "a delivery retried while the receiver is down",
    )
    failing = next(d for d in deliveries(client, hook["id"]) if d["attempts"] >= 2)
    assert failing["last_status_code"] is None and "Connect" in failing["last_error"]
    receiver.start()

    wait_status(client, sweep_id, "completed", timeout=300)

    def all_delivered() -> bool:  # the sweep's last events enqueued too, and nothing left to send
        log = deliveries(client, hook["id"])
        last = {(d["event_type"], (d["payload"]["event"]["data"] or {}).get("to")) for d in log}
        ended = ("target.finished", None) in last and ("sweep.status", "completed") in last
        return ended and all(d["status"] == "delivered" for d in log)

    wait_for(all_delivered, 60, "every delivery delivered once the receiver is back")
    log = deliveries(client, hook["id"])
    assert any(d["attempts"] >= 2 for d in log)  # the retried ones went through on a later attempt

    bodies = [(headers, json.loads(body)) for headers, body in receiver.received]
    for (headers, body), raw in zip(bodies, (b for _, b in receiver.received), strict=True):
        assert verify(hook["secret"], headers[SIGNATURE_HEADER], raw)
        assert not verify(hook["secret"], headers[SIGNATURE_HEADER], raw + b" ")
        assert not verify("whsec_wrong", headers[SIGNATURE_HEADER], raw)
        assert headers["X-Mutransfer-Event"] == body["type"] and body["text"].startswith("mutransfer · sweep")
    types = {body["type"] for _, body in bodies}
    assert {"sweep.status", "plan.ready", "target.finished"} <= types
    moves = [body["event"]["data"]["to"] for _, body in bodies if body["type"] == "sweep.status"]
    assert moves[-1] == "completed" and "running" in moves
    assert {body["id"] for _, body in bodies} == {d["id"] for d in log}  # every delivery arrived
    receiver.stop()


def test_webhook_input_is_checked(client: TestClient) -> None:
    bad_url = client.post(f"{API}/webhooks", json={"url": "ftp://example.org/x"})
    assert bad_url.status_code == 422 and "http:// or https://" in bad_url.text
    bad_type = client.post(
        f"{API}/webhooks", json={"url": "http://127.0.0.1:9/x", "events": ["sweep.exploded"]}
    )
    assert bad_type.status_code == 422 and "unknown event type" in bad_type.text
    missing = client.get(f"{API}/webhooks/999/deliveries")
    assert missing.status_code == 404 and "no webhook 999" in missing.json()["detail"]
    created = client.post(f"{API}/webhooks", json={"url": "http://127.0.0.1:9/x", "events": ["plan.ready"]})
    assert created.status_code == 201
    assert client.delete(f"{API}/webhooks/{created.json()['id']}").status_code == 204
    assert client.delete(f"{API}/webhooks/{created.json()['id']}").status_code == 404
