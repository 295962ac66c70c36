"""Serves the UI: the two pages, their static assets, and the vendored Chart.js that draws the plots.

Nothing here reads the database: pages are static shells whose scripts call `/api/v1` with the user's
token, so the UI has exactly the access its token grants and no second code path to secure. The pages
and assets themselves hold no data and need no token. The machine is offline and the UI must work
without a CDN: Chart.js is `api/ui/vendor/chart.min.js`, Chart.js 3.9.1 (MIT) as Debian's `libjs-chart.js`
ships it, vendored so that a pip install serves it (docs/architecture.md says why Chart.js).
"""

from __future__ import annotations

from importlib.resources import files
from pathlib import Path
from typing import Any

from fastapi import APIRouter, FastAPI, HTTPException, Request
from fastapi.responses import FileResponse, Response
from fastapi.staticfiles import StaticFiles

from api.ui import assets

UI_DIR = Path(str(files("api.ui")))
STATIC_DIR = UI_DIR / "static"
CHART_JS = UI_DIR / "vendor" / "chart.min.js"

# Pages must pick up a new release at once; versioned vendor code may be cached for a day.
NO_CACHE = {"Cache-Control": "no-cache"}
VENDOR_CACHE = {"Cache-Control": "public, max-age=86400"}

router = APIRouter(include_in_schema=False)


def _page(name: str) -> FileResponse:
    return FileResponse(STATIC_DIR / name, media_type="text/html", headers=NO_CACHE)


@router.get("/")
def sweeps_page() -> FileResponse:
    return _page("index.html")


@router.get("/sweeps/{sweep_id}")
def sweep_page(sweep_id: str) -> FileResponse:
    """The sweep page for any id: a missing sweep is reported by the page itself (from the API's 404)."""
    return _page("sweep.html")


@router.get("/ui/vendor/chart.min.js")
def chart_js(request: Request) -> Response:
    """Chart.js, gzipped once and revalidated by ETag (api/ui/assets.py)."""
    if not CHART_JS.is_file():
        raise HTTPException(
            status_code=404, detail=f"chart.min.js not found at {CHART_JS}: reinstall mutransfer"
        )
    return assets.respond(assets.load(CHART_JS, "text/javascript"), request, VENDOR_CACHE)


class _RevalidatedStatic(StaticFiles):
    """Static assets revalidated on every load (ETag → 304), so a deployed change is never stale."""

    def file_response(self, *args: Any, **kwargs: Any) -> Response:
        response = super().file_response(*args, **kwargs)
        response.headers.update(NO_CACHE)
        return response


def mount_ui(app: FastAPI) -> None:
    """Add the UI's pages and assets to `app` (call once, in the app factory)."""
    app.include_router(router)
    app.mount("/ui/static", _RevalidatedStatic(directory=STATIC_DIR), name="ui-static")
