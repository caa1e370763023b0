"""FastAPI factory for the operator app: routes, error mapping, static files and the live fan-out."""
from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

from fastapi import APIRouter, FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from fastapi.staticfiles import StaticFiles
from starlette.exceptions import HTTPException as StarletteHTTPException

from telecare.alerts import AlertSink
from telecare.bus import Bus
from telecare.clock import Clock
from telecare.health import Health
from telecare.errors import ConflictError, InvalidInput, NotFound, StoreError
from telecare.metrics import HTTP_ERRORS
from telecare.people import ResidentLookup
from telecare.settings import DEFAULT_SERVICE_TIMEZONE
from telecare.store import Database

from dashboards.audit import AuditLog
from dashboards.live import LiveHub
from dashboards.queries import AlertQueries, ResidentQueries
from dashboards.routes import alerts as alert_routes
from dashboards.routes import config as config_routes
from dashboards.routes import residents as resident_routes
from dashboards.routes import system as system_routes
from dashboards.views import readable_errors

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class WebDeps:
    """What the operator app needs; the composition root builds it."""

    db: Database
    bus: Bus
    alerts: AlertSink
    clock: Clock
    extra_routers: tuple[APIRouter, ...] = ()
    # Accepted so the composition root can pass what docs/architecture.md lists; the app itself reads
    # resident cards straight from the tables (dashboards.queries) because it needs audit-scoped columns.
    residents: ResidentLookup | None = None
    health: Health = field(default_factory=Health)
    service_timezone: str = DEFAULT_SERVICE_TIMEZONE  # TELECARE_SERVICE_TIMEZONE: every page's times


def _error(request: Request, status: int, detail: Any) -> JSONResponse:
    """Answer with {"detail": ...}; count client rejections; log server-side failures by path, never the body."""
    if status < 500:
        HTTP_ERRORS.labels(str(status)).inc()
    else:
        log.warning("%s %s -> %s", request.method, request.url.path, status)
    return JSONResponse({"detail": detail}, status_code=status)


def _install_error_handlers(app: FastAPI) -> None:
    # (exception type, status): our own errors carry operator-safe messages by design.
    mapping: tuple[tuple[type[Exception], int], ...] = (
        (NotFound, 404), (ConflictError, 409), (InvalidInput, 400), (StoreError, 503),
    )
    for exc_type, status in mapping:
        async def handler(request: Request, exc: Exception, status: int = status) -> JSONResponse:
            return _error(request, status, str(exc))
        app.add_exception_handler(exc_type, handler)

    async def validation(request: Request, exc: RequestValidationError) -> JSONResponse:
        return _error(request, 422, readable_errors(exc.errors()))

    async def http_error(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        response = _error(request, exc.status_code, exc.detail)
        if exc.headers:
            response.headers.update(exc.headers)
        return response

    app.add_exception_handler(RequestValidationError, validation)
    app.add_exception_handler(StarletteHTTPException, http_error)


def create_app(deps: WebDeps) -> FastAPI:
    """The operator web app. Its lifespan runs the one bus subscription that feeds every browser."""
    queries = ResidentQueries(deps.db)
    audit = AuditLog(deps.db)

    hub = LiveHub(deps.bus, alert_routes.live_render(AlertQueries(deps.db), deps.clock), health=deps.health)

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        hub.start()
        try:
            yield
        finally:
            await hub.stop()

    app = FastAPI(title="Telecare operator API", version="0.1.0", lifespan=lifespan,
                  description="Alert queue, resident cards (audited), live stream, metrics.")
    app.state.live = hub
    _install_error_handlers(app)
    app.include_router(alert_routes.router(deps, queries, hub))
    app.include_router(resident_routes.router(deps, queries, audit))
    app.include_router(system_routes.router(queries, hub, deps.health))
    app.include_router(config_routes.router(deps.service_timezone, deps.clock))
    for extra in deps.extra_routers:
        app.include_router(extra)
    if not any(getattr(r, "path", None) == "/api/escalations" for r in app.routes):
        # The operator page polls escalation tiers; without outreach in this process there are none.
        @app.get("/api/escalations", include_in_schema=False)
        async def no_escalations() -> list:
            return []
    app.mount("/static", StaticFiles(directory=system_routes.STATIC_DIR), name="static")
    return app
