"""GET /sweeps/{id}/trials as the trial table reads it: one page at a time, sorted and filtered by the server
(`sort`, `order`, `status`, `parametrization`, `width`, `q`), with the total that matches; a sort key
outside the whitelist is a 422 that names the allowed ones."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient
from support.summary import grid_trials, store_trials

API = "/api/v1"
LRS = [2**-10, 2**-8, 2**-6, 2**-4]
STDS = [2**-5, 2**-3, 2**-1]


@pytest.fixture
def sweep(api_client: TestClient, tiny_spec: dict[str, Any]) -> tuple[str, list[dict[str, Any]]]:
    created = api_client.post(f"{API}/sweeps", json=tiny_spec)
    assert created.status_code == 201, created.text
    sweep_id = created.json()["id"]
    store_trials(api_client.app.state.service.store, sweep_id, grid_trials(LRS, STDS))
    everything = api_client.get(f"{API}/sweeps/{sweep_id}/trials", params={"limit": 1000}).json()
    return f"{API}/sweeps/{sweep_id}/trials", everything["items"]


def page(client: TestClient, url: str, **params: Any) -> dict[str, Any]:
    response = client.get(url, params=params)
    assert response.status_code == 200, response.text
    return response.json()


def test_pages_follow_the_sort_with_missing_losses_last(api_client: TestClient, sweep) -> None:
    url, trials = sweep
    expected = sorted(
        trials, key=lambda t: (t["final_val_loss"] is None, -(t["final_val_loss"] or 0), -t["id"])
    )
    seen = []
    for offset in range(0, len(trials), 50):
        got = page(api_client, url, sort="final_val_loss", order="desc", limit=50, offset=offset)
        assert got["total"] == len(trials) and got["limit"] == 50 and got["offset"] == offset
        seen += got["items"]
    assert [t["id"] for t in seen] == [t["id"] for t in expected]
    ascending = page(api_client, url, sort="final_val_loss", limit=1000)["items"]
    losses = [t["final_val_loss"] for t in ascending]
    assert losses[-1] is None and [v for v in losses if v is not None] == sorted(
        v for v in losses if v is not None
    )
    by_width = [t["width"] for t in page(api_client, url, sort="width", order="desc", limit=1000)["items"]]
    assert by_width == sorted(by_width, reverse=True)
    by_lr = [t["hparams"]["lr"] for t in page(api_client, url, sort="hp:lr", limit=1000)["items"]]
    assert by_lr == sorted(by_lr)


def test_filters_combine_and_the_total_counts_the_matches(api_client: TestClient, sweep) -> None:
    url, trials = sweep
    got = page(api_client, url, status="diverged", parametrization="sp", width=64, limit=3)
    matching = [
        t for t in trials if (t["status"], t["parametrization"], t["width"]) == ("diverged", "sp", 64)
    ]
    assert got["total"] == len(matching) == 6 and len(got["items"]) == 3
    assert all(t["status"] == "diverged" and t["width"] == 64 for t in got["items"])
    one = page(api_client, url, q="T12", limit=100)  # a substring of the key, any case
    assert [t["trial_key"] for t in one["items"]] == sorted(
        (t["trial_key"] for t in trials if "t12" in t["trial_key"]), key=lambda k: int(k[1:])
    )
    assert page(api_client, url, q="no-such-trial")["total"] == 0
    assert page(api_client, url, parametrization="u-mup")["items"] == []


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"sort": "hparams"}, "query.sort: Input should be 'id', 'parametrization'"),
        ({"sort": "id; DROP TABLE trials"}, "query.sort"),
        ({"order": "up"}, "query.order: Input should be 'asc' or 'desc'"),
        ({"width": 0}, "query.width"),
        ({"q": "mup\x00"}, "query.q"),  # PostgreSQL text cannot hold a NUL: bad input, not a server error
    ],
)
def test_a_bad_sort_or_filter_is_422_with_the_allowed_values(
    api_client: TestClient, sweep, params: dict[str, Any], message: str
) -> None:
    url, _ = sweep
    response = api_client.get(url, params=params)
    assert response.status_code == 422
    assert message in response.json()["detail"]
