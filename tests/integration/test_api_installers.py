"""Installers' routes on a real database: register a home's gateway and sensors, its page, commissioning, fleet.

Installers see ids, serials, rooms, the installation address and technical state: never a name, a phone, a
note or what an event said.
"""
from __future__ import annotations

import csv
import io
import uuid
from datetime import datetime, timedelta, timezone

import pytest

from alerts.store import AlertStore
from dashboards.routes.commissioning import router as commissioning_router
from dashboards.routes.fleet import router as fleet_router
from telecare.bus import InProcessBus
from telecare.clock import FakeClock
from telecare.events import Event, EventType
from tests.insights_seed import store_events
from tests.web_helpers import api_client, app_with

pytestmark = pytest.mark.integration

T0 = datetime(2026, 11, 22, 10, tzinfo=timezone.utc)
PHONE, NAME, HOME = "+34600111222", "Roser Puig Vidal", "Carrer de Verdi 12, 2n 1a, Barcelona"
GATEWAY = {"id": "gw-9", "serial": "SN-GW-0009", "resident_id": "r-9", "address": "",
           "rooms": ["Bedroom", "Hall", "Kitchen"]}
SENSORS = [{"id": "pd-9", "type": "pendant", "serial": "SN-PD-9", "room": "Bedroom"},
           {"id": "mo-9", "type": "motion_sensor", "serial": "SN-MO-9", "room": "Hall"},
           {"id": "dr-9", "type": "door_sensor", "serial": "SN-DR-9", "room": "Hall"}]


@pytest.fixture
async def world(db):
    await db.execute("INSERT INTO residents (id, name, address, phones, care_plan) VALUES (%s, %s, %s, %s, %s)",
                     ("r-9", NAME, HOME, "{" + PHONE + "}", {"team": "A"}))
    clock, bus = FakeClock(T0), InProcessBus()
    alerts = AlertStore(db, bus)
    app = app_with(db, bus, alerts, clock, [commissioning_router(db, alerts, clock, poll_seconds=0.05),
                                            fleet_router(db, clock)])
    return app, clock


def event(device: str, kind: EventType, at: datetime, **extra) -> Event:
    return Event(uuid.uuid4(), "gw-9", device, "r-9", kind, at, at, uuid.uuid4().hex, **extra)


async def home(client) -> None:
    r = await client.post("/api/gateways", json=GATEWAY)
    assert r.status_code == 201, r.text
    for s in SENSORS:
        assert (await client.post("/api/gateways/gw-9/sensors", json=s)).status_code == 201


async def test_register_a_home_the_login_is_shown_once_and_bad_bodies_are_4xx(world, db):
    app, _ = world
    async with api_client(app, role="installer") as client:
        first = await client.post("/api/gateways", json=GATEWAY)
        assert first.status_code == 201 and first.headers["cache-control"] == "no-store"
        assert first.json()["mqtt"]["username"] == "gw-9" and len(first.json()["mqtt"]["password"]) >= 24
        again = await client.post("/api/gateways", json={**GATEWAY, "rooms": ["Bedroom", "Hall", "Kitchen", "Bath"]})
        assert again.status_code == 200 and "mqtt" not in again.json()
        assert (await client.post("/api/gateways", json={**GATEWAY, "id": "gw-x", "resident_id": "nobody"})
                ).status_code == 404
        for bad in ({**GATEWAY, "rooms": ["Hall", "hall"]}, {**GATEWAY, "serial": ""}, {**GATEWAY, "phone": PHONE},
                    {**GATEWAY, "id": "bad id"}, {**GATEWAY, "rooms": ["x" * 61]}):
            assert (await client.post("/api/gateways", json=bad)).status_code == 422, bad
        ok = await client.post("/api/gateways/gw-9/sensors", json=SENSORS[0])
        assert ok.status_code == 201 and ok.json()["room"] == "Bedroom"
        assert (await client.post("/api/gateways/gw-9/sensors", json={**SENSORS[1], "room": "Attic"})).status_code == 400
        assert (await client.post("/api/gateways/gw-9/sensors", json={**SENSORS[1], "type": "gateway"})
                ).status_code == 400
        assert (await client.post("/api/gateways/gw-404/sensors", json=SENSORS[1])).status_code == 404
        assert (await client.post("/api/gateways/gw-9/sensors", json={**SENSORS[1], "type": "toaster"})
                ).status_code == 422
    assert await db.fetchval("SELECT count(*) FROM devices WHERE gateway_id = 'gw-9'") == 2
    assert await db.fetchval("SELECT password_hash FROM gateway_credentials WHERE gateway_id = 'gw-9'") \
        != first.json()["mqtt"]["password"]


async def test_commissioning_ticks_each_sensor_names_the_missing_one_and_raises_a_test_alert(world, db):
    app, clock = world
    async with api_client(app, role="installer") as client:
        await home(client)
        started = await client.post("/api/gateways/gw-9/commissioning")
        assert started.status_code == 201
        sid = started.json()["session"]["id"]
        assert (await client.post("/api/gateways/gw-9/commissioning")).json()["session"]["id"] == sid  # rejoined
        checks = started.json()["checks"]
        assert [c["device_id"] for c in checks] == ["gw-9", "dr-9", "mo-9", "pd-9"]
        assert {c["type"]: c["prompt"] for c in checks}["pendant"] == "Press the pendant's button now"
        assert not any(c["reported"] for c in checks)
        # Before the session: does not count. During: the gateway, the pendant and the motion sensor report;
        # the door sensor only sends a heartbeat (not its test), and a bad payload is rejected.
        await store_events(db, [event("pd-9", EventType.HELP_BUTTON, T0 - timedelta(minutes=5)),
                                event("gw-9", EventType.GATEWAY_ONLINE, T0 + timedelta(seconds=5)),
                                event("pd-9", EventType.HELP_BUTTON, T0 + timedelta(seconds=20), battery=77),
                                event("mo-9", EventType.MOTION, T0 + timedelta(seconds=30), battery=12),
                                event("dr-9", EventType.HEARTBEAT, T0 + timedelta(seconds=31))])
        # A heartbeat may report the firmware and model in its value (docs/protocol.md).
        await db.execute("INSERT INTO events (id, ts, received_at, gateway_id, device_id, resident_id, type, msg_id, "
                         "battery, value) VALUES (%s, %s, %s, 'gw-9', 'gw-9', 'r-9', 'heartbeat', 'hb-1', 90, %s)",
                         (uuid.uuid4(), T0 + timedelta(seconds=6), T0 + timedelta(seconds=6),
                          {"firmware": "2.4.1", "model": "TC-GW2"}))
        await db.execute("INSERT INTO dead_letters (received_at, topic, payload, reason, gateway_id, device_id) "
                         "VALUES (%s, 'telecare/v1/gw-9/dr-9/door_open', '\\x7b7b', 'invalid_json', 'gw-9', 'dr-9'),"
                         " (%s, 'telecare/v1/gw-9/dr-9/door_open', '\\x7b7d', 'missing_field:ts', 'gw-9', 'dr-9'),"
                         " (%s, 'telecare/v1/gw-8/x/motion', '\\x7b7d', 'unknown_gateway', 'gw-8', 'x')",
                         (T0 + timedelta(seconds=40), T0 + timedelta(seconds=41), T0 + timedelta(seconds=42)))
        state = (await client.get(f"/api/gateways/gw-9/commissioning/{sid}")).json()
        assert {c["device_id"]: c["reported"] for c in state["checks"]} == {
            "gw-9": True, "dr-9": False, "mo-9": True, "pd-9": True}
        assert {c["device_id"]: c["reported_at"] for c in state["checks"]}["pd-9"] == \
            (T0 + timedelta(seconds=20)).isoformat()
        assert [(r["reason"], r["reason_text"], r["reason_field"]) for r in state["rejected"]] == [
            ("missing_field:ts", "A required field was missing from the message", "ts"),
            ("invalid_json", "The message was not valid JSON", None)]
        assert state["missing"] == [] and state["reported"] == 3
        clock.advance(timedelta(minutes=2))
        done = await client.post(f"/api/gateways/gw-9/commissioning/{sid}/finish")
        assert done.status_code == 200
        assert [(m["device_id"], m["type"], m["room"]) for m in done.json()["missing"]] == [
            ("dr-9", "door_sensor", "Hall")]
        assert (await client.post(f"/api/gateways/gw-9/commissioning/{sid}/finish")).status_code == 409
        assert (await client.get("/api/gateways/gw-9/commissioning/999999")).status_code == 404
        page = (await client.get("/api/gateways/gw-9")).json()
    alert = await db.fetchrow("SELECT * FROM alerts WHERE id = %s", (done.json()["session"]["test_alert_id"],))
    assert (alert["type"], alert["severity"], alert["status"], alert["device_id"]) == (
        "installation_test", "technical", "open", "gw-9")
    assert alert["reason"] == "Installation test of gateway gw-9: 3 of 4 devices; not reported: dr-9"
    gw = page["gateway"]
    assert (gw["serial"], gw["address"], gw["rooms"], gw["battery"], gw["firmware"], gw["model"], gw["commissioned"]) \
        == ("SN-GW-0009", HOME, ["Bedroom", "Hall", "Kitchen"], 90, "2.4.1", "TC-GW2", True)
    sensors = {s["device_id"]: s for s in page["sensors"]}
    assert {k: (s["commissioned"], s["battery"], s["room"]) for k, s in sensors.items()} == {
        "dr-9": (False, None, "Hall"), "mo-9": (True, 12, "Hall"), "pd-9": (True, 77, "Bedroom")}
    assert page["commissioning"]["finished_by"] == "test-installer"
    read = await db.fetch("SELECT actor, residents FROM audit_log WHERE action = 'resident.address.read'")
    assert [(r["actor"], r["residents"]) for r in read] == [("test-installer", ["r-9"])]


async def test_fleet_filters_pages_and_the_visit_list_has_the_address_but_no_phone_name_or_health(world, db):
    app, clock = world
    async with api_client(app, role="installer") as client:
        await home(client)
        # The rollup says: the pendant reported an hour ago at 12 %, the motion sensor two days ago.
        await db.execute("""INSERT INTO device_rollup_daily (resident_id, device_id, day, events, last_seen, battery,
                            min_battery) VALUES ('r-9', 'pd-9', %s, 3, %s, 12, 12), ('r-9', 'mo-9', %s, 9, %s, 80, 80)""",
                         (T0.date(), T0 - timedelta(hours=1), (T0 - timedelta(days=2)).date(), T0 - timedelta(days=2)))
        every = (await client.get("/api/fleet")).json()
        assert every["total"] == 4 and every["pages"] == 1
        status = {d["device_id"]: (d["online"], d["low_battery"], d["commissioned"]) for d in every["devices"]}
        assert status == {"gw-9": (False, False, False), "dr-9": (False, False, False),
                          "mo-9": (False, False, False), "pd-9": (True, True, False)}

        async def ids(status: str) -> set[str]:
            got = await client.get("/api/fleet", params={"status": status})
            return {d["device_id"] for d in got.json()["devices"]}
        assert await ids("offline") == {"gw-9", "dr-9", "mo-9"}
        assert await ids("low_battery") == {"pd-9"}
        assert await ids("never_commissioned") == {"gw-9", "dr-9", "mo-9", "pd-9"}
        assert (await client.get("/api/fleet", params={"page": 2})).json()["devices"] == []
        for bad in ({"status": "broken"}, {"page": 0}, {"page": "x"}):
            assert (await client.get("/api/fleet", params=bad)).status_code == 422
        visits = await client.get("/api/fleet.csv", params={"status": "offline"})
        assert visits.status_code == 200 and visits.headers["content-type"].startswith("text/csv")
        rows = list(csv.DictReader(io.StringIO(visits.text)))
        assert {r["device_id"] for r in rows} == {"gw-9", "dr-9", "mo-9"} and {r["address"] for r in rows} == {HOME}
        # An address typed as a formula is quoted: a spreadsheet opening the visit list must not run it.
        await client.post("/api/gateways", json={**GATEWAY, "id": "gw-10", "serial": "SN-10",
                                                 "address": "=HYPERLINK(\"http://x\")", "rooms": []})
        rows = list(csv.DictReader(io.StringIO((await client.get("/api/fleet.csv",
                                                                 params={"status": "all"})).text)))
        assert {r["device_id"]: r["address"] for r in rows}["gw-10"] == "'=HYPERLINK(\"http://x\")"
        bodies = [visits.text, (await client.get("/api/fleet")).text, (await client.get("/api/gateways/gw-9")).text]
    for body in bodies:
        for secret in (PHONE, NAME, "phones", "contacts", "note", "help_button", "key_safe"):
            assert secret not in body
