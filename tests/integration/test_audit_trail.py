"""Audit rows for personal-data reads and changes, the key-safe reveal's reason and user, and append-only."""
from __future__ import annotations

from datetime import datetime, timezone

import pytest

from alerts.store import AlertStore
from dashboards.app import WebDeps, create_app
from telecare.alerts import AlertTrigger, AlertType, Severity
from telecare.bus import InProcessBus
from telecare.clock import FakeClock
from telecare.errors import StoreError
from tests.e2e.browser import insert_resident
from tests.web_helpers import api_client, session_client

T0 = datetime(2026, 11, 22, 9, 0, tzinfo=timezone.utc)


@pytest.fixture
async def app(db):
    await insert_resident(db, "r1", "Montserrat Puig", key_safe_code="4711")
    bus = InProcessBus()
    return create_app(WebDeps(db=db, bus=bus, alerts=AlertStore(db, bus), clock=FakeClock(T0)))


async def rows(db, action):
    return await db.fetch("SELECT actor, actor_kind, residents, outcome, client_addr, user_agent, detail "
                          "FROM audit_log WHERE action = %s ORDER BY id", (action,))


async def test_reads_and_changes_each_append_one_row_with_who_and_where(app, db):
    alert = (await AlertStore(db, InProcessBus()).raise_or_attach(
        AlertTrigger("r1", AlertType.FALL, Severity.CRITICAL, T0, "fall"), T0)).alert
    async with session_client(app, ["operator"], name="anna") as c:
        c.headers["user-agent"] = "test-browser/1"
        assert (await c.get("/api/residents/r1")).status_code == 200
        assert (await c.get("/api/residents/r1/events")).status_code == 200
        assert (await c.get("/api/alerts")).status_code == 200
        assert (await c.post(f"/api/alerts/{alert.id}/acknowledge", json={"by": "someone else"})).status_code == 200
        assert (await c.post(f"/api/alerts/{alert.id}/notes", json={"text": "on my way"})).status_code == 201
        assert (await c.get(f"/api/alerts/{alert.id}/history")).status_code == 200
        resolved = await c.post(f"/api/alerts/{alert.id}/resolve", json={"by": "mallory", "outcome": "false_alarm"})
        assert resolved.status_code == 200 and resolved.json()["resolved_by"] == "anna"
    for action in ("resident.card.read", "resident.events.read", "alerts.read", "alert.acknowledge", "alert.note",
                   "alert.history.read", "alert.resolve"):
        [row] = await rows(db, action)
        assert (row["actor"], row["actor_kind"], row["residents"], row["outcome"]) == ("anna", "session", ["r1"],
                                                                                       "allowed"), action
        assert row["client_addr"] == "127.0.0.1" and row["user_agent"] == "test-browser/1"
    assert resolved.json()["acknowledged_by"] == "anna"  # the body's `by` is ignored


async def test_key_safe_reveal_needs_a_reason_and_records_the_sessions_user(app, db):
    async with session_client(app, ["operator"], name="pere") as c:
        no_reason = await c.post("/api/residents/r1/key-safe", json={"by": "anna"})
        shown = await c.post("/api/residents/r1/key-safe", json={"by": "anna", "reason": "ambulance at the door"})
    assert no_reason.status_code == 422 and shown.json()["code"] == "4711"
    [row] = await rows(db, "resident.key_safe.reveal")
    assert row["actor"] == "pere" and row["detail"] == {"reason": "ambulance at the door"}


async def test_a_denial_is_audited(app, db):
    async with api_client(app, role="installer", name="ivan") as c:
        assert (await c.get("/api/residents/r1")).status_code == 403
    [row] = await rows(db, "access.denied")
    assert (row["actor"], row["actor_kind"], row["outcome"]) == ("ivan", "token", "denied")
    assert row["detail"]["path"] == "/api/residents/r1"


async def test_audit_search_by_resident_user_and_action(app, db):
    async with api_client(app, name="anna") as c:
        await c.get("/api/residents/r1")
    async with api_client(app, role="auditor", name="aud") as c:
        found = (await c.get("/api/audit", params={"resident_id": "r1", "user": "anna"})).json()
        by_action = (await c.get("/api/audit", params={"action": "resident.card.read",
                                                       "since": "2026-11-22T00:00:00+00:00"})).json()
        bad = await c.get("/api/audit", params={"action": "nonsense"})
    assert [(r["actor"], r["action"], r["residents"]) for r in found] == [("anna", "resident.card.read", ["r1"])]
    assert len(by_action) == 1 and bad.status_code == 400
    assert len(await rows(db, "audit.read")) == 2  # reading the audit is audited too


async def test_update_delete_and_truncate_of_audit_rows_fail_in_the_database(app, db):
    async with api_client(app) as c:
        await c.get("/api/residents/r1")
    for sql in ("UPDATE audit_log SET actor = 'nobody'", "DELETE FROM audit_log", "TRUNCATE audit_log"):
        with pytest.raises(StoreError, match="42501"):  # the trigger's insufficient_privilege
            await db.execute(sql)
    assert await db.fetchval("SELECT count(*) FROM audit_log WHERE actor = 'test-operator'") == 1
    # The retention job's hook: DELETE only inside a transaction that says it is the retention job.
    async with db.transaction() as tx:
        await tx.execute("SET LOCAL telecare.audit_retention = 'on'")
        assert await tx.execute("DELETE FROM audit_log WHERE at < %s", (T0,)) == 0
