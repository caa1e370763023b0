"""The provider callbacks' own small app, for an outreach process run without the web app (`telecare run outreach`).

Twilio posts call progress and key presses to TELECARE_PUBLIC_BASE_URL/twilio/…. They must reach the process that
placed the calls: its dialer waits for them (a web process has no dialer), so the proxy routes /twilio/ to
outreach (deploy/nginx/nginx.conf). On the same port this app also serves what a part run alone serves
(telecare/part_http.py): /healthz for the compose healthcheck and /metrics for Prometheus.
"""
from __future__ import annotations

from collections.abc import Sequence

from fastapi import APIRouter, FastAPI
from fastapi.responses import JSONResponse, Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from dashboards.errors import install_error_handlers
from dashboards.policy import POLICY, PolicyMissing, check_routes, route_keys
from dashboards.request_guards import BodyLimit, ControlCharGuard
from dashboards.security import install_security_headers
from telecare.health import Health
from telecare.metrics import REGISTRY
from telecare.part_http import health_report

# Twilio's callbacks are small forms (a few hundred bytes); nothing here needs the web app's 1 MiB.
MAX_CALLBACK_BYTES = 64 * 1024


def create_webhook_app(health: Health, routers: Sequence[APIRouter], *, hsts: bool = False) -> FastAPI:
    """Only the given provider routes, /healthz and /metrics; refuses to build with a route that needs a sign-in."""
    app = FastAPI(title="Telecare provider callbacks", docs_url=None, redoc_url=None, openapi_url=None)
    install_error_handlers(app)
    app.add_middleware(BodyLimit, default=MAX_CALLBACK_BYTES)
    app.add_middleware(ControlCharGuard)
    install_security_headers(app, hsts=hsts)
    for router in routers:
        app.include_router(router)

    @app.get("/healthz")
    async def healthz() -> JSONResponse:
        ok, body = health_report(health)
        return JSONResponse(body, status_code=200 if ok else 503, headers={"Cache-Control": "no-store"})

    @app.get("/metrics")
    async def metrics() -> Response:
        return Response(generate_latest(REGISTRY), media_type=CONTENT_TYPE_LATEST)

    check_routes(app)
    # This app has no sign-in at all (no sessions, no users table): a route the policy does not make public
    # would be open to anyone, so it is refused here rather than served.
    guarded = [f"{m} {p}" for m, p in route_keys(app) if not POLICY[(m, p)].public]
    if guarded:
        raise PolicyMissing("the callback app serves public routes only, not " + ", ".join(guarded))
    return app
