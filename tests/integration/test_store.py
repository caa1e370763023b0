"""The store against a real PostgreSQL: migrations, partitions, the one-active-alert guarantee."""
from __future__ import annotations

import asyncio
from datetime import datetime, timedelta, timezone

import pytest

from alerts.store import AlertStore
from telecare.alerts import AlertChangeKind, AlertStatus, AlertTrigger, AlertType, Outcome, Severity
from telecare.bus import ALERTS, InProcessBus
from telecare.errors import ConflictError
from telecare.store.migrate import features, maintain, upgrade

NOW = datetime(2026, 11, 22, 12, 0, tzinfo=timezone.utc)


async def _resident(db, rid="r1"):
    await db.execute("INSERT INTO residents (id, name) VALUES (%s, %s)", (rid, "Test Resident"))


async def test_upgrade_is_idempotent(db):
    assert await upgrade(db) == []
    assert await db.fetchval("SELECT count(*) FROM schema_migrations") >= 1


async def test_events_land_in_monthly_partitions_and_default_rows_move(db):
    await db.execute(
        "INSERT INTO events VALUES (gen_random_uuid(), %s, %s, 'g', 'd', 'r', 'motion', 'm1', NULL, NULL)",
        (NOW, NOW),
    )
    if (await features(db)).hypertable:  # TimescaleDB: a chunk holds it; maintain() has no partitions to make
        chunk = await db.fetchval("SELECT tableoid::regclass::text FROM events")
        assert chunk.startswith("_timescaledb_internal.")
        await maintain(db, NOW)
        assert await db.fetchval("SELECT count(*) FROM events") == 1
        return
    assert await db.fetchval("SELECT count(*) FROM events_default") == 1
    await maintain(db, NOW)
    where = await db.fetchval("SELECT tableoid::regclass::text FROM events")
    assert where == "events_2026_11"
    assert await db.fetchval("SELECT count(*) FROM events_default") == 0
    await maintain(db, NOW)  # idempotent
    assert await db.fetchval("SELECT count(*) FROM events") == 1


async def test_burst_of_triggers_yields_one_active_alert(db):
    await _resident(db)
    bus = InProcessBus()
    bus.register(ALERTS, "test")
    store = AlertStore(db, bus)
    trigger = AlertTrigger("r1", AlertType.FALL, Severity.CRITICAL, NOW, "fall detected", "fs-1")
    changes = await asyncio.gather(*(store.raise_or_attach(trigger, NOW) for _ in range(20)))
    kinds = [c.kind for c in changes]
    assert kinds.count(AlertChangeKind.RAISED) == 1
    assert kinds.count(AlertChangeKind.UPDATED) == 19
    [alert] = await store.list(AlertStatus.OPEN)
    assert alert.count == 20


async def test_lifecycle_ack_resolve_then_new_alert(db):
    await _resident(db)
    store = AlertStore(db, InProcessBus())
    trig = AlertTrigger("r1", AlertType.HELP_BUTTON, Severity.CRITICAL, NOW, "help button pressed")
    raised = (await store.raise_or_attach(trig, NOW)).alert
    acked = (await store.acknowledge(raised.id, "op-anna", NOW + timedelta(seconds=20))).alert
    assert acked.status is AlertStatus.ACKNOWLEDGED and acked.acknowledged_by == "op-anna"
    with pytest.raises(ConflictError):
        await store.acknowledge(raised.id, "op-bob", NOW + timedelta(seconds=21))
    attached = await store.raise_or_attach(trig, NOW + timedelta(seconds=30))
    assert attached.kind is AlertChangeKind.UPDATED and attached.alert.status is AlertStatus.ACKNOWLEDGED
    done = (await store.resolve(raised.id, "op-anna", Outcome.RESOLVED_BY_PHONE, "ok", NOW + timedelta(minutes=2))).alert
    assert done.status is AlertStatus.RESOLVED and done.outcome is Outcome.RESOLVED_BY_PHONE
    again = await store.raise_or_attach(trig, NOW + timedelta(minutes=5))
    assert again.kind is AlertChangeKind.RAISED and again.alert.id != raised.id


async def test_duplicate_keys_older_than_35_days_are_pruned_through_their_brin_index(db):
    method = await db.fetchval("SELECT am.amname FROM pg_class c JOIN pg_am am ON am.oid = c.relam "
                               "WHERE c.relname = 'event_keys_received_brin'")
    assert method == "brin"
    ages = [40, 36, 34, 1]  # days before NOW
    for days in ages:
        await db.execute("INSERT INTO event_keys (gateway_id, msg_id, received_at) VALUES ('g', %s, %s)",
                         (f"m{days}", NOW - timedelta(days=days)))
    await maintain(db, NOW)
    kept = await db.fetch("SELECT msg_id FROM event_keys ORDER BY msg_id")
    assert [r["msg_id"] for r in kept] == ["m1", "m34"]
