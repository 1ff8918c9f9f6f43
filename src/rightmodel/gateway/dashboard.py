"""GET /dashboard: what the constellation costs and saves, plotted from the ledger.

Every asset comes from this gateway (no CDN: it must work on an offline network and leak no
visit): the page and its script from ``gateway/dashboard_assets/``, Plotly's ``plotly.min.js``
from the same directory in a wheel (copied there at build time, so serving does not install the
60 MB ``plotly`` package), else from the ``plotly`` package (a checkout). The page holds no data; it fetches
``/dashboard/data`` (report/series.py), which needs an admin key once keys exist unless
``observability.dashboard`` is ``open``. A strict Content-Security-Policy keeps the page to its
own origin.
"""

from __future__ import annotations

import asyncio
import gzip
from datetime import datetime, timezone
from importlib import resources
from pathlib import Path

import orjson
from fastapi import APIRouter
from starlette.requests import Request
from starlette.responses import Response

from rightmodel.errors import ConfigError
from rightmodel.gateway.deadlines import with_deadline
from rightmodel.gateway.errors import APIError, invalid

router = APIRouter(tags=["dashboard"])

OWN = "rightmodel.gateway.dashboard_assets"
ASSETS = {  # name -> (where it may be: (package, file) pairs, the first found wins; media type)
    "dashboard.js": (((OWN, "dashboard.js"),), "text/javascript; charset=utf-8"),
    "dashboard.css": (((OWN, "dashboard.css"),), "text/css; charset=utf-8"),
    "plotly.min.js": (((OWN, "plotly.min.js"), ("plotly", "package_data/plotly.min.js")), "text/javascript; charset=utf-8"),
}
CSP = ("default-src 'none'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data: blob:; "
       "connect-src 'self'; font-src 'self' data:; base-uri 'none'; form-action 'none'; frame-ancestors 'none'")
DEFAULT_SINCE = "24h"


class AssetCache:
    """The assets' bytes, plain and gzipped, read once per gateway (plotly.min.js is 4.8 MB,
    1.4 MB gzipped). Lives in ``app.state``, not in this module."""

    def __init__(self) -> None:
        self._plain: dict[str, bytes] = {}
        self._gzipped: dict[str, bytes] = {}

    def get(self, name: str, gzipped: bool) -> bytes:
        if name not in self._plain:
            self._plain[name] = asset_path(name).read_bytes()
        if not gzipped:
            return self._plain[name]
        if name not in self._gzipped:
            self._gzipped[name] = gzip.compress(self._plain[name], compresslevel=6, mtime=0)
        return self._gzipped[name]


def _cache(request: Request) -> AssetCache:
    cache = getattr(request.app.state, "dashboard_assets", None)
    if cache is None:
        cache = request.app.state.dashboard_assets = AssetCache()
    return cache


def _page() -> bytes:
    return resources.files("rightmodel.gateway.dashboard_assets").joinpath("index.html").read_bytes()


@router.get("/dashboard", summary="The dashboard page (HTML; its data comes from /dashboard/data)", include_in_schema=False)
async def dashboard_page() -> Response:
    return Response(_page(), media_type="text/html; charset=utf-8",
                    headers={"Content-Security-Policy": CSP, "Cache-Control": "no-cache", "X-Content-Type-Options": "nosniff"})


@router.get("/dashboard/assets/{name}", include_in_schema=False)
async def dashboard_asset(name: str, request: Request) -> Response:
    if name not in ASSETS:
        raise APIError(404, f"no dashboard asset {name!r}", code="not_found")
    gzipped = "gzip" in request.headers.get("accept-encoding", "")
    body = await asyncio.to_thread(_cache(request).get, name, gzipped)
    headers = {"Cache-Control": "public, max-age=3600", "X-Content-Type-Options": "nosniff", "Vary": "Accept-Encoding"}
    if gzipped:
        headers["Content-Encoding"] = "gzip"
    return Response(body, media_type=ASSETS[name][1], headers=headers)


@router.get("/dashboard/data", summary="The dashboard's numbers for a window (JSON)")
@with_deadline("admin_deadline_s")
async def dashboard_data(request: Request) -> Response:
    """Query: ``since`` (default 24h; ``all`` for the whole ledger) and ``until``, in the forms
    of ``rightmodel report --since``."""
    from rightmodel.report.drift import drift_bands
    from rightmodel.report.series import build_dashboard
    from rightmodel.report.timespec import parse_time

    state = request.app.state.gateway
    if state.constellation.observability.dashboard == "admin":
        state.guard.require_admin_once_keys_exist(request)
    now = datetime.now(timezone.utc)
    window = {}
    for name in ("since", "until"):
        value = request.query_params.get(name, DEFAULT_SINCE if name == "since" else None)
        if value in (None, "", "all"):
            window[name] = None
            continue
        try:
            window[name] = parse_time(value, now, name)
        except ConfigError as exc:
            raise invalid(name, str(exc)) from None
    if window["since"] and window["until"] and window["since"] >= window["until"]:
        raise invalid("since", "'since' must be before 'until'")
    c = state.constellation
    try:
        data = await asyncio.to_thread(
            build_dashboard, state.ledger.engine, window["since"], window["until"], now,
            c.defaults.local_fixed_cost_per_month, drift_bands(c),
            {b.ref: b.target_accuracy for b in state.specialists.values() if b.target_accuracy is not None},
        )
    except ConfigError as exc:
        raise APIError(503, f"the ledger cannot be read right now: {exc}", code="ledger_unavailable", headers={"Retry-After": "5"}) from None
    data["ledger_pending"] = state.ledger.stats().get("pending", 0)
    return Response(orjson.dumps(data), media_type="application/json", headers={"Cache-Control": "no-store"})


def asset_path(name: str) -> Path:
    """Where an asset lives on disk (tests check the page needs nothing else)."""
    for package, file in ASSETS[name][0]:
        try:
            path = Path(str(resources.files(package).joinpath(file)))
        except ModuleNotFoundError:
            continue
        if path.is_file():
            return path
    raise ConfigError(f"dashboard asset {name} is not installed (a wheel carries it; a checkout needs the plotly package)")
