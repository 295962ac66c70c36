"""Every endpoint's success and error paths, against a real app on a real database."""

from __future__ import annotations

import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml
from fastapi.testclient import TestClient

from orchestrator.store.models import SweepStatus, Trial, TrialMetric, TrialStatus, utcnow

API = "/api/v1"


def submit(client: TestClient, spec: dict[str, Any], **changes: Any) -> dict[str, Any]:
    response = client.post(f"{API}/sweeps", json={**spec, **changes})
    assert response.status_code == 201, response.text
    return response.json()


def add_trials(client: TestClient, sweep_id: int, statuses: list[TrialStatus], steps: int = 0) -> list[int]:
    """Insert trials (and per-step metrics) as the runner would, through the app's own store."""
    store = client.app.state.service.store
    ids = []
    with store.session() as session:
        for i, status in enumerate(statuses):
            trial = Trial(
                sweep_id=sweep_id,
                trial_key=f"mup-w32-d2-i{i}-s0",
                parametrization="mup",
                width=32,
                depth=2,
                search_index=i,
                hparams={"lr": 0.01 * (i + 1)},
                status=status.value,
                created_at=utcnow(),
            )
            session.add(trial)
            session.flush()
            session.add_all(
                TrialMetric(trial_id=trial.id, step=s, train_loss=5.0 - 0.01 * s, lr=0.01)
                for s in range(steps)
            )
            ids.append(trial.id)
    return ids


@pytest.fixture
def client(api_client_factory: Callable[..., TestClient], database_url: str) -> TestClient:
    return api_client_factory(database_url)


def test_submit_get_list_cancel_delete_round_trip(client: TestClient, tiny_spec: dict[str, Any]) -> None:
    created = submit(client, tiny_spec)
    assert created["status"] == "queued" and created["total_trials"] == 90

    detail = client.get(f"{API}/sweeps/{created['id']}").json()
    assert detail["spec"]["proxy"]["widths"] == [32, 64, 128]
    assert detail["progress"] == {
        "counts": {s.value: 0 for s in TrialStatus},
        "done": 0,
        "total": 90,
        "fraction": 0.0,
        "eta_s": None,
        "best_loss": None,
    }
    assert detail["project"] == "default" and detail["tags"] == ["example", "cpu"]

    page = client.get(f"{API}/sweeps").json()
    assert page["total"] == 1 and page["items"][0]["id"] == created["id"]

    cancelled = client.post(f"{API}/sweeps/{created['id']}/cancel").json()
    assert cancelled["status"] == "cancelled" and cancelled["cancel_requested"] is True
    kinds = [e["kind"] for e in client.get(f"{API}/sweeps/{created['id']}/events").json()["items"]]
    assert kinds == ["submitted", "cancel_requested", "status"]

    assert client.delete(f"{API}/sweeps/{created['id']}").status_code == 204
    assert client.get(f"{API}/sweeps/{created['id']}").status_code == 404


def test_progress_counts_trials_per_status(client: TestClient, tiny_spec: dict[str, Any]) -> None:
    sweep = submit(client, tiny_spec)
    add_trials(client, sweep["id"], [TrialStatus.COMPLETED] * 3 + [TrialStatus.DIVERGED, TrialStatus.RUNNING])
    progress = client.get(f"{API}/sweeps/{sweep['id']}").json()["progress"]
    assert progress["counts"]["completed"] == 3 and progress["counts"]["diverged"] == 1
    assert progress["counts"]["running"] == 1
    assert (progress["done"], progress["total"]) == (4, 90)
    assert progress["fraction"] == pytest.approx(4 / 90)


def test_list_filters_and_pagination(api_client: TestClient, tiny_spec: dict[str, Any]) -> None:
    ids = [submit(api_client, tiny_spec, name=f"study-{i}", tags=[f"t{i % 2}"])["id"] for i in range(5)]
    api_client.post(f"{API}/sweeps/{ids[0]}/cancel")

    def listing(**params: Any) -> dict[str, Any]:
        response = api_client.get(f"{API}/sweeps", params=params)
        assert response.status_code == 200, response.text
        return response.json()

    assert [s["id"] for s in listing()["items"]] == ids[::-1]
    assert [s["id"] for s in listing(status="cancelled")["items"]] == [ids[0]]
    assert [s["id"] for s in listing(tag="t1")["items"]] == [ids[3], ids[1]]
    assert [s["id"] for s in listing(name="STUDY-4")["items"]] == [ids[4]]
    assert listing(name="%")["total"] == 0  # LIKE wildcards are matched literally
    page = listing(limit=2, offset=1)
    assert (page["total"], [s["id"] for s in page["items"]]) == (5, [ids[3], ids[2]])


@pytest.mark.parametrize(
    "params, message",
    [
        ({"limit": 0}, "query.limit: Input should be greater than or equal to 1"),
        ({"limit": 5000}, "query.limit: Input should be less than or equal to 1000"),
        ({"offset": -1}, "query.offset: Input should be greater than or equal to 0"),
        ({"status": "done"}, "query.status: Input should be 'queued'"),
        ({"limit": "ten"}, "query.limit: Input should be a valid integer"),
    ],
)
def test_list_rejects_bad_query_with_422(
    api_client: TestClient, params: dict[str, Any], message: str
) -> None:
    response = api_client.get(f"{API}/sweeps", params=params)
    assert response.status_code == 422
    assert message in response.json()["detail"]


def test_trials_and_incremental_metrics(client: TestClient, tiny_spec: dict[str, Any]) -> None:
    sweep = submit(client, tiny_spec)
    trial_ids = add_trials(client, sweep["id"], [TrialStatus.COMPLETED, TrialStatus.RUNNING], steps=25)

    trials = client.get(f"{API}/sweeps/{sweep['id']}/trials", params={"limit": 1}).json()
    assert trials["total"] == 2 and [t["id"] for t in trials["items"]] == trial_ids[:1]
    running = client.get(f"{API}/sweeps/{sweep['id']}/trials", params={"status": "running"}).json()
    assert [t["trial_key"] for t in running["items"]] == ["mup-w32-d2-i1-s0"]
    one = client.get(f"{API}/sweeps/{sweep['id']}/trials/{trial_ids[0]}").json()
    assert one["hparams"] == {"lr": 0.01}

    url = f"{API}/sweeps/{sweep['id']}/trials/{trial_ids[0]}/metrics"
    first = client.get(url, params={"limit": 10}).json()
    assert [m["step"] for m in first["items"]] == list(range(10)) and first["has_more"] is True
    steps = [m["step"] for m in first["items"]]
    cursor = first["next_since_step"]
    while True:
        page = client.get(url, params={"since_step": cursor, "limit": 10}).json()
        steps += [m["step"] for m in page["items"]]
        cursor = page["next_since_step"]
        if not page["has_more"]:
            break
    assert steps == list(range(25))
    assert client.get(url, params={"since_step": 24}).json() == {
        "trial_id": trial_ids[0],
        "items": [],
        "next_since_step": 24,
        "has_more": False,
    }


def test_missing_resources_are_404_with_a_message(api_client: TestClient, tiny_spec: dict[str, Any]) -> None:
    sweep = submit(api_client, tiny_spec)
    other = submit(api_client, tiny_spec)
    trial_id = add_trials(api_client, other["id"], [TrialStatus.COMPLETED])[0]
    for method, path in [
        ("GET", "/sweeps/999"),
        ("GET", "/sweeps/999/trials"),
        ("GET", "/sweeps/999/events"),
        ("POST", "/sweeps/999/cancel"),
        ("DELETE", "/sweeps/999"),
        ("GET", f"/sweeps/{sweep['id']}/trials/{trial_id}"),  # a trial of another sweep
        ("GET", f"/sweeps/{sweep['id']}/trials/{trial_id}/metrics"),
    ]:
        response = api_client.request(method, f"{API}{path}")
        assert response.status_code == 404, (method, path)
        assert "not found" in response.json()["detail"]


@pytest.mark.parametrize(
    "path", ["/sweeps/0", "/sweeps/abc", "/sweeps/99999999999999999999", "/sweeps/1/trials/-1"]
)
def test_bad_ids_are_422_not_500(api_client: TestClient, path: str) -> None:
    response = api_client.get(f"{API}{path}")
    assert response.status_code == 422
    assert "path." in response.json()["detail"]


def test_delete_refuses_running_sweep_unless_forced(
    api_client: TestClient, tiny_spec: dict[str, Any]
) -> None:
    sweep = submit(api_client, tiny_spec)
    store = api_client.app.state.service.store
    store.set_sweep_status(sweep["id"], SweepStatus.RUNNING)
    add_trials(api_client, sweep["id"], [TrialStatus.RUNNING], steps=3)

    refused = api_client.delete(f"{API}/sweeps/{sweep['id']}")
    assert refused.status_code == 409
    assert "cancel it first, or delete with force=true" in refused.json()["detail"]

    assert api_client.delete(f"{API}/sweeps/{sweep['id']}", params={"force": True}).status_code == 204
    with store.session() as session:  # the database cascade removed everything under the sweep
        assert session.query(Trial).count() == 0 and session.query(TrialMetric).count() == 0


def test_cancel_running_sweep_flags_it_and_finished_sweep_is_409(
    api_client: TestClient, tiny_spec: dict[str, Any]
) -> None:
    sweep = submit(api_client, tiny_spec)
    store = api_client.app.state.service.store
    store.set_sweep_status(sweep["id"], SweepStatus.RUNNING)
    flagged = api_client.post(f"{API}/sweeps/{sweep['id']}/cancel").json()
    assert flagged["status"] == "running" and flagged["cancel_requested"] is True
    assert store.is_cancel_requested(sweep["id"])

    store.set_sweep_status(sweep["id"], SweepStatus.CANCELLED)
    again = api_client.post(f"{API}/sweeps/{sweep['id']}/cancel")
    assert again.status_code == 409 and "already cancelled" in again.json()["detail"]


def test_events_are_incremental(api_client: TestClient, tiny_spec: dict[str, Any]) -> None:
    sweep = submit(api_client, tiny_spec)
    store = api_client.app.state.service.store
    for i in range(3):
        store.add_event(sweep["id"], "note", f"note {i}", data={"i": i})
    first = api_client.get(f"{API}/sweeps/{sweep['id']}/events", params={"limit": 2}).json()
    assert [e["kind"] for e in first["items"]] == ["submitted", "note"]
    rest = api_client.get(
        f"{API}/sweeps/{sweep['id']}/events", params={"after_id": first["next_after_id"]}
    ).json()
    assert [e["message"] for e in rest["items"]] == ["note 1", "note 2"]


def test_yaml_body_is_accepted(api_client: TestClient, tiny_spec: dict[str, Any]) -> None:
    response = api_client.post(
        f"{API}/sweeps", content=yaml.safe_dump(tiny_spec), headers={"content-type": "application/yaml"}
    )
    assert response.status_code == 201 and response.json()["status"] == "queued"


def test_body_over_the_limit_is_413(api_client_factory: Callable[..., TestClient], tiny_spec: dict) -> None:
    client = api_client_factory(max_body_bytes=4096)
    big = {**tiny_spec, "description": "x" * 5000}
    response = client.post(f"{API}/sweeps", json=big)
    assert response.status_code == 413 and "limit of 4096 bytes" in response.json()["detail"]

    def chunks():  # no Content-Length: the limit is enforced while the body streams in
        for _ in range(10):
            yield b" " * 1000

    streamed = client.post(f"{API}/sweeps", content=chunks(), headers={"content-type": "application/json"})
    assert streamed.status_code == 413
    assert client.get(f"{API}/sweeps").json()["total"] == 0


def test_health_ready_docs_and_openapi(api_client: TestClient) -> None:
    assert api_client.get(f"{API}/health").json()["status"] == "ok"
    assert api_client.get(f"{API}/ready").json() == {"status": "ready", "database": "ok", "runner": False}
    assert api_client.get("/docs").status_code == 200
    schema = api_client.get(f"{API}/openapi.json").json()
    body = schema["paths"][f"{API}/sweeps"]["post"]["requestBody"]["content"]["application/json"]["schema"]
    assert body == {"$ref": "#/components/schemas/SweepSpec"}
    assert "ProxySpec" in schema["components"]["schemas"]
    unknown = api_client.get(f"{API}/nope")
    assert unknown.status_code == 404 and "no such endpoint: GET /api/v1/nope" in unknown.json()["detail"]
    wrong_method = api_client.put(f"{API}/sweeps")
    assert (
        wrong_method.status_code == 405
        and "PUT is not allowed on /api/v1/sweeps" in wrong_method.json()["detail"]
    )


def test_database_outage_is_503_then_recovers(
    api_client_factory: Callable[..., TestClient], tmp_path: Path, tiny_spec: dict
) -> None:
    db_dir = tmp_path / "db"
    client = api_client_factory(f"sqlite:///{db_dir / 'store.db'}")
    submit(client, tiny_spec)
    client.app.state.service.engine.dispose()
    shutil.move(db_dir, tmp_path / "db-away")  # the database file disappears: every connect fails
    try:
        for response in (
            client.get(f"{API}/sweeps"),
            client.get(f"{API}/ready"),
            client.post(f"{API}/sweeps", json=tiny_spec),
        ):
            assert response.status_code == 503, response.text
            assert "database" in response.json()["detail"]
    finally:
        client.app.state.service.engine.dispose()
        shutil.move(tmp_path / "db-away", db_dir)
    assert client.get(f"{API}/sweeps").json()["total"] == 1


def test_the_status_table_is_served_as_the_orchestrator_holds_it(api_client) -> None:
    """The UI reads the one table (no copy of its own): every edge, and the groups derived from it."""
    from orchestrator.status import LAUNCHABLE, SWEEP_TRANSITIONS, TERMINAL

    table = api_client.get("/api/v1/statuses").json()
    assert table["transitions"] == {
        s.value: sorted(t.value for t in to) for s, to in SWEEP_TRANSITIONS.items()
    }
    assert set(table["terminal"]) == {s.value for s in TERMINAL}
    assert set(table["launchable"]) == {s.value for s in LAUNCHABLE}
    assert set(table["settled"]) == set(table["terminal"]) | {"awaiting_approval"}
    assert table["target_unfinished"] == ["pending", "running"]
