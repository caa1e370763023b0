"""Operational routes: the operator page, Prometheus metrics and the health check."""
from __future__ import annotations

import asyncio
import logging
from pathlib import Path

from fastapi import APIRouter
from fastapi.responses import FileResponse, JSONResponse, Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from telecare.health import Health
from telecare.metrics import ACTIVE_ALERTS, REGISTRY

from dashboards.live import LiveHub
from dashboards.queries import ResidentQueries

log = logging.getLogger(__name__)

# A load balancer should hear "down" quickly rather than wait for the pool's own timeout.
HEALTH_TIMEOUT_SECONDS = 3.0
STATIC_DIR = Path(__file__).resolve().parent.parent / "static"


def router(queries: ResidentQueries, hub: LiveHub, health: Health) -> APIRouter:
    """/, /metrics and /healthz."""
    api = APIRouter(tags=["system"])

    @api.get("/", include_in_schema=False)
    async def operator_page() -> FileResponse:
        return FileResponse(STATIC_DIR / "index.html", headers={"Cache-Control": "no-cache"})

    @api.get("/favicon.ico", include_in_schema=False)
    async def favicon() -> FileResponse:
        # Pages that do not link the icon still get one instead of a 404 in every browser console.
        return FileResponse(STATIC_DIR / "favicon.svg", media_type="image/svg+xml")

    @api.get("/metrics", summary="Prometheus metrics")
    async def metrics() -> Response:
        # Open alerts are counted at scrape time (every web process reports the same figure: dashboards take max).
        try:
            counts = await asyncio.wait_for(queries.active_alerts_by_severity(), HEALTH_TIMEOUT_SECONDS)
        except Exception:  # noqa: BLE001 - the counters still answer; the gauge keeps its last value
            log.warning("metrics: could not count active alerts")
        else:
            for severity, n in counts.items():
                ACTIVE_ALERTS.labels(severity).set(n)
        return Response(generate_latest(REGISTRY), media_type=CONTENT_TYPE_LATEST)

    @api.get("/healthz", summary="Each part's real state and database reachability (503 unless all are ok)")
    async def healthz() -> JSONResponse:
        try:
            database_ok = await asyncio.wait_for(queries.ping(), HEALTH_TIMEOUT_SECONDS)
        except Exception:  # noqa: BLE001 - whatever the failure (closed pool, timeout, refused), it is "down"
            log.warning("health check: database unavailable")
            database_ok = False
        healthy = database_ok and health.ok
        body = {"status": "ok" if healthy else "unavailable", "database": "up" if database_ok else "down",
                "parts": {p.part: {"state": p.state.value, "detail": p.detail, "since": p.since.isoformat()}
                          for p in health.parts()},
                "live_clients": hub.client_count}
        return JSONResponse(body, status_code=200 if healthy else 503)

    return api
