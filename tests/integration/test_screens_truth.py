"""What the screens say is true (issue 6 §4) against a real PostgreSQL: calling hours refused unless urgent,
until-when on the worklist and campaigns, expired CAP refused, call-log names (audited) and alert ids, and the
resident card's 24 h that shows the fall among thousands of heartbeats."""
from __future__ import annotations

import csv
import io
from datetime import datetime, time, timedelta, timezone
from zoneinfo import ZoneInfo

import httpx
import pytest
from fastapi import FastAPI

from alerts.store import AlertStore
from dashboards.app import WebDeps, create_app
from devices.registry import Registry
from demo.simulated_telephony import SimulatedTelephony
from entrypoints.outreach_web import outreach_routers
from dashboards.errors import install_error_handlers
from outreach.planning import PlannedCall
from outreach.service import OutreachService
from telecare.alerts import AlertTrigger, AlertType, Severity
from telecare.bus import InProcessBus
from telecare.clock import FakeClock
from telecare.people import CarePlan, Resident
from telecare.settings import load_settings
from tests.web_helpers import api_client, app_with, put_in_team
from tests.e2e.browser import api_client, insert_resident

MADRID = ZoneInfo("Europe/Madrid")
EARLY = datetime(2026, 7, 15, 7, 30, tzinfo=MADRID)  # before the default 10:00 calling hours
SAMPLE_CAP = "outreach/samples/barcelona_heat_warning.xml"


@pytest.fixture
async def care(db):
    clock = FakeClock(EARLY)
    bus = InProcessBus()
    registry = Registry(db)
    await registry.upsert_resident(Resident("r1", "Montserrat Puig", phones=("+34600000001",),
                                            latitude=41.39, longitude=2.17))
    await registry.upsert_resident(Resident("r2", "Jordi Vidal", phones=("+34600000002",), latitude=41.40,
                                            longitude=2.16,
                                            care_plan=CarePlan(calling_start=time(7), calling_end=time(21))))
    alerts = AlertStore(db, bus)
    service = OutreachService(db, bus, alerts, registry, SimulatedTelephony(clock), clock,
                              load_settings(database_url=None))
    # Both tasks' windows say "now"; only r2's calling hours (07:00-21:00) are open at 07:30.
    await service.tasks.save_plans([
        PlannedCall(rid, "follow_up", "human", EARLY.date(), EARLY - timedelta(hours=1), EARLY + timedelta(hours=12),
                    10, "team-a", f"k-{rid}", "follow-up") for rid in ("r1", "r2")], EARLY)
    await put_in_team(db, "team-a")
    app = app_with(db, bus, alerts, clock, outreach_routers(service))
    # A coordinator of team-a: care-team reads and calls, and campaigns (weather ones too).
    async with api_client(app, role="coordinator", teams=["team-a"], name="anna") as client:
        yield {"client": client, "service": service, "alerts": alerts, "db": db, "clock": clock}


async def _task(c, rid: str) -> dict:
    return next(i for i in (await c.get("/api/worklist")).json() if i["resident_id"] == rid)


async def test_a_call_outside_calling_hours_is_refused_naming_when_they_start(care):
    c, db = care["client"], care["db"]
    item = await _task(c, "r1")
    assert not item["callable_now"] and item["waits_for"] == "calling_hours"
    assert datetime.fromisoformat(item["waits_until"]) == EARLY.replace(hour=10, minute=0)
    refused = await c.post("/api/calls/start", json={"task_id": item["task_id"], "caller": "Anna"})
    assert refused.status_code == 409
    body = refused.json()
    assert "outside the resident's calling hours" in body["detail"] and "10:00 (Europe/Madrid)" in body["detail"]
    assert "urgent" in body["detail"]
    assert datetime.fromisoformat(body["calling_hours_start"]) == EARLY.replace(hour=10, minute=0)
    assert await db.fetchval("SELECT count(*) FROM call_log") == 0
    assert await db.fetchval("SELECT status FROM call_tasks WHERE resident_id = 'r1'") == "pending"  # not claimed


async def test_an_urgent_call_starts_anyway_and_is_recorded_as_urgent(care):
    c, db = care["client"], care["db"]
    item = await _task(c, "r1")
    started = await c.post("/api/calls/start", json={"task_id": item["task_id"], "caller": "Anna", "urgent": True})
    assert started.status_code == 200, started.text
    row = await db.fetchrow("SELECT urgent, caller FROM call_log WHERE id = %s", (started.json()["call_id"],))
    assert (row["urgent"], row["caller"]) == (True, "anna")  # the signed-in user, whatever the body says
    [logged] = (await c.get("/api/calls")).json()
    assert logged["urgent"] is True


async def test_inside_the_residents_own_hours_a_call_starts_without_urgent(care):
    c, db = care["client"], care["db"]
    item = await _task(c, "r2")
    assert item["callable_now"] and item["waits_until"] is None
    started = await c.post("/api/calls/start", json={"task_id": item["task_id"], "caller": "Anna"})
    assert started.status_code == 200
    assert await db.fetchval("SELECT urgent FROM call_log") is False


async def test_campaign_progress_says_how_many_wait_and_until_when(care):
    c, clock = care["client"], care["clock"]
    resp = await c.post("/api/campaigns/weather", params={"sample": "true", "by": "Anna"})
    assert resp.status_code == 200, resp.text
    summary = resp.json()
    assert summary["created"] and summary["tasks"] == 2  # the sample is dated today, whatever today is
    progress = (await c.get(f"/api/campaigns/{summary['campaign_id']}")).json()["progress"]
    assert progress["waiting"] == 1  # r1 waits for 10:00; r2's hours are open
    assert datetime.fromisoformat(progress["waiting_until"]) == EARLY.replace(hour=10, minute=0)
    clock.advance(timedelta(hours=3))
    later = (await c.get("/api/campaigns")).json()[0]["progress"]
    assert later["waiting"] == 0 and later["waiting_until"] is None


async def test_an_expired_warning_is_refused_with_a_clear_message(care):
    c, db = care["client"], care["db"]
    care["clock"].set(datetime(2027, 7, 20, 9, tzinfo=timezone.utc))  # the file's fixed dates ended on 16 July
    with open(SAMPLE_CAP, "rb") as f:
        resp = await c.post("/api/campaigns/weather", content=f.read(), headers={"Content-Type": "application/xml"})
    assert resp.status_code == 400
    assert resp.json()["detail"].startswith("this warning expired at Fri 16 Jul 21:59 (Europe/Madrid)")
    assert await db.fetchval("SELECT count(*) FROM campaigns") == 0
    fresh = await c.post("/api/campaigns/weather", params={"sample": "true"})
    assert fresh.status_code == 200 and fresh.json()["created"]


async def _escalation_call(care) -> tuple[int, int]:
    service, now = care["service"], care["clock"].now()
    change = await care["alerts"].raise_or_attach(
        AlertTrigger("r1", AlertType.FALL, Severity.CRITICAL, now, "fall detected"), now)
    call = await service.call_log.start_attempt(resident_id="r1", purpose="escalation", caller="automated",
                                                mode="automated", phone="+34699000000", started_at=now,
                                                alert_id=change.alert.id)
    return call, change.alert.id


async def test_the_call_log_shows_names_to_signed_in_users_and_audits_the_read(care):
    c, db = care["client"], care["db"]
    call_id, alert_id = await _escalation_call(care)
    item = await _task(c, "r2")
    await c.post("/api/calls/start", json={"task_id": item["task_id"], "caller": "Anna"})

    token = c.headers.pop("Authorization")
    anonymous = await c.get("/api/calls")
    assert anonymous.status_code == 401  # no names (nor anything else) without signing in
    c.headers["Authorization"] = token
    assert await db.fetchval("SELECT count(*) FROM audit_log WHERE action = 'resident.name.read'") == 0

    named = (await c.get("/api/calls")).json()
    assert {(x["resident_id"], x["resident_name"]) for x in named} == {("r1", "Montserrat Puig"), ("r2", "Jordi Vidal")}
    escalation = next(x for x in named if x["id"] == call_id)
    assert (escalation["purpose"], escalation["alert_id"]) == ("escalation", alert_id)
    rows = await db.fetch("SELECT actor, action, residents, detail FROM audit_log WHERE action = 'resident.name.read'")
    assert rows == [{"actor": "anna", "action": "resident.name.read", "residents": ["r1", "r2"],
                     "detail": {"view": "call_log"}}]

    exported = await c.get("/api/calls.csv", params={"purpose": "escalation"})
    [line] = list(csv.DictReader(io.StringIO(exported.text)))
    assert (line["resident_name"], line["alert_id"]) == ("Montserrat Puig", str(alert_id))
    assert await db.fetchval("SELECT count(*) FROM audit_log WHERE detail->>'view' = 'call_log.csv'") == 1
    c.headers.pop("Authorization")
    assert (await c.get("/api/calls.csv")).status_code == 401


async def test_the_resident_card_day_shows_the_fall_among_thousands_of_heartbeats(db):
    now = datetime(2026, 11, 22, 9, 0, tzinfo=timezone.utc)
    await insert_resident(db, "r1", "Montserrat Puig")
    # A gateway and a pendant beating every 20 s for 24 h (8,640), some motion, and a fall 20 h ago.
    await db.execute(
        """INSERT INTO events (id, ts, received_at, gateway_id, device_id, resident_id, type, msg_id)
           SELECT gen_random_uuid(), %(now)s - make_interval(secs => 20 * g), %(now)s - make_interval(secs => 20 * g),
                  'gw-r1', d, 'r1', 'heartbeat', d || g FROM generate_series(0, 4319) g, unnest(ARRAY['gw-r1', 'pd-r1']) d""",
        {"now": now})
    await db.execute(
        """INSERT INTO events (id, ts, received_at, gateway_id, device_id, resident_id, type, msg_id) VALUES
           (gen_random_uuid(), %(fall)s, %(fall)s, 'gw-r1', 'fd-r1', 'r1', 'fall', 'fall-1'),
           (gen_random_uuid(), %(move)s, %(move)s, 'gw-r1', 'pir-r1', 'r1', 'motion', 'move-1'),
           (gen_random_uuid(), %(old)s, %(old)s, 'gw-r1', 'fd-r1', 'r1', 'fall', 'fall-0')""",
        {"fall": now - timedelta(hours=20), "move": now - timedelta(hours=1), "old": now - timedelta(hours=30)})
    bus = InProcessBus()
    app = create_app(WebDeps(db=db, bus=bus, alerts=AlertStore(db, bus), clock=FakeClock(now)))
    async with api_client(app) as client:
        day = (await client.get("/api/residents/r1/events", params={"hours": 24})).json()
    assert [(e["type"], e["ts"]) for e in day["alarms"]] == [("fall", (now - timedelta(hours=20)).isoformat())]
    assert [e["type"] for e in day["activity"]] == ["motion"] and day["activity_total"] == 1
    assert [e["type"] for e in day["events"]] == ["fall", "motion"]  # alarms first, no heartbeat listed
    beats = {h["device_id"]: h for h in day["heartbeats"]}
    assert {d: h["count"] for d, h in beats.items()} == {"gw-r1": 4320, "pd-r1": 4320}
    assert beats["gw-r1"]["last_seen"] == now.isoformat()
    assert day["until"] == now.isoformat()
