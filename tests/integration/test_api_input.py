"""Bad input seen in the field gets a clear 4xx, and one error map gives every route the same status."""
from __future__ import annotations

from datetime import datetime, timezone

import pytest

from alerts.store import AlertStore
from dashboards.app import WebDeps, create_app
from dashboards.errors import ERROR_MAP, status_for
from dashboards.routes.devices import router as devices_router
from demo.simulated_telephony import SimulatedTelephony
from devices.registry import Registry
from entrypoints.outreach_web import outreach_routers
from outreach.service import OutreachService
from telecare.bus import InProcessBus
from telecare.clock import FakeClock
from telecare.errors import ConflictError, StoreError, TelecareError
from telecare.settings import load_settings
from identity.model import Role
from tests.web_helpers import session_client
from tests.e2e.browser import api_client

pytestmark = pytest.mark.integration
NOW = datetime(2026, 7, 15, 9, 0, tzinfo=timezone.utc)


@pytest.fixture
async def client(db):
    clock = FakeClock(NOW)
    bus = InProcessBus()
    registry = Registry(db)
    alerts = AlertStore(db, bus)
    service = OutreachService(db, bus, alerts, registry, SimulatedTelephony(clock), clock,
                              load_settings(database_url=None))
    app = create_app(WebDeps(db=db, bus=bus, alerts=alerts, clock=clock, residents=registry,
                             extra_routers=(devices_router(registry, clock), *outreach_routers(service))))
    # Every role at once (a session): this file is about input checks on every route, not about who may call them.
    async with session_client(app, list(Role), teams=["team-a"], name="everyone") as c:
        yield c


INFO = {"title": "Flu", "message": "Vaccines", "by": "Anna"}
RESIDENT = {"id": "r-1", "name": "Carme Sala"}


@pytest.mark.parametrize("path,body,where", [
    ("/api/campaigns/information", {**INFO, "audience": {"geocodes": 7}}, "audience.geocodes"),
    ("/api/campaigns/information", {**INFO, "audience": 7}, "audience"),
    ("/api/campaigns/information", {**INFO, "by": "An\x00na"}, "by: Value error, must not contain control"),
    ("/api/residents", {**RESIDENT, "timezone": "E" * 300}, "timezone"),
    ("/api/residents", {**RESIDENT, "timezone": "../../etc/passwd"}, "timezone: Value error, unknown time zone"),
    ("/api/residents", {**RESIDENT, "id": "r\x00"}, "id"),
    ("/api/residents", {**RESIDENT, "name": "Carme\x00"}, "name: Value error, must not contain control"),
    ("/api/alerts/1/acknowledge", {"by": "An\x00na"}, "by: Value error, must not contain control"),
    ("/api/alerts/99999999999999999999/acknowledge", {"by": "Anna"}, "alert_id"),
    ("/api/calls/start", {"task_id": 2**70, "caller": "Anna"}, "task_id"),
])
async def test_bad_bodies_get_422_naming_the_field(client, path, body, where) -> None:
    response = await client.post(path, json=body)
    assert response.status_code == 422, response.text
    assert where in response.json()["detail"]


async def test_row_ids_out_of_range_in_a_query_get_422_not_a_database_error(client) -> None:
    # Found by the schemathesis run: -3e22 and 2**70 used to reach PostgreSQL and come back as a 503.
    for url in ("/api/calls?campaign_id=-3", "/api/calls?campaign_id=99999999999999999999",
                "/api/calls.csv?campaign_id=0"):
        response = await client.get(url)
        assert response.status_code == 422 and "campaign_id" in response.json()["detail"], (url, response.text)


async def test_control_characters_in_urls_get_400(client) -> None:
    for url in ("/api/alerts?resident_id=r%00", "/api/devices?resident_id=%01", "/api/calls?purpose=a%00b",
                "/api/campaigns/weather?sample=true&by=A%00"):
        response = await client.request("POST" if "weather" in url else "GET", url)
        assert response.status_code == 400, (url, response.text)
        assert "control characters" in response.json()["detail"]


async def test_the_same_database_error_is_the_same_status_on_every_route(client, db) -> None:
    # Every table gone: each route's query fails in PostgreSQL and the store raises the same StoreError.
    await db.execute("DROP SCHEMA public CASCADE")
    await db.execute("CREATE SCHEMA public")
    answers = {path: await client.get(path) for path in ("/api/alerts", "/api/calls", "/api/devices",
                                                         "/api/campaigns/1")}
    assert {p: (r.status_code, r.json()["detail"]) for p, r in answers.items()} == {
        p: (503, "database error: 42P01") for p in answers}


def test_the_error_map_is_ordered_most_specific_first() -> None:
    assert status_for(ConflictError("x")) == 409 and status_for(StoreError("x")) == 503
    assert status_for(ValueError("a bug")) == 500
    for i, (earlier, _) in enumerate(ERROR_MAP):
        for later, _ in ERROR_MAP[i + 1:]:
            assert not issubclass(later, earlier) or later is earlier, (earlier, later)
    assert ERROR_MAP[-1][0] is TelecareError
