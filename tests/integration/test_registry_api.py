"""The devices API through the app (httpx ASGITransport, an admin's token) on a real database."""
from __future__ import annotations

from datetime import datetime, timezone

import httpx
import pytest
from alerts.store import AlertStore
from dashboards.app import WebDeps, create_app
from telecare.bus import InProcessBus
from tests.web_helpers import api_client

from dashboards.errors import install_error_handlers

from dashboards.routes.devices import router
from devices.registry import Registry
from telecare.clock import FakeClock

RESIDENT = {
    "id": "r-1", "name": "Carme Sala Riera", "phones": ["+34 931 112 233"], "key_safe_code": "0042",
    "contacts": [{"name": "Anna Sala", "phone": "+34600000001", "relation": "filla", "key_holder": True}],
    "care_plan": {"night_start": "22:30", "dose_times": ["09:00", "21:00"]},
}


@pytest.fixture
async def client(db):
    clock, bus = FakeClock(datetime(2026, 11, 22, 10, tzinfo=timezone.utc)), InProcessBus()
    app = create_app(WebDeps(db=db, bus=bus, alerts=AlertStore(db, bus), clock=clock,
                             extra_routers=(router(Registry(db), clock),)))
    async with api_client(app, role="admin") as c:  # admins register residents of every team
        yield c


async def test_register_resident_gateway_device_and_list(client: httpx.AsyncClient, db) -> None:
    r = await client.post("/api/residents", json=RESIDENT)
    assert r.status_code == 201 and r.json() == {"id": "r-1", "created": True}
    assert (await client.post("/api/residents", json=RESIDENT)).status_code == 200
    assert (await Registry(db).resident("r-1")).key_safe_code == "0042"
    r = await client.post("/api/devices", json={"id": "gw-1", "type": "gateway", "resident_id": "r-1"})
    assert r.status_code == 201 and r.json()["gateway_id"] == "gw-1"
    r = await client.post("/api/devices", json={"id": "pd-1", "type": "pendant", "gateway_id": "gw-1", "resident_id": "r-1"})
    assert r.status_code == 201
    listed = (await client.get("/api/devices")).json()
    assert listed == [
        {"id": "gw-1", "gateway_id": "gw-1", "resident_id": "r-1", "type": "gateway"},
        {"id": "pd-1", "gateway_id": "gw-1", "resident_id": "r-1", "type": "pendant"},
    ]
    assert len((await client.get("/api/devices", params={"resident_id": "r-1"})).json()) == 2
    assert (await client.get("/api/devices", params={"resident_id": "r-404"})).status_code == 404


async def test_bad_bodies_unknowns_and_conflicts(client: httpx.AsyncClient) -> None:
    bad = dict(RESIDENT, care_plan={"night_start": "late"})
    r = await client.post("/api/residents", json=bad)
    assert r.status_code == 422 and "expected HH:MM" in r.text
    assert (await client.post("/api/residents", json=RESIDENT)).status_code == 201
    await client.post("/api/residents", json=dict(RESIDENT, id="r-2"))
    await client.post("/api/devices", json={"id": "gw-1", "type": "gateway", "resident_id": "r-1"})
    await client.post("/api/devices", json={"id": "gw-2", "type": "gateway", "resident_id": "r-2"})
    r = await client.post("/api/devices", json={"id": "x", "type": "toaster", "gateway_id": "gw-1", "resident_id": "r-1"})
    assert r.status_code == 422
    r = await client.post("/api/devices", json={"id": "pd-1", "type": "pendant", "gateway_id": "gw-9", "resident_id": "r-1"})
    assert r.status_code == 404 and "gw-9" in r.json()["detail"]
    r = await client.post("/api/devices", json={"id": "pd-1", "type": "pendant", "gateway_id": "gw-2", "resident_id": "r-1"})
    assert r.status_code == 409
    r = await client.post("/api/devices", json={"id": "pd-1", "type": "pendant", "resident_id": "r-1"})
    assert r.status_code == 400 and "gateway_id" in r.json()["detail"]
    r = await client.post("/api/devices", json={"id": "gw-3", "type": "gateway", "gateway_id": "gw-1", "resident_id": "r-1"})
    assert r.status_code == 400 and "own id" in r.json()["detail"]


async def test_pair(client: httpx.AsyncClient) -> None:
    for rid in ("r-1", "r-2"):
        await client.post("/api/residents", json=dict(RESIDENT, id=rid))
        await client.post("/api/devices", json={"id": f"gw-{rid}", "type": "gateway", "resident_id": rid})
    await client.post("/api/devices", json={"id": "bs-1", "type": "bed_sensor", "gateway_id": "gw-r-1", "resident_id": "r-1"})
    r = await client.post("/api/devices/bs-1/pair", json={"gateway_id": "gw-r-2", "resident_id": "r-2"})
    assert r.status_code == 200 and r.json() == {"id": "bs-1", "gateway_id": "gw-r-2", "resident_id": "r-2", "type": "bed_sensor"}
    assert (await client.post("/api/devices/nope/pair", json={"gateway_id": "gw-r-2", "resident_id": "r-2"})).status_code == 404
    assert (await client.post("/api/devices/bs-1/pair", json={"gateway_id": "gw-r-1", "resident_id": "r-2"})).status_code == 409
    assert (await client.post("/api/devices/bs-1/pair", json={"gateway_id": "gw-r-1"})).status_code == 422
