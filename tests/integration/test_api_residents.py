"""Resident card, key-safe reveal and events API against a real PostgreSQL: audit rows, hidden code."""
from __future__ import annotations

import uuid
from datetime import date, datetime, timedelta, timezone

import pytest

from dashboards.app import WebDeps, create_app
from alerts.store import AlertStore
from telecare.bus import InProcessBus
from telecare.clock import FakeClock
from telecare.metrics import REGISTRY
from tests.e2e.browser import api_client, insert_resident

T0 = datetime(2026, 11, 22, 9, 0, tzinfo=timezone.utc)
CODE = "4711"
CONTACTS = [
    {"name": "Núria Puig", "phone": "+34600000002", "relation": "daughter", "priority": 1, "key_holder": True},
    {"name": "Veí Pau", "phone": "+34600000003", "relation": "neighbour", "priority": 2, "key_holder": False},
]


@pytest.fixture
async def app(db):
    await insert_resident(db, "r1", "Montserrat Puig", born=date(1938, 11, 23), address="Carrer de Mallorca 1",
                          phones=["+34600000001"], key_safe_code=CODE, contacts=CONTACTS,
                          risk_flags=["lives_alone"])
    await insert_resident(db, "r2", "Jordi Vidal")
    bus = InProcessBus()
    return create_app(WebDeps(db=db, bus=bus, alerts=AlertStore(db, bus), clock=FakeClock(T0)))


async def _audit(db, subject):
    return await db.fetch("SELECT actor, action, subject, detail FROM audit_log WHERE subject = %s ORDER BY id",
                          (subject,))


def _reads(action):
    return REGISTRY.get_sample_value("telecare_personal_data_reads_total", {"action": action}) or 0.0


async def test_card_shows_the_resident_without_the_code_and_is_audited(app, db):
    before = _reads("resident.card.read")
    async with api_client(app, name="anna-serra") as client:
        response = await client.get("/api/residents/r1")
    assert response.status_code == 200
    card = response.json()
    assert card["name"] == "Montserrat Puig" and card["age"] == 87  # 88 only tomorrow, Madrid time
    assert card["address"] == "Carrer de Mallorca 1" and card["phones"] == ["+34600000001"]
    assert [c["name"] for c in card["contacts"]] == ["Núria Puig", "Veí Pau"]
    assert [c["name"] for c in card["key_holders"]] == ["Núria Puig"]
    assert card["risk_flags"] == ["lives_alone"] and card["at_home"] is True and card["has_key_safe"] is True
    assert CODE not in response.text and "key_safe_code" not in card
    assert await _audit(db, "r1") == [
        {"actor": "anna-serra", "action": "resident.card.read", "subject": "r1", "detail": {}}]
    assert _reads("resident.card.read") == before + 1


async def test_card_needs_a_signed_in_operator_and_an_existing_resident(app, db):
    async with api_client(app, anonymous=True) as client:
        anonymous = await client.get("/api/residents/r1")
    assert anonymous.status_code == 401 and "sign in" in anonymous.json()["detail"]
    async with api_client(app, name="anna") as client:
        missing = await client.get("/api/residents/nobody")
    assert missing.status_code == 404 and missing.json()["detail"] == "resident nobody does not exist"
    assert await db.fetchval("SELECT count(*) FROM audit_log") == 0


async def test_key_safe_reveal_returns_the_code_and_writes_an_audit_row_with_the_reason(app, db):
    before = _reads("resident.key_safe.reveal")
    async with api_client(app, name="anna") as client:
        response = await client.post("/api/residents/r1/key-safe", json={"by": "Anna", "reason": "ambulance on site"})
        no_reason = await client.post("/api/residents/r1/key-safe", json={"by": "Anna"})
        no_code = await client.post("/api/residents/r2/key-safe", json={"by": "Anna", "reason": "ambulance"})
    assert response.status_code == 200 and response.json() == {"resident_id": "r1", "code": CODE}
    assert await _audit(db, "r1") == [{"actor": "anna", "action": "resident.key_safe.reveal", "subject": "r1",
                                       "detail": {"reason": "ambulance on site"}}]
    assert _reads("resident.key_safe.reveal") == before + 1
    assert no_reason.status_code == 422 and no_reason.json()["detail"] == "reason: Field required"
    assert no_code.status_code == 404 and "no key-safe code" in no_code.json()["detail"]
    assert await _audit(db, "r2") == []


async def test_events_lists_the_last_24_hours_newest_first_and_is_audited(app, db):
    rows = [(T0 - timedelta(hours=h), t) for h, t in ((1, "motion"), (5, "bed_exit"), (30, "motion"))]
    for ts, type_ in rows:
        await db.execute(
            """INSERT INTO events (id, ts, received_at, gateway_id, device_id, resident_id, type, msg_id)
               VALUES (%s, %s, %s, 'gw1', 'pir1', 'r1', %s, %s)""",
            (uuid.uuid4(), ts, ts, type_, uuid.uuid4().hex),
        )
    async with api_client(app, name="anna") as client:
        day = await client.get("/api/residents/r1/events")
        week = await client.get("/api/residents/r1/events", params={"hours": 48})
        too_long = await client.get("/api/residents/r1/events", params={"hours": 1000})
    assert [e["type"] for e in day.json()["events"]] == ["motion", "bed_exit"]
    assert day.json()["events"][0]["ts"] == (T0 - timedelta(hours=1)).isoformat()
    assert len(week.json()["events"]) == 3
    assert too_long.status_code == 422 and too_long.json()["detail"].startswith("hours:")
    audit = await _audit(db, "r1")
    assert [(a["action"], a["detail"]) for a in audit] == [
        ("resident.events.read", {"hours": 24}), ("resident.events.read", {"hours": 48})]
