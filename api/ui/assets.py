"""A vendored asset served compressed and revalidated: Chart.js (200 KB) is the largest file of a cold page
load, and it only changes with a release of mutransfer.

It is gzipped once per process (level 6: about 30 % of its size; gzipping per request at the middleware's
level would cost more CPU than the transfer saves on a fast link) and carries a content ETag, so a browser
that has it gets a 304 with no body. A client that does not accept gzip gets the plain bytes.
"""

from __future__ import annotations

import functools
import gzip
import hashlib
from dataclasses import dataclass
from pathlib import Path

from fastapi import Request
from fastapi.responses import Response


@dataclass(frozen=True)
class Asset:
    plain: bytes
    gzipped: bytes
    etag: str
    media_type: str


@functools.cache
def load(path: Path, media_type: str) -> Asset:
    """Read, compress and tag `path` once (the file is part of an installed package: it does not change
    while the process runs)."""
    plain = path.read_bytes()
    etag = '"' + hashlib.sha256(plain).hexdigest()[:32] + '"'
    return Asset(plain, gzip.compress(plain, compresslevel=6, mtime=0), etag, media_type)


def respond(asset: Asset, request: Request, headers: dict[str, str]) -> Response:
    """304 when the client's copy is current, else the gzipped body where accepted, else the plain one."""
    common = {**headers, "ETag": asset.etag, "Vary": "Accept-Encoding"}
    if asset.etag in _etags(request.headers.get("if-none-match", "")):
        return Response(status_code=304, headers=common)
    if "gzip" in request.headers.get("accept-encoding", "").lower():
        return Response(
            asset.gzipped, media_type=asset.media_type, headers={**common, "Content-Encoding": "gzip"}
        )
    return Response(asset.plain, media_type=asset.media_type, headers=common)


def _etags(header: str) -> set[str]:
    return {tag.strip().removeprefix("W/") for tag in header.split(",") if tag.strip()}
