"""What a process without the web app serves on its port: /healthz and /metrics, and Twilio's callbacks in outreach.

A part run alone serves its endpoints only when TELECARE_HTTP_PORT is set (the image sets 8000), so parts started
side by side on one host never fight over a port. Outreach on Twilio always serves: Twilio reports every call's
progress and key presses to /twilio/…, the dialer of the process that placed the call waits for them, and without
them no call would ever be known answered. A port clash then fails the start, loudly.
"""
from __future__ import annotations

import asyncio
from collections.abc import Callable, Coroutine
from typing import Any

from entrypoints.outreach_web import on_twilio, serve_web_app
from telecare.part_http import part_port, serve_part_http

Serve = Callable[[asyncio.Event], Coroutine[Any, Any, None]]


def part_endpoints(core: Any, outreach: Any | None) -> Serve | None:
    """How this part serves its endpoints (called with a ready event), or None when it serves nothing."""
    settings = core.settings
    if on_twilio(outreach):
        from dashboards.routes.twilio_webhooks import router as webhook_router
        from dashboards.webhook_app import create_webhook_app

        app = create_webhook_app(core.health, [webhook_router(outreach.telephony, outreach.dialer.on_update)],
                                 hsts=settings.cookies_secure)
        return lambda ready: serve_web_app(app, settings, ready)
    port = part_port(settings)
    if port is None:
        return None
    return lambda ready: serve_part_http(core.health, settings.http_host, port, ready)
