"""Fuzz every POST route (and every GET but the streams) from the app's own OpenAPI schema against the real app
on a real PostgreSQL: whatever the input, the answer is never a 5xx."""
from __future__ import annotations

import asyncio
import time
from datetime import datetime, timedelta, timezone

import pytest
import requests
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode

from alerts.store import AlertStore
from dashboards.app import WebDeps, create_app
from dashboards.routes import twilio_webhooks
from dashboards.routes.devices import router as devices_router
from demo.simulated_telephony import SimulatedTelephony
from devices.registry import Registry
from entrypoints.outreach_web import outreach_routers
from outreach.planning import PlannedCall
from outreach.service import OutreachService
from outreach.twilio_telephony import TwilioTelephony
from telecare.alerts import AlertTrigger, AlertType, Severity
from telecare.bus import InProcessBus
from telecare.clock import FakeClock
from telecare.people import Resident
from telecare.settings import load_settings
from tests.e2e.browser import serve

pytestmark = pytest.mark.integration
NOW = datetime(2026, 7, 15, 9, 0, tzinfo=timezone.utc)
POST_EXAMPLES = 100  # per route and generation mode (valid and invalid inputs): 200 per POST route
GET_EXAMPLES = 25
CLIENT_REFUSED = (requests.exceptions.InvalidHeader, requests.exceptions.InvalidURL, UnicodeError)
SKIP = {"/api/alerts/stream", "/api/phones/stream"}  # endless streams: nothing to fuzz


async def _app(db):
    clock = FakeClock(NOW)
    bus = InProcessBus()
    registry = Registry(db)
    await registry.upsert_resident(Resident("r1", "Resident One", phones=("+34600000001",),
                                            latitude=41.39, longitude=2.17))
    alerts = AlertStore(db, bus)
    await alerts.raise_or_attach(AlertTrigger("r1", AlertType.FALL, Severity.CRITICAL, NOW, "fall"), NOW)
    sim = SimulatedTelephony(clock)
    service = OutreachService(db, bus, alerts, registry, sim, clock, load_settings(database_url=None))
    await service.tasks.save_plans([PlannedCall("r1", "follow_up", "human", NOW.date(), NOW - timedelta(hours=1),
                                                NOW + timedelta(hours=8), 10, "team-a", "k1", "follow-up")], NOW)
    twilio = TwilioTelephony("AC" + "0" * 32, "token", "+34930001122", "http://127.0.0.1", clock=clock)
    routers = (devices_router(registry, clock), *outreach_routers(service), twilio_webhooks.router(twilio))
    return create_app(WebDeps(db=db, bus=bus, alerts=alerts, clock=clock, residents=registry,
                              extra_routers=routers)), twilio


def _fuzz(schema, base: str) -> tuple[list[str], dict[str, int]]:
    """Run every operation's strategies (blocking: called in a thread while the server runs in the loop)."""
    failures: list[str] = []
    counts: dict[str, int] = {}
    session = requests.Session()
    for result in schema.get_all_operations():
        op = result.ok()
        if op.path in SKIP or op.method.upper() not in ("GET", "POST"):
            continue
        examples = POST_EXAMPLES if op.method.upper() == "POST" else GET_EXAMPLES
        label = f"{op.method.upper()} {op.path}"
        for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):
            @settings(max_examples=examples, deadline=None, database=None, phases=[Phase.generate],
                      suppress_health_check=list(HealthCheck))
            @given(case=op.as_strategy(generation_mode=mode))
            def one(case) -> None:
                try:
                    response = case.call(base_url=base, session=session, timeout=30)
                except CLIENT_REFUSED:
                    return  # requests would not send it (e.g. NUL in a header): nothing reached the app
                except requests.RequestException as err:  # a hang or a dropped connection is a failure too
                    failures.append(f"{label} -> {type(err).__name__} for path={case.path_parameters} "
                                    f"query={case.query} body={str(case.body)[:160]!r}")
                    return
                counts[label] = counts.get(label, 0) + 1
                if response.status_code >= 500 and len(failures) < 20:
                    failures.append(f"{label} -> {response.status_code} {response.text[:160]!r} for "
                                    f"path={case.path_parameters} query={case.query} body={str(case.body)[:160]!r}")
            try:
                one()
            except Unsatisfiable:
                pass  # no invalid input exists for this operation (it takes no parameters)
    return failures, counts


async def test_no_route_answers_5xx_whatever_the_input(db) -> None:
    app, twilio = await _app(db)
    schema = schemathesis.openapi.from_dict(app.openapi())
    started = time.monotonic()
    try:
        async with serve(app) as base:
            failures, counts = await asyncio.to_thread(_fuzz, schema, base)
    finally:
        await twilio.close()
    posts = {k for k in counts if k.startswith("POST ")}
    assert len(posts) >= 14, sorted(posts)  # every POST route of the app was exercised
    assert not failures, "\n".join(failures)
    assert time.monotonic() - started < 90
