"""Responses are compressed where the client accepts it: the vendored Chart.js (gzipped once per process,
with a content ETag that answers 304) and large JSON pages (the gzip middleware); a client without gzip gets
the plain bytes, and the decompressed body is byte-identical."""

from __future__ import annotations

import gzip
from typing import Any

import httpx
from fastapi.testclient import TestClient

from api.ui.pages import CHART_JS


def raw_get(client: TestClient, path: str, **headers: str) -> tuple[httpx.Headers, bytes]:
    """Headers and body as sent: TestClient's httpx would decode gzip itself, so read the raw stream."""
    with client.stream("GET", path, headers=headers) as response:
        return response.headers, b"".join(response.iter_raw())


def test_chart_js_is_served_gzipped_with_an_etag_that_revalidates(api_client: TestClient) -> None:
    plain = CHART_JS.read_bytes()
    headers, zipped = raw_get(api_client, "/ui/vendor/chart.min.js", **{"Accept-Encoding": "gzip"})
    assert headers["content-encoding"] == "gzip" and len(zipped) < 0.4 * len(plain)
    assert gzip.decompress(zipped) == plain
    etag = headers["etag"]
    again = api_client.get("/ui/vendor/chart.min.js", headers={"If-None-Match": etag})
    assert again.status_code == 304 and again.content == b"" and again.headers["etag"] == etag
    headers, body = raw_get(api_client, "/ui/vendor/chart.min.js", **{"Accept-Encoding": "identity"})
    assert "content-encoding" not in headers and body == plain


def test_large_json_pages_are_gzipped_small_ones_are_not(
    api_client: TestClient, tiny_spec: dict[str, Any]
) -> None:
    for i in range(40):
        spec = {**tiny_spec, "name": f"compressed-{i}", "description": "x" * 200}
        assert api_client.post("/api/v1/sweeps", json=spec).status_code == 201
    headers, page = raw_get(api_client, "/api/v1/sweeps?limit=40", **{"Accept-Encoding": "gzip"})
    assert headers.get("content-encoding") == "gzip"
    assert len(gzip.decompress(page)) > 5 * len(page)
    headers, _ = raw_get(api_client, "/health", **{"Accept-Encoding": "gzip"})
    assert "content-encoding" not in headers
