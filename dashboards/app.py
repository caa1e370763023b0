"""FastAPI factory for the operator app: routes, error mapping, static files and the live fan-out."""
from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

from fastapi import APIRouter, Depends, FastAPI
from fastapi.staticfiles import StaticFiles

from telecare.alerts import AlertSink
from telecare.bus import Bus
from telecare.clock import Clock
from telecare.health import Health
from telecare.i18n import Language
from telecare.people import ResidentLookup
from telecare.settings import DEFAULT_SERVICE_TIMEZONE, load_settings
from telecare.store import Database

from dashboards import api_docs
from dashboards.access import Access, PageDenied, authorize, denied_page
from dashboards.audit import AuditLog
from dashboards.policy import check_routes
from dashboards.routes import audit as audit_routes
from dashboards.routes import auth as auth_routes
from dashboards.routes import users as user_routes
from dashboards.security import install_security_headers
from dashboards.request_guards import BodyLimit, ControlCharGuard
from dashboards.errors import install_error_handlers
from dashboards.live import LiveHub
from dashboards.queries import AlertQueries, ResidentQueries
from dashboards.routes import alerts as alert_routes
from dashboards.routes import config as config_routes
from dashboards.routes import i18n as i18n_routes
from dashboards.routes import resident_page as resident_page_routes
from dashboards.routes import residents as resident_routes
from dashboards.routes import system as system_routes
from outreach.cap import MAX_BYTES as MAX_CAP_BYTES

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
    service_language: Language | None = None  # None: TELECARE_SERVICE_LANGUAGE (pages until a user chooses)
    max_body_bytes: int | None = None  # None: TELECARE_MAX_BODY_BYTES (default 1 MiB)
    # Who is calling (sessions, tokens). None: an Identity over `db` with the settings' cookie and session rules.
    auth: auth_routes.WebAuth | None = None
    hsts: bool | None = None  # None: when the settings say cookies are secure (served over HTTPS)


def default_auth(deps: WebDeps) -> auth_routes.WebAuth:
    """The password login over the app's own database, with TELECARE_SESSION_* and cookie settings."""
    from identity.service import Identity, IdentityConfig

    s = load_settings()
    return auth_routes.WebAuth.from_settings(Identity(deps.db, deps.clock, IdentityConfig.from_settings(s)), s)


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

    # Every route gets `authorize`: dashboards/policy.py's table decides who may call it.
    app = FastAPI(title="Telecare operator API", version="0.1.0", lifespan=lifespan,
                  description="Alert queue, resident cards (audited), live stream, metrics. Every route needs the "
                              "role dashboards/policy.py lists: sign in (POST /api/session) or send "
                              "`Authorization: Bearer <token>`.",
                  docs_url=None, redoc_url=None,  # served by api_docs from local files, not a CDN
                  dependencies=[Depends(authorize)])
    app.state.live = hub
    auth = deps.auth or default_auth(deps)
    app.state.access = Access(deps.db, audit, deps.clock)
    install_error_handlers(app)
    app.add_exception_handler(PageDenied, denied_page)
    limit = deps.max_body_bytes or load_settings().max_body_bytes
    # A CAP warning may carry detailed polygons; its parser bounds what it does with them.
    app.add_middleware(BodyLimit, default=limit, per_path={"/api/campaigns/weather": MAX_CAP_BYTES})
    app.add_middleware(ControlCharGuard)
    install_security_headers(app, hsts=load_settings().cookies_secure if deps.hsts is None else deps.hsts)
    api_docs.install(app)
    auth_routes.install(app, auth)
    app.include_router(audit_routes.router(audit, deps.clock))
    app.include_router(user_routes.router(auth.identity, audit))
    app.include_router(alert_routes.router(deps, queries, hub, audit))
    app.include_router(resident_routes.router(deps, queries, audit))
    app.include_router(resident_page_routes.router(deps, audit, auth.identity.users))
    app.include_router(system_routes.router(queries, hub, deps.health))
    language = deps.service_language or load_settings().service_language
    app.include_router(config_routes.router(deps.service_timezone, deps.clock, language))
    app.include_router(i18n_routes.router(auth.identity, language))
    for extra in deps.extra_routers:
        app.include_router(extra)
    if not any(getattr(r, "path", None) == "/api/escalations" for r in app.routes):
        # The operator page polls escalation tiers; without outreach in this process there are none.
        @app.get("/api/escalations", include_in_schema=False)
        async def no_escalations() -> list:
            return []
    app.mount("/static", StaticFiles(directory=system_routes.STATIC_DIR), name="static")
    check_routes(app)  # a route without a policy row: no app
    return app
