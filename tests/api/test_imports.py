"""Importing finished runs and back-testing the planner over REST, against a real app on a real database
(SQLite, and PostgreSQL in CI's second pass). The files are made by the tests (support/runs.py)."""

from __future__ import annotations

import csv
import io
import math
from collections.abc import Callable

import pytest
from fastapi.testclient import TestClient
from support.runs import csv_text, ladder

from orchestrator.store.models import SweepStatus

API = "/api/v1"


@pytest.fixture
def client(api_client_factory: Callable[..., TestClient], database_url: str) -> TestClient:
    return api_client_factory(database_url)


def post_import(client: TestClient, body: str, **params: str) -> object:
    return client.post(f"{API}/imports", content=body, params=params, headers={"content-type": "text/csv"})


def sweep_count(client: TestClient) -> int:
    return client.get(f"{API}/sweeps").json()["total"]


def test_an_imported_study_is_stored_planned_and_read_like_any_sweep(client: TestClient) -> None:
    rows = ladder((32, 64, 128, 256), seeds=(0, 1))
    response = post_import(client, csv_text(rows), name="ladder", target="width=1024,depth=2")
    assert response.status_code == 201, response.text
    created = response.json()
    assert created["status"] == SweepStatus.IMPORTED == "imported"
    diverged = sum(math.isinf(r["loss"]) for r in rows)
    assert created["runs"] == len(rows) and created["diverged"] == diverged > 0
    assert created["axes"] == ["width", "depth", "n_params", "tokens", "batch_tokens"]
    assert created["hps"] == ["lr"] and created["cells"] == 4 and created["plan_version"] == 1
    assert response.headers["location"].endswith(f"/sweeps/{created['id']}")

    sweep = client.get(f"{API}/sweeps/{created['id']}").json()
    assert sweep["status"] == "imported" and sweep["budget"] is None
    assert sweep["spec"]["imported"]["source"] == "ladder"
    assert sweep["spec"]["proxy"]["widths"] == [32, 64, 128, 256]
    assert sweep["progress"]["done"] == len(rows)

    plan = client.get(f"{API}/sweeps/{created['id']}/plan").json()["plan"]
    mup = plan["parametrizations"]["mup"]
    assert plan["target"]["width"] == 1024 and plan["target_choice"] is None
    assert plan["imported"]["scale"] == "width"
    # the truth is width-invariant at -7: the transferred lr's interval covers it
    assert mup["hparams"]["lr"]["low"] <= 2**-7 <= mup["hparams"]["lr"]["high"]
    assert mup["transfer_verdict"] == "holds"

    trials = client.get(f"{API}/sweeps/{created['id']}/trials", params={"limit": 500}).json()
    assert trials["total"] == len(rows)
    assert {t["status"] for t in trials["items"]} == {"completed", "diverged"}

    replanned = client.post(f"{API}/sweeps/{created['id']}/plan")
    assert replanned.status_code == 201 and replanned.json()["version"] == 2
    launch = client.post(f"{API}/sweeps/{created['id']}/target-run")
    assert launch.status_code == 409, launch.text


def test_a_bad_file_is_refused_whole_with_every_line_and_column_named(client: TestClient) -> None:
    before = sweep_count(client)
    body = "\n".join(
        [
            "parametrization,width,depth,seed,lr,loss",
            "mup,32,2,0,0.01,2.5",
            "mup,32,2,0,0.02,",  # missing loss
            "mup,abc,2,0,0.03,2.4",  # non-numeric width
            "mup,-64,2,0,0.01,2.4",  # negative size
            "mup,64,2,0,nan,2.3",  # NaN hyperparameter
            "mup,32,2,0,0.01,2.6",  # the same run as line 2
            "xp,64,2,0,0.02,2.3",  # unknown parametrization
        ]
    )
    response = post_import(client, body, name="bad")
    assert response.status_code == 422
    errors = response.json()["errors"]
    expected = [
        ("line 3", "'loss'"),
        ("line 4", "'width'"),
        ("line 5", "'width'"),
        ("line 6", "'lr'"),
        ("line 7", None),
        ("line 8", "'parametrization'"),
    ]
    for line, column in expected:
        assert any(e.startswith(line) and (column is None or column in e) for e in errors), (line, errors)
    assert any("line 2" in e for e in errors if e.startswith("line 7"))  # a duplicate names both lines
    assert "nothing was imported" in response.json()["detail"]
    assert sweep_count(client) == before  # nothing stored


@pytest.mark.parametrize(
    ("params", "body", "says"),
    [
        ({}, "", "empty"),
        ({"hps": "momentum"}, "width,lr,loss\n32,0.01,2.5\n", "momentum"),
        ({"target": "width=big"}, "width,lr,loss\n32,0.01,2.5\n64,0.01,2.4\n", "width"),
        ({}, "lr,loss\n0.01,2.5\n", "width"),
    ],
)
def test_bad_requests_get_a_4xx_that_says_what_to_fix(
    client: TestClient, params: dict[str, str], body: str, says: str
) -> None:
    response = post_import(client, body, **params)
    assert response.status_code == 422, response.text
    text = response.json()["detail"] + " ".join(response.json().get("errors") or [])
    assert says in text


def test_a_backtest_scores_the_held_out_width_and_refuses_bad_conditions(client: TestClient) -> None:
    rows = ladder((32, 64, 128, 256), drift=-0.5)
    created = post_import(client, csv_text(rows), name="drifting", hps="lr").json()
    url = f"{API}/sweeps/{created['id']}/backtest"
    result = client.post(url, json={"hold_out": "width == 256"})
    assert result.status_code == 200, result.text
    body = result.json()
    (cell,) = body["cells"]
    assert cell["cell"]["width"] == 256 and cell["parametrization"] == "mup"
    assert set(cell) >= {"predicted", "observed_optimum", "regret", "covered", "predicted_loss", "best_loss"}
    assert cell["regret"] >= 0 and body["summary"]["cells"] == 1
    assert body["trained_on"] == sum(r["width"] != 256 for r in rows)

    for condition, says in [
        ("width ==", "not a condition"),
        ("colour == 1", "colour"),
        ("width > 1e9", "no run"),
    ]:
        response = client.post(url, json={"hold_out": condition})
        assert response.status_code == 422 and says in response.json()["detail"], response.text
    assert client.post(url, json={}).status_code == 422


def test_runs_export_in_the_import_format_and_import_back(client: TestClient) -> None:
    rows = ladder((32, 64, 128), seeds=(0,))
    created = post_import(client, csv_text(rows), name="first").json()
    exported = client.get(f"{API}/sweeps/{created['id']}/runs")
    assert exported.status_code == 200 and exported.headers["content-type"].startswith("text/csv")
    again = list(csv.DictReader(io.StringIO(exported.text)))
    assert len(again) == len(rows)
    assert sum(r["loss"] == "inf" for r in again) == sum(math.isinf(r["loss"]) for r in rows)
    second = post_import(client, exported.text, name="second")
    assert second.status_code == 201, second.text
    first_plan = client.get(f"{API}/sweeps/{created['id']}/plan").json()["plan"]
    second_plan = client.get(f"{API}/sweeps/{second.json()['id']}/plan").json()["plan"]
    assert (
        first_plan["parametrizations"]["mup"]["hparams"] == second_plan["parametrizations"]["mup"]["hparams"]
    )
