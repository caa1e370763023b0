"""The shift's queue on a real PostgreSQL: escalation state on every alert (list and stream), history and notes,
filters, name search, the resolved of the last 24 h / 7 days, and the order an operator takes alerts in."""
from __future__ import annotations

import asyncio
from datetime import datetime, timedelta, timezone

import httpx
import pytest

from alerts.store import AlertStore
from dashboards.app import WebDeps, create_app
from demo.simulated_telephony import SimulatedTelephony
from devices.registry import Registry
from outreach.call_log import CallLog
from outreach.escalation import Escalator
from telecare.alerts import AlertTrigger, AlertType, Outcome, Severity
from telecare.bus import InProcessBus
from telecare.clock import FakeClock
from telecare.people import Contact, Resident
from tests.web_helpers import bearer
from tests.e2e.browser import api_client, serve
from bench.sse import sse_frames

T0 = datetime(2026, 11, 22, 9, 0, tzinfo=timezone.utc)


@pytest.fixture
async def env(db):
    clock, bus = FakeClock(T0), InProcessBus()
    registry = Registry(db)
    await registry.upsert_resident(Resident("r1", "Montserrat Puig", contacts=(
        Contact("Núria Puig", "+34600000002", "daughter", 1, True),)))
    await registry.upsert_resident(Resident("r2", "Jordi Vidal"))  # no key-holders: nobody to reach
    await registry.upsert_resident(Resident("r3", "Carme Ribas"))
    store = AlertStore(db, bus)
    sim = SimulatedTelephony(clock)
    esc = Escalator(db, bus, store, sim, registry, clock, second_tier_after_s=60, keyholders_after_s=180,
                    call_log=CallLog(db))
    app = create_app(WebDeps(db=db, bus=bus, alerts=store, clock=clock))
    async with api_client(app, name="anna-serra") as client:
        yield {"client": client, "store": store, "clock": clock, "esc": esc, "app": app, "db": db}
    await sim.close()


async def _raise(e, rid, type_, severity, reason="test"):
    change = await e["store"].raise_or_attach(AlertTrigger(rid, type_, severity, e["clock"].now(), reason),
                                              e["clock"].now())
    await e["esc"].handle(change)
    return change.alert


async def _queue(e, **params):
    response = await e["client"].get("/api/alerts", params=params)
    assert response.status_code == 200, response.text
    return response.json()


async def test_every_alert_carries_its_escalation_and_nobody_reached_goes_first(env):
    e = env
    help_ = await _raise(e, "r1", AlertType.HELP_BUTTON, Severity.CRITICAL)
    e["clock"].advance(1)
    fall = await _raise(e, "r2", AlertType.FALL, Severity.CRITICAL)
    battery = await _raise(e, "r3", AlertType.LOW_BATTERY, Severity.TECHNICAL)
    body = {a["id"]: a for a in await _queue(e)}
    assert body[help_.id]["escalation"] == {"tier": 1, "state": "armed", "round": 1,
                                            "next_at": (T0 + timedelta(seconds=60)).isoformat()}
    assert body[battery.id]["escalation"] is None  # technical alerts never escalate
    assert (body[battery.id]["answer_target"], body[fall.id]["answer_target"]) == (False, True)

    e["clock"].set(T0 + timedelta(seconds=182))
    await e["esc"].tick()  # r1's daughter is being called; r2 has nobody: exhausted
    queue = await _queue(e)
    assert [a["id"] for a in queue] == [fall.id, help_.id, battery.id]  # nobody reached first, though newer
    assert queue[0]["escalation"]["state"] == "exhausted" and queue[0]["nobody_reached"] is True
    assert (queue[1]["escalation"]["state"], queue[1]["escalation"]["tier"], queue[1]["nobody_reached"]) == (
        "calling", 3, False)

    taken = (await e["client"].post(f"/api/alerts/{fall.id}/acknowledge", json={"by": "Anna"})).json()
    assert taken["nobody_reached"] is False  # acknowledged: somebody has it now
    await e["esc"].handle(await _ack_change(e, fall.id))
    queue = await _queue(e)
    assert [a["id"] for a in queue] == [help_.id, fall.id, battery.id]  # untouched above taken
    assert queue[1]["escalation"]["state"] == "stopped"


async def _ack_change(e, alert_id):
    from telecare.alerts import AlertChange, AlertChangeKind

    return AlertChange(AlertChangeKind.ACKNOWLEDGED, await e["store"].get(alert_id))


async def test_the_live_stream_carries_the_escalation_in_snapshot_and_change_frames(env):
    e = env
    fall = await _raise(e, "r2", AlertType.FALL, Severity.CRITICAL)
    headers = await bearer(e["app"])
    async with serve(e["app"]) as base, httpx.AsyncClient(base_url=base, timeout=10, headers=headers) as client:
        async with client.stream("GET", "/api/alerts/stream") as response:
            frames = sse_frames(response)
            event, data = await anext(frames)
            assert event == "snapshot" and data["alerts"][0]["escalation"]["state"] == "armed"
            e["clock"].set(T0 + timedelta(seconds=181))
            await e["esc"].tick()  # second tier and nobody reached in one go: one re-alert frame
            event, data = await asyncio.wait_for(anext(frames), 10)
            assert (event, data["kind"], data["alert"]["id"]) == ("change", "escalated", fall.id)
            assert data["alert"]["escalation"]["state"] == "exhausted" and data["alert"]["nobody_reached"]


async def test_history_is_ordered_and_notes_are_signed_by_the_operator(env):
    e = env
    fall = await _raise(e, "r1", AlertType.FALL, Severity.CRITICAL, "Fall detected at 10:00")
    e["clock"].advance(5)
    await _raise(e, "r1", AlertType.FALL, Severity.CRITICAL, "Fall detected at 10:00 (again)")
    e["clock"].advance(5)
    note = await e["client"].post(f"/api/alerts/{fall.id}/notes", json={"text": "  Spoke to her: she is on the floor "})
    assert note.status_code == 201 and note.json()["actor"] == "anna-serra"
    e["clock"].advance(5)
    await e["client"].post(f"/api/alerts/{fall.id}/acknowledge", json={"by": "anna-serra"})
    await e["client"].post(f"/api/alerts/{fall.id}/resolve",
                           json={"by": "anna-serra", "outcome": "mobile_unit_sent", "note": "unit 4"})
    history = (await e["client"].get(f"/api/alerts/{fall.id}/history")).json()
    assert [(h["kind"], h["actor"]) for h in history] == [
        ("raised", "system"), ("attached", "system"), ("note", "anna-serra"), ("acknowledged", "anna-serra"),
        ("resolved", "anna-serra")]
    assert [h["text"] for h in history] == [
        "Raised: Fall detected at 10:00", "New trigger attached: Fall detected at 10:00 (again)",
        "Spoke to her: she is on the floor", "Acknowledged by anna-serra",
        "Resolved by anna-serra: mobile unit sent — unit 4"]
    assert [h["at"] for h in history] == sorted(h["at"] for h in history)

    other = await _raise(e, "r2", AlertType.LOW_BATTERY, Severity.TECHNICAL)
    by_hand = await e["client"].post(f"/api/alerts/{other.id}/resolve",
                                     json={"by": "Anna", "outcome": "condition_cleared"})
    assert by_hand.status_code == 400 and "set by the system" in by_hand.json()["detail"]
    assert (await e["client"].get("/api/alerts/999999/history")).status_code == 404
    assert (await e["client"].post("/api/alerts/999999/notes", json={"text": "x"})).status_code == 404
    empty = await e["client"].post(f"/api/alerts/{fall.id}/notes", json={"text": "   "})
    assert empty.status_code == 422 and empty.json()["detail"].startswith("text:")
    e["client"].headers.pop("Authorization")
    anonymous = await e["client"].post(f"/api/alerts/{fall.id}/notes", json={"text": "who am I"})
    assert anonymous.status_code == 401
    assert (await e["client"].get(f"/api/alerts/{fall.id}/history")).status_code == 401


async def test_filters_search_and_resolved_windows(env):
    e = env
    fall = await _raise(e, "r1", AlertType.FALL, Severity.CRITICAL)
    help_ = await _raise(e, "r2", AlertType.HELP_BUTTON, Severity.CRITICAL)
    quiet = await _raise(e, "r2", AlertType.INACTIVITY, Severity.HIGH)
    battery = await _raise(e, "r3", AlertType.LOW_BATTERY, Severity.TECHNICAL)

    ids = lambda rows: sorted(a["id"] for a in rows)  # noqa: E731
    assert ids(await _queue(e, severity="technical")) == [battery.id]
    assert ids(await _queue(e, type="help_button")) == [help_.id]
    assert ids(await _queue(e, resident_id="r2")) == sorted([help_.id, quiet.id])
    assert ids(await _queue(e, q="vida")) == sorted([help_.id, quiet.id])  # part of "Jordi Vidal", any case
    assert ids(await _queue(e, q="montse")) == [fall.id]
    assert await _queue(e, q="%") == []  # the user's wildcard is a literal character
    assert ids(await _queue(e, q="r3", severity="technical")) == [battery.id]

    old = await e["store"].resolve(fall.id, "Anna", Outcome.FALSE_ALARM, "", T0)
    e["clock"].set(T0 + timedelta(days=3))
    recent = await e["store"].resolve(help_.id, "Anna", Outcome.RESOLVED_BY_PHONE, "", e["clock"].now())
    e["clock"].advance(3600)
    assert [a["id"] for a in await _queue(e, resolved="24h")] == [recent.alert.id]
    assert [a["id"] for a in await _queue(e, resolved="7d")] == [recent.alert.id, old.alert.id]  # newest first
    assert [a["id"] for a in await _queue(e, resolved="7d", q="jordi")] == [recent.alert.id]
    e["clock"].advance(8 * 86400)
    assert await _queue(e, resolved="7d") == []
    bad = await e["client"].get("/api/alerts", params={"resolved": "1y"})
    assert bad.status_code == 422 and "resolved" in bad.json()["detail"]
    nul = await e["client"].get("/api/alerts", params={"q": "a\x00b"})
    assert nul.status_code == 400 and "control character" in nul.json()["detail"]  # the URL guard answers first
