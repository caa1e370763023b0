"""The parts people use: telephony, outreach (planning, scheduler, dialer, escalation), its routes and the web app."""
from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, Any

from telecare.errors import ConfigError
from telecare.settings import Settings

if TYPE_CHECKING:
    from entrypoints.bootstrap import Core


def build_telephony(core: Core):
    """Twilio when configured, else the phone simulator."""
    s = core.settings
    if s.telephony == "twilio":
        missing = [n for n in ("twilio_account_sid", "twilio_auth_token", "twilio_from_number", "public_base_url")
                   if not getattr(s, n)]
        if missing:
            raise ConfigError("TELECARE_TELEPHONY=twilio needs " + ", ".join(f"TELECARE_{m.upper()}" for m in missing))
        from outreach.twilio_telephony import TwilioTelephony

        return TwilioTelephony(s.twilio_account_sid, s.twilio_auth_token, s.twilio_from_number, s.public_base_url,
                               base_url=s.twilio_base_url, clock=core.clock)
    from demo.simulated_telephony import SimulatedTelephony

    return SimulatedTelephony(core.clock)


def build_outreach(core: Core):
    """Outreach (planning, scheduler, dialer, escalation) with this process's telephony."""
    from entrypoints.kafka_parts import alerts_via_bus, on_kafka
    from outreach.service import OutreachService

    alerts = alerts_via_bus(core) if on_kafka(core.settings) else core.alerts  # welfare raises: alert-triggers
    return OutreachService(core.db, core.bus, alerts, core.registry, build_telephony(core),
                           core.clock, core.settings, health=core.health)


def on_twilio(outreach: Any | None) -> bool:
    """This process's outreach places its calls through Twilio (whose callbacks must reach it)."""
    return type(getattr(outreach, "telephony", None)).__name__ == "TwilioTelephony"


def outreach_routers(outreach: Any) -> list[Any]:
    """Care-team routes, plus the phone simulator page or the Twilio webhooks for the telephony in use."""
    from dashboards.routes import care

    deps = care.CareDeps(outreach.db, outreach.tasks, outreach.call_log, outreach.human_calls,
                         outreach.residents, outreach.clock, outreach.escalator)
    out = [care.router(deps)]
    # Imported lazily: only the adapter in use is loaded (twilio stays out of simulator processes).
    if type(outreach.telephony).__name__ == "SimulatedTelephony":
        from dashboards.routes.phones import router as phone_router

        out.append(phone_router(outreach.telephony))
    elif on_twilio(outreach):
        from dashboards.routes.phones import elsewhere_router
        from dashboards.routes.twilio_webhooks import router as webhook_router
        from entrypoints.web_alone import TWILIO_PHONES

        out.append(webhook_router(outreach.telephony, outreach.dialer.on_update))
        out.append(elsewhere_router(TWILIO_PHONES))  # the nav's phone link still explains itself
    return out


def build_web(core: Core, routers: list[Any]):
    """The FastAPI app with every component's routes."""
    from dashboards.app import WebDeps, create_app
    from dashboards.routes.auth import WebAuth
    from dashboards.routes.commissioning import router as commissioning_router
    from dashboards.routes.devices import router as devices_router
    from dashboards.routes.fleet import router as fleet_router
    from dashboards.routes.quality import router as quality_router
    from entrypoints.gdpr_wiring import gdpr_router
    from identity.service import Identity, IdentityConfig

    s = core.settings
    auth = WebAuth.from_settings(Identity(core.db, core.clock, IdentityConfig.from_settings(s)), s)
    deps = WebDeps(db=core.db, bus=core.bus, alerts=core.alerts, clock=core.clock, health=core.health,
                   service_timezone=s.service_timezone, auth=auth, hsts=s.cookies_secure,
                   extra_routers=tuple([devices_router(core.registry, core.clock),
                                        commissioning_router(core.db, core.alerts, core.clock),
                                        fleet_router(core.db, core.clock),
                                        gdpr_router(core.db, core.clock, s),
                                        quality_router(core.db, core.clock, s.service_timezone), *routers]))
    return create_app(deps)  # every route behind dashboards/policy.py, security headers on every answer


def serve_web_app(app: Any, settings: Settings, ready: asyncio.Event):
    """uvicorn serving `app` on the settings' host and port (a coroutine to run as a watched task)."""
    from dashboards.server import serve_web

    return serve_web(app, settings.http_host, settings.http_port, ready)
