"""Alert queue API against a real PostgreSQL: filters, ordering, lifecycle, error messages, metrics."""
from __future__ import annotations

from datetime import datetime, timezone

import pytest

from dashboards.app import WebDeps, create_app
from alerts.store import AlertStore
from telecare.alerts import AlertTrigger, AlertType, Severity
from telecare.bus import InProcessBus
from telecare.clock import FakeClock
from telecare.metrics import REGISTRY
from tests.e2e.browser import api_client, insert_resident

T0 = datetime(2026, 11, 22, 9, 0, tzinfo=timezone.utc)


@pytest.fixture
async def env(db):
    clock = FakeClock(T0)
    bus = InProcessBus()
    store = AlertStore(db, bus)
    await insert_resident(db, "r1", "Montserrat Puig")
    await insert_resident(db, "r2", "Jordi Vidal")
    app = create_app(WebDeps(db=db, bus=bus, alerts=store, clock=clock))
    async with api_client(app, name="anna") as client:
        yield client, store, clock


async def _raise(store, clock, resident, type_, severity, after_s=0):
    clock.advance(after_s)
    trigger = AlertTrigger(resident, type_, severity, clock.now(), f"{type_.value} test")
    return (await store.raise_or_attach(trigger, clock.now())).alert


async def test_active_queue_is_sorted_by_severity_then_age_with_names_and_waiting(env):
    client, store, clock = env
    low = await _raise(store, clock, "r1", AlertType.LOW_BATTERY, Severity.TECHNICAL)
    med_old = await _raise(store, clock, "r1", AlertType.INACTIVITY, Severity.MEDIUM, 5)
    med_new = await _raise(store, clock, "r2", AlertType.INACTIVITY, Severity.MEDIUM, 5)
    crit = await _raise(store, clock, "r2", AlertType.FALL, Severity.CRITICAL, 5)
    await store.acknowledge(med_new.id, "Anna", clock.now())
    clock.advance(30)

    response = await client.get("/api/alerts")
    assert response.status_code == 200
    body = response.json()
    assert [a["id"] for a in body] == [crit.id, med_old.id, med_new.id, low.id]
    assert body[0]["resident_name"] == "Jordi Vidal" and body[0]["severity"] == "critical"
    assert body[0]["waiting_seconds"] == 30.0  # open: still counting
    assert body[2]["status"] == "acknowledged" and body[2]["waiting_seconds"] == 5.0  # frozen at acknowledge
    for key in ("id", "resident_id", "type", "severity", "status", "raised_at", "count"):
        assert key in body[0]


async def test_status_filter_returns_only_that_status(env):
    client, store, clock = env
    a = await _raise(store, clock, "r1", AlertType.HELP_BUTTON, Severity.CRITICAL)
    b = await _raise(store, clock, "r2", AlertType.HELP_BUTTON, Severity.CRITICAL, 1)
    await store.acknowledge(b.id, "Anna", clock.now())

    open_ids = [x["id"] for x in (await client.get("/api/alerts", params={"status": "open"})).json()]
    ack_ids = [x["id"] for x in (await client.get("/api/alerts", params={"status": "acknowledged"})).json()]
    assert (open_ids, ack_ids) == ([a.id], [b.id])
    bad = await client.get("/api/alerts", params={"status": "closed"})
    assert bad.status_code == 422
    assert "status" in bad.json()["detail"] and "'open'" in bad.json()["detail"]


async def test_acknowledge_then_resolve_updates_the_row_and_conflicts_are_409(env, db):
    client, store, clock = env
    alert = await _raise(store, clock, "r1", AlertType.FALL, Severity.CRITICAL)
    clock.advance(20)

    ack = await client.post(f"/api/alerts/{alert.id}/acknowledge", json={"by": "Anna"})
    assert ack.status_code == 200 and ack.json()["status"] == "acknowledged"
    row = await db.fetchrow("SELECT status, acknowledged_by FROM alerts WHERE id = %s", (alert.id,))
    assert row == {"status": "acknowledged", "acknowledged_by": "anna"}  # the principal, not the body

    again = await client.post(f"/api/alerts/{alert.id}/acknowledge", json={"by": "Pere"})
    assert again.status_code == 409
    assert again.json()["detail"] == f"alert {alert.id} is already acknowledged"

    done = await client.post(f"/api/alerts/{alert.id}/resolve",
                             json={"by": "Anna", "outcome": "contact_attended", "note": "daughter went round"})
    assert done.status_code == 200
    row = await db.fetchrow("SELECT status, outcome, note FROM alerts WHERE id = %s", (alert.id,))
    assert row == {"status": "resolved", "outcome": "contact_attended", "note": "daughter went round"}
    resolved = (await client.get("/api/alerts", params={"status": "resolved"})).json()
    assert [x["id"] for x in resolved] == [alert.id]
    assert (await client.get("/api/alerts")).json() == []


async def test_unknown_alert_is_404_and_bad_bodies_are_readable_422(env):
    client, store, clock = env
    before = REGISTRY.get_sample_value("telecare_http_client_errors_total", {"status": "422"}) or 0.0
    before_404 = REGISTRY.get_sample_value("telecare_http_client_errors_total", {"status": "404"}) or 0.0

    missing = await client.post("/api/alerts/999999/acknowledge", json={"by": "Anna"})
    assert missing.status_code == 404 and missing.json()["detail"] == "alert 999999 does not exist"

    alert = await _raise(store, clock, "r1", AlertType.FALL, Severity.CRITICAL)
    no_name = await client.post(f"/api/alerts/{alert.id}/acknowledge", json={"by": "  "})
    assert no_name.status_code == 422
    assert no_name.json()["detail"].startswith("by: String should have at least 1 character")
    bad_outcome = await client.post(f"/api/alerts/{alert.id}/resolve", json={"by": "Anna", "outcome": "fixed"})
    assert bad_outcome.status_code == 422
    assert "outcome: Input should be 'false_alarm'" in bad_outcome.json()["detail"]
    no_body = await client.post(f"/api/alerts/{alert.id}/resolve")
    assert no_body.status_code == 422 and "body: Field required" in no_body.json()["detail"]
    not_int = await client.post("/api/alerts/abc/acknowledge", json={"by": "Anna"})
    assert not_int.status_code == 422 and not_int.json()["detail"].startswith("alert_id:")

    after = REGISTRY.get_sample_value("telecare_http_client_errors_total", {"status": "422"})
    assert after == before + 4
    assert REGISTRY.get_sample_value("telecare_http_client_errors_total", {"status": "404"}) == before_404 + 1


async def test_metrics_healthz_and_openapi(env, db_url):
    client, store, clock = env
    await _raise(store, clock, "r1", AlertType.FALL, Severity.CRITICAL)
    metrics = await client.get("/metrics")
    assert metrics.status_code == 200
    assert 'telecare_alerts_raised_total{severity="critical",type="fall"}' in metrics.text
    health = await client.get("/healthz")
    assert health.status_code == 200 and health.json()["database"] == "up"
    spec = (await client.get("/openapi.json")).json()
    assert {"/api/alerts", "/api/alerts/stream", "/api/residents/{resident_id}"} <= set(spec["paths"])
    assert (await client.get("/docs")).status_code == 200


async def test_healthz_is_503_when_the_database_is_gone(db_url):
    from telecare.store import Database

    db = await Database.connect(db_url, min_size=1, max_size=1)
    await db.close()
    bus = InProcessBus()
    app = create_app(WebDeps(db=db, bus=bus, alerts=AlertStore(db, bus), clock=FakeClock(T0)))
    async with api_client(app, anonymous=True) as client:
        response = await client.get("/healthz")
    assert response.status_code == 503 and response.json()["database"] == "down"


async def test_extra_routers_are_included(db):
    from fastapi import APIRouter

    extra = APIRouter()

    @extra.get("/api/devices")
    async def devices() -> list[dict[str, str]]:
        return [{"id": "d1"}]

    bus = InProcessBus()
    app = create_app(WebDeps(db=db, bus=bus, alerts=AlertStore(db, bus), clock=FakeClock(T0),
                             extra_routers=(extra,)))
    async with api_client(app, role="installer") as client:
        assert (await client.get("/api/devices")).json() == [{"id": "d1"}]


async def test_a_reason_is_sent_with_its_template_and_params_and_the_first_trigger_keeps_them(env, db):
    """The engine's reason template and values reach the queue (the page says them in its language)."""
    from uuid import uuid4

    from rules.engine import evaluate, new_state
    from telecare.events import DeviceType, Event, EventType
    from telecare.people import Device, Resident

    client, store, clock = env
    resident, pendant = Resident("r1", "Montserrat Puig"), Device("pd1", DeviceType.PENDANT, "gw1", "r1")
    state, decisions = new_state("r1"), []
    for battery in (12, 40, 9):  # low, recovered, low again (a second trigger attaches to the open alert)
        ev = Event(uuid4(), "gw1", "pd1", "r1", EventType.HEARTBEAT, clock.now(), clock.now(), uuid4().hex, battery)
        state, out = evaluate(ev, resident, [pendant], state, clock.now())
        decisions += [d for d in out if isinstance(d, AlertTrigger)]
        clock.advance(60)
    assert len(decisions) == 2
    for trigger in decisions:
        await store.raise_or_attach(trigger, clock.now())
    await _raise(store, clock, "r2", AlertType.FALL, Severity.CRITICAL)  # a writer without a template

    body = {a["resident_id"]: a for a in (await client.get("/api/alerts")).json()}
    low = body["r1"]
    assert low["count"] == 2 and low["reason"] == "Low battery on Pendant pd1 (12%)"
    assert low["reason_template"] == "Low battery on {device} {device_id}{level}"
    assert low["reason_params"] == {"device": "pendant", "device_id": "pd1", "level": " (12%)"}
    assert body["r2"]["reason_template"] is None and body["r2"]["reason_params"] == {}
    assert await db.fetchval("SELECT reason_params->>'level' FROM alerts WHERE resident_id = 'r1'") == " (12%)"
