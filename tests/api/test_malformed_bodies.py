"""Fifty malformed sweep bodies of different kinds: fifty 4xx answers with messages, and no rows stored."""

from __future__ import annotations

import copy
import json
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from orchestrator.store.models import Sweep, SweepEvent, SweepTag

URL = "/api/v1/sweeps"
JSON = {"content-type": "application/json"}


def _with(spec: dict[str, Any], path: str, value: Any) -> dict[str, Any]:
    spec = copy.deepcopy(spec)
    *parents, leaf = path.split(".")
    node = spec
    for key in parents:
        node = node[key]
    node[leaf] = value
    return spec


def _without(spec: dict[str, Any], path: str) -> dict[str, Any]:
    spec = copy.deepcopy(spec)
    *parents, leaf = path.split(".")
    node = spec
    for key in parents:
        node = node[key]
    del node[leaf]
    return spec


def malformed_requests(spec: dict[str, Any]) -> list[tuple[str, bytes, dict[str, str]]]:
    """(label, raw body, headers): broken encodings, wrong shapes, wrong types, bad values, limits."""
    raw: list[tuple[str, bytes, dict[str, str]]] = [
        ("empty body", b"", JSON),
        ("whitespace", b"   \n", JSON),
        ("truncated json", json.dumps(spec).encode()[:-5], JSON),
        ("not json", b"name: x", JSON),
        ("json array", b"[1, 2, 3]", JSON),
        ("json string", b'"a sweep"', JSON),
        ("json number", b"42", JSON),
        ("json null", b"null", JSON),
        (
            "NaN constant",
            json.dumps(_with(spec, "optimizer.weight_decay", 0.1)).replace("0.1", "NaN").encode(),
            JSON,
        ),
        ("invalid utf-8", b'{"name": "\xff\xfe"}', JSON),
        ("deep nesting", b"[" * 100_000 + b"]" * 100_000, JSON),
        ("wrong content type", json.dumps(spec).encode(), {"content-type": "text/plain"}),
        ("bad yaml", b"name: [unclosed", {"content-type": "application/yaml"}),
        (
            "yaml python object",
            b"!!python/object/apply:os.system ['true']",
            {"content-type": "application/yaml"},
        ),
        ("oversized body", b'{"name": "' + b"x" * 1_100_000 + b'"}', JSON),
    ]
    bodies: list[tuple[str, Any]] = [
        ("empty object", {}),
        ("missing name", _without(spec, "name")),
        ("missing proxy", _without(spec, "proxy")),
        ("missing search", _without(spec, "search")),
        ("missing target", _without(spec, "target")),
        ("unknown top-level field", {**spec, "learning_rate": 0.1}),
        ("unknown nested field", _with(spec, "proxy.stepz", 10)),
        ("name wrong type", _with(spec, "name", 123)),
        ("name empty", _with(spec, "name", "")),
        ("name bad chars", _with(spec, "name", "../../etc/passwd")),
        ("name too long", _with(spec, "name", "a" * 500)),
        ("tags not a list", _with(spec, "tags", "cpu")),
        ("too many tags", _with(spec, "tags", [f"t{i}" for i in range(100)])),
        ("widths descending", _with(spec, "proxy.widths", [128, 64, 32])),
        ("single width", _with(spec, "proxy.widths", [32])),
        ("negative width", _with(spec, "proxy.widths", [-32, 32, 64])),
        ("width as string", _with(spec, "proxy.widths", ["32", "sixty-four"])),
        ("width over limit", _with(_with(spec, "proxy.widths", [32, 2**20]), "target.width", 2**21)),
        ("target narrower", _with(spec, "target.width", 64)),
        ("target missing width", _with(spec, "target", {"steps": 10})),
        ("unknown parametrization", _with(spec, "parametrizations", ["mup", "ntk"])),
        ("no parametrizations", _with(spec, "parametrizations", [])),
        ("duplicate parametrizations", _with(spec, "parametrizations", ["mup", "mup"])),
        ("unknown optimizer", _with(spec, "optimizer.name", "adagrad")),
        ("betas out of range", _with(spec, "optimizer.betas", [0.9, 1.5])),
        ("unknown algorithm", _with(spec, "search.algorithm", "bayes")),
        ("empty space", _with(spec, "search.space", {})),
        ("unknown hyperparameter", _with(spec, "search.space", {"dropout": {"low": 0.1, "high": 0.5}})),
        ("low above high", _with(spec, "search.space.lr", {"low": 1.0, "high": 0.1})),
        ("log range not positive", _with(spec, "search.space.lr", {"low": 0.0, "high": 0.1})),
        ("choice without choices", _with(spec, "search.space.lr", {"scale": "choice"})),
        ("steps and tokens", _with(spec, "proxy.tokens", 1000)),
        ("zero steps", _with(spec, "proxy.steps", 0)),
        (
            "too many trials",
            _with(_with(spec, "search.algorithm", "random"), "search.trials_per_width", 10**6),
        ),
        ("huge seed", _with(spec, "proxy.seeds", [2**64])),
        ("bad spec version", _with(spec, "spec_version", 99)),
    ]
    raw += [(label, json.dumps(body).encode(), JSON) for label, body in bodies]
    return raw


def _stored_rows(client: TestClient) -> int:
    with client.app.state.service.store.session() as session:
        return sum(session.scalar(select(func.count()).select_from(t)) for t in (Sweep, SweepTag, SweepEvent))


def test_fifty_malformed_bodies_give_fifty_4xx_with_messages_and_store_nothing(
    api_client_factory, tiny_spec: dict[str, Any]
) -> None:
    client = api_client_factory(max_body_bytes=1_000_000)
    requests = malformed_requests(tiny_spec)
    assert len(requests) >= 50 and len({label for label, _, _ in requests}) == len(requests)
    statuses = {}
    for label, body, headers in requests:
        response = client.post(URL, content=body, headers=headers)
        assert 400 <= response.status_code < 500, f"{label}: {response.status_code} {response.text[:200]}"
        detail = response.json()["detail"]
        assert isinstance(detail, str) and len(detail) > 10, f"{label}: {detail!r}"
        statuses[label] = response.status_code
    assert _stored_rows(client) == 0
    assert statuses["oversized body"] == 413 and statuses["wrong content type"] == 415
    assert client.post(URL, json=tiny_spec).status_code == 201  # and a good body still gets in


@pytest.mark.parametrize(
    "label, expected",
    [
        ("widths descending", "proxy.widths: proxy.widths must be strictly ascending, got [128, 64, 32]"),
        ("unknown top-level field", "learning_rate: unknown field"),
        ("NaN constant", "the body is not valid JSON: NaN is not a valid number"),
        ("json array", "the body must be a JSON object (a sweep spec), got list"),
    ],
)
def test_malformed_body_messages_say_what_to_fix(
    api_client: TestClient, tiny_spec: dict, label: str, expected: str
):
    (body, headers) = next((b, h) for name, b, h in malformed_requests(tiny_spec) if name == label)
    assert expected in api_client.post(URL, content=body, headers=headers).json()["detail"]


@pytest.mark.parametrize("body", [b"", b"  \n"], ids=["no body", "whitespace"])
def test_validating_nothing_is_a_422_that_says_what_to_send(api_client: TestClient, body: bytes) -> None:
    """A dry run reports on any draft with a 200, but a request without one has nothing to report on."""
    response = api_client.post(f"{URL}/validate", content=body, headers=JSON)
    assert response.status_code == 422
    assert "the request body is empty" in response.json()["detail"]


@pytest.mark.parametrize(
    "method, path, allowed",
    [
        ("PUT", "/sweeps", "GET, POST"),
        ("PUT", "/sweeps/1", "DELETE, GET"),
        ("PATCH", "/sweeps/1/plan", "GET, POST"),
        ("DELETE", "/sweeps/1/target-run", "GET, POST"),
        ("GET", "/sweeps/validate", "POST"),  # a literal path, not /sweeps/{sweep_id} with a bad id
    ],
)
def test_a_405_names_every_method_the_path_takes(
    api_client: TestClient, method: str, path: str, allowed: str
) -> None:
    response = api_client.request(method, f"/api/v1{path}")
    assert response.status_code == 405, response.text
    assert response.headers["allow"] == allowed
    assert f"it takes {allowed}" in response.json()["detail"]
