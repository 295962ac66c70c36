"""Reuse of finished proxies end to end (runner, Ray, training): a second sweep of the same trials takes
every result from the first (zero new trainings, metrics copied, marked "reused from sweep N" in the API
and the trial table); `reuse: false` trains them again; another project never sees them."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient
from support.target import API, client, study, submit, wait_status

pytestmark = pytest.mark.ray

__all__ = ["client"]


def spec(name: str, **overrides: object) -> dict:
    return study(
        name=name,
        parametrizations=["mup"],
        **{"proxy.widths": [16, 32], "search.space.lr.grid_points": 3, "target.auto_launch": False},
        **overrides,
    )


def trials_of(client: TestClient, sweep_id: int) -> list[dict]:
    return client.get(f"{API}/sweeps/{sweep_id}/trials", params={"limit": 100}).json()["items"]


def test_a_second_sweep_reuses_the_first_ones_trials(client: TestClient) -> None:
    first = submit(client, spec("original"))
    wait_status(client, first, "awaiting_approval")
    originals = {(t["width"], t["hparams"]["lr"], t["seed"]): t for t in trials_of(client, first)}
    assert len(originals) == 6 and all(t["reused_from_sweep"] is None for t in originals.values())

    second = submit(client, spec("repeat"))
    wait_status(client, second, "awaiting_approval")
    repeated = trials_of(client, second)
    assert len(repeated) == 6
    for trial in repeated:
        source = originals[(trial["width"], trial["hparams"]["lr"], trial["seed"])]
        assert trial["reused_from_sweep"] == first and trial["reused_from_trial"] == source["id"]
        assert trial["attempts"] == 0  # never handed to a worker: zero new trainings
        assert (trial["status"], trial["final_val_loss"]) == (source["status"], source["final_val_loss"])
    curve = client.get(f"{API}/sweeps/{second}/trials/{repeated[0]['id']}/metrics").json()["items"]
    source_curve = client.get(
        f"{API}/sweeps/{first}/trials/{repeated[0]['reused_from_trial']}/metrics"
    ).json()["items"]
    assert [m["train_loss"] for m in curve] == [m["train_loss"] for m in source_curve] and curve
    planned = [client.get(f"{API}/sweeps/{i}/plan").json()["plan"]["target_choice"] for i in (first, second)]
    assert planned[1]["hparams"]["lr"] == pytest.approx(planned[0]["hparams"]["lr"], rel=1e-9)  # same data

    fresh = submit(client, spec("no-reuse", reuse=False))
    wait_status(client, fresh, "awaiting_approval")
    assert all(t["reused_from_sweep"] is None and t["attempts"] >= 1 for t in trials_of(client, fresh))

    other = client.post(f"{API}/sweeps", json=spec("other-steps", **{"proxy.steps": 21}))
    assert other.status_code == 201  # a different budget is a different trial: nothing to reuse
    wait_status(client, other.json()["id"], "awaiting_approval")
    assert all(t["reused_from_sweep"] is None for t in trials_of(client, other.json()["id"]))
