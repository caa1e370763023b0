"""Care-team API on a real PostgreSQL: worklist, start/outcome rules, call log filters and CSV, campaigns, errors."""
from __future__ import annotations

import csv
import io
from datetime import datetime, timedelta, timezone

import httpx
import pytest

from tests.fakes.flaky_alerts import FlakySink
from tests.web_helpers import api_client, app_with, put_in_team
from fastapi import FastAPI

from dashboards.errors import install_error_handlers

from devices.registry import Registry
from outreach.planning import PlannedCall
from outreach.service import OutreachService
from demo.simulated_telephony import SimulatedTelephony
from alerts.store import AlertStore
from telecare.alerts import AlertType
from telecare.bus import InProcessBus
from telecare.clock import FakeClock
from telecare.people import Resident, RiskFlag
from telecare.settings import load_settings
from entrypoints.outreach_web import outreach_routers

NOW = datetime(2026, 7, 15, 9, 0, tzinfo=timezone.utc)  # 11:00 in Barcelona


@pytest.fixture
async def api(db):
    clock = FakeClock(NOW)
    bus = InProcessBus()
    registry = Registry(db)
    for i, (lat, lon) in enumerate([(41.39, 2.17), (41.40, 2.16), (41.38, 2.18)]):
        await registry.upsert_resident(Resident(
            f"r{i}", f"Resident {i}", phones=(f"+3460000000{i}",), latitude=lat, longitude=lon,
            risk_flags=frozenset({RiskFlag.HEAT_VULNERABLE, RiskFlag.LIVES_ALONE}) if i == 0 else frozenset()))
    alerts = AlertStore(db, bus)
    sink = FlakySink(alerts)  # up unless a test takes it down
    sim = SimulatedTelephony(clock)
    service = OutreachService(db, bus, sink, registry, sim, clock, load_settings(database_url=None))
    await service.tasks.save_plans([
        PlannedCall(f"r{i}", "follow_up", "human", NOW.date(), NOW - timedelta(hours=1), NOW + timedelta(hours=8),
                    10 + i, "team-a", f"k{i}", "follow-up") for i in range(3)], NOW)
    await put_in_team(db, "team-a")
    app = app_with(db, bus, alerts, clock, outreach_routers(service))
    # A coordinator of team-a: care-team reads and calls, and campaigns (weather ones too).
    async with api_client(app, role="coordinator", teams=["team-a"], name="anna") as client:
        yield {"client": client, "service": service, "alerts": alerts, "db": db, "clock": clock, "sim": sim,
               "sink": sink}


async def _start(c, rid_index: int, caller="Anna") -> int:
    items = (await c.get("/api/worklist", params={"team": "team-a"})).json()
    task = next(i for i in items if i["resident_id"] == f"r{rid_index}")
    resp = await c.post("/api/calls/start", json={"task_id": task["task_id"], "caller": caller})
    assert resp.status_code == 200, resp.text
    return resp.json()["call_id"]


async def test_worklist_is_ordered_by_risk_and_filtered_by_team(api):
    c = api["client"]
    items = (await c.get("/api/worklist", params={"team": "team-a"})).json()
    assert [i["resident_id"] for i in items] == ["r0", "r1", "r2"]
    assert items[0]["risk_flags"] == ["heat_vulnerable", "lives_alone"] and items[0]["callable_now"]
    assert (await c.get("/api/worklist", params={"team": "team-b"})).json() == []


async def test_outcomes_fine_concern_urgent_no_answer_and_their_follow_ups(api):
    c, db = api["client"], api["db"]
    fine, concern, urgent = await _start(c, 0), await _start(c, 1), await _start(c, 2)
    assert (await c.post(f"/api/calls/{fine}/outcome", json={"outcome": "fine", "note": "ok"})).status_code == 200
    resp = await c.post(f"/api/calls/{concern}/outcome", json={"outcome": "concern", "note": "not eating well"})
    assert resp.status_code == 200
    followups = await db.fetch("SELECT resident_id, mode, not_after FROM call_tasks WHERE dedupe_key LIKE 'callback:%%'")
    assert [(f["resident_id"], f["mode"]) for f in followups] == [("r1", "human")]
    assert followups[0]["not_after"] <= NOW + timedelta(days=2)  # followed up within two days
    await c.post(f"/api/calls/{urgent}/outcome", json={"outcome": "concern", "urgent": True, "note": "fell"})
    [alert] = await api["alerts"].list(resident_id="r2")
    assert alert.type == AlertType.WELFARE_CHECK
    # The same call cannot get a second outcome.
    again = await c.post(f"/api/calls/{fine}/outcome", json={"outcome": "declined"})
    assert again.status_code == 409


async def test_an_urgent_concern_the_bus_refused_is_not_recorded_so_the_retry_raises_it(api):
    c, db = api["client"], api["db"]
    call = await _start(c, 2)
    api["sink"].down = True
    body = {"outcome": "concern", "urgent": True, "note": "fell"}
    refused = await c.post(f"/api/calls/{call}/outcome", json=body)
    assert refused.status_code == 503 and "alert-triggers" in refused.json()["detail"]
    assert await db.fetchval("SELECT outcome FROM call_log WHERE id = %s", (call,)) is None
    api["sink"].down = False
    assert (await c.post(f"/api/calls/{call}/outcome", json=body)).status_code == 200
    [alert] = await api["alerts"].list(resident_id="r2")
    assert alert.type == AlertType.WELFARE_CHECK and alert.count == 1
    assert await db.fetchval("SELECT outcome FROM call_log WHERE id = %s", (call,)) == "concern"


async def test_a_welfare_check_owed_by_a_persons_last_attempt_survives_a_bus_outage(api):
    c, db, clock = api["client"], api["db"], api["clock"]
    await db.execute("UPDATE call_tasks SET max_attempts = 1 WHERE resident_id = 'r0'")
    call = await _start(c, 0)
    api["sink"].down = True
    answered = await c.post(f"/api/calls/{call}/outcome", json={"outcome": "no_answer"})
    assert answered.status_code == 200  # the person's tap is recorded; the alert is owed, not lost
    assert await db.fetchval("SELECT status FROM call_tasks WHERE resident_id = 'r0'") == "unreached"
    assert await api["alerts"].list(resident_id="r0") == []
    api["sink"].down = False
    clock.advance(timedelta(seconds=61))
    await api["service"].dialer.dispatch()  # the dialer's next tick sweeps what is owed
    [alert] = await api["alerts"].list(resident_id="r0")
    assert alert.type == AlertType.WELFARE_CHECK


async def test_no_answer_goes_back_to_the_list_for_a_retry(api):
    c, db = api["client"], api["db"]
    call = await _start(c, 0)
    await c.post(f"/api/calls/{call}/outcome", json={"outcome": "no_answer"})
    row = await db.fetchrow("SELECT status, attempts, next_attempt_at FROM call_tasks WHERE resident_id = 'r0'")
    assert (row["status"], row["attempts"]) == ("pending", 1)
    assert row["next_attempt_at"] >= NOW + timedelta(minutes=30)


async def test_bad_requests_get_clear_4xx(api):
    c = api["client"]
    call = await _start(c, 0)
    assert (await c.post(f"/api/calls/{call}/outcome", json={"outcome": "maybe"})).status_code == 422
    assert (await c.post("/api/calls/99999/outcome", json={"outcome": "fine"})).status_code == 404
    items = (await c.get("/api/worklist", params={"team": "team-a"})).json()
    busy = next(i for i in items if i["resident_id"] == "r0")
    resp = await c.post("/api/calls/start", json={"task_id": busy["task_id"], "caller": "Pere"})
    assert resp.status_code == 409 and "already being called" in resp.json()["detail"]
    assert (await c.post("/api/calls/start", json={"caller": "Anna"})).status_code == 422  # no task_id
    resp = await c.get("/api/calls", params={"from": "yesterday"})
    assert resp.status_code == 400 and "YYYY-MM-DD" in resp.json()["detail"]
    assert (await c.get("/api/calls", params={"purpose": "spam"})).status_code == 400
    resp = await c.post("/api/campaigns/weather", content=b"<alert>not cap</alert>")
    assert resp.status_code == 400
    assert (await c.post("/api/campaigns/weather", content=b"")).status_code == 400
    assert (await c.get("/api/campaigns/424242")).status_code == 404


async def test_call_log_api_filters_and_csv(api):
    c = api["client"]
    first = await _start(c, 0)
    await c.post(f"/api/calls/{first}/outcome", json={"outcome": "declined", "note": "busy today"})
    api["clock"].advance(timedelta(days=1))
    await _start(c, 1)
    assert [x["id"] for x in (await c.get("/api/calls", params={"resident_id": "r0"})).json()] == [first]
    assert len((await c.get("/api/calls", params={"from": "2026-07-15", "to": "2026-07-15"})).json()) == 1
    assert len((await c.get("/api/calls", params={"from": "2026-07-15"})).json()) == 2
    assert [x["outcome"] for x in (await c.get("/api/calls", params={"outcome": "declined"})).json()] == ["declined"]
    resp = await c.get("/api/calls.csv", params={"outcome": "declined"})
    assert resp.headers["content-type"].startswith("text/csv")
    [row] = list(csv.DictReader(io.StringIO(resp.text)))
    assert (row["resident_id"], row["not_done_reason"], row["note"], row["caller"]) == (
        "r0", "patient-objection", "busy today", "anna")  # the signed-in caller


async def test_weather_sample_and_information_campaigns_with_progress(api):
    c = api["client"]
    resp = await c.post("/api/campaigns/weather", params={"sample": "true", "by": "Anna"})
    assert resp.status_code == 200, resp.text
    summary = resp.json()
    assert summary["created"] and summary["tasks"] >= 1
    again = (await c.post("/api/campaigns/weather", params={"sample": "true"})).json()
    assert not again["created"]  # the same CAP identifier twice is one campaign
    info = await c.post("/api/campaigns/information", json={
        "title": "Vaccination", "message": "Flu vaccines at your health centre.",
        "audience": {"risk_flags": ["lives_alone"]}, "by": "Anna"})
    assert info.status_code == 200 and info.json()["tasks"] == 1
    bad = await c.post("/api/campaigns/information", json={"title": "x", "message": "y",
                                                           "audience": {"planet": "mars"}, "by": "Anna"})
    assert bad.status_code == 422 and "planet" in bad.json()["detail"]
    detail = (await c.get(f"/api/campaigns/{summary['campaign_id']}")).json()
    assert detail["progress"]["total"] == summary["tasks"] and detail["progress"]["pending"] == summary["tasks"]
    listed = (await c.get("/api/campaigns")).json()
    assert {x["id"] for x in listed} == {summary["campaign_id"], info.json()["campaign_id"]}
    for page in ("/care/worklist", "/care/calls", "/care/campaigns", f"/care/campaigns/{summary['campaign_id']}",
                 "/care/assets/care.js", "/phones"):
        assert (await c.get(page)).status_code == 200
    assert (await c.get("/care/assets/secret.py")).status_code == 404


async def test_click_to_call_bridges_to_the_resident_and_logs_the_line_end(api):
    c, sim = api["client"], api["sim"]
    items = (await c.get("/api/worklist", params={"team": "team-a"})).json()
    resp = await c.post("/api/calls/start", json={"task_id": items[0]["task_id"], "caller": "Anna",
                                                  "caller_phone": "+34930000099"})
    assert resp.status_code == 200 and resp.json()["click_to_call"] is True
    await sim.tick()
    [ringing] = sim.ringing()
    # The simulator picks up the caller's own leg at once, then rings the resident to bridge them.
    assert (ringing.number, ringing.leg) == ("+34600000000", "resident")
    call = await api["service"].call_log.get(resp.json()["call_id"])
    assert call.provider_call_id == ringing.call_id and call.mode == "human"
    await sim.reject(ringing.call_id)  # the resident declines: the line ends, the outcome is still theirs to tap
    call = await api["service"].call_log.get(call.id)
    assert call.ended_at is not None and call.outcome is None
    ok = await c.post(f"/api/calls/{call.id}/outcome", json={"outcome": "no_answer"})
    assert ok.status_code == 200
