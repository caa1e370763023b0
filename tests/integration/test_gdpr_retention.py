"""Retention with a fake clock: old partitions (TimescaleDB: chunks) dropped, recent kept; dead letters; audit rows
only through the definer function, which the application role can call but cannot misuse."""
from __future__ import annotations

import uuid
from datetime import datetime, timedelta, timezone

import pytest

from entrypoints.gdpr_wiring import run_retention
from gdpr.retention import EventsMechanism
from telecare.clock import FakeClock
from telecare.errors import StoreError
from telecare.settings import load_settings
from telecare.store.migrate import features

# Just before the real now: the audit function refuses a future "now", so the fake clock stays behind it.
NOW = datetime.now(timezone.utc).replace(microsecond=0) - timedelta(days=1)


async def _event(db, ts: datetime) -> None:
    await db.execute("INSERT INTO events (id, ts, received_at, gateway_id, device_id, resident_id, type, msg_id) "
                     "VALUES (%s, %s, %s, 'gw', 'd', 'r', 'motion', %s)", (uuid.uuid4(), ts, ts, uuid.uuid4().hex))


def _month(ts: datetime) -> str:
    return f"events_{ts.year:04d}_{ts.month:02d}"


async def test_plain_postgresql_drops_whole_old_partitions_and_keeps_recent_ones(db):
    clock = FakeClock(NOW)
    settings = load_settings(retention_events_days=730)
    horizon = clock.now() - timedelta(days=730)
    old, edge, recent = horizon - timedelta(days=70), horizon + timedelta(hours=1), clock.now() - timedelta(days=3)
    if (await features(db)).hypertable:  # a TimescaleDB server (TELECARE_TEST_DATABASE_URL): chunks, not partitions
        await _timescale_retention(db, settings, clock, old, edge, recent)
        return
    for ts in (old, edge, recent):
        await db.execute("SELECT telecare_ensure_event_partitions(%s, 0)", (ts,))  # this month and the one before
        await _event(db, ts)
    await _event(db, horizon - timedelta(days=2000))  # no partition for it: lands in events_default
    await _event(db, horizon + timedelta(days=40))    # recent enough, in events_default too (or its month)
    parts_before = {r["relname"] for r in await db.fetch(
        "SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid "
        "JOIN pg_class p ON p.oid = i.inhparent WHERE p.relname = 'events'")}
    assert {_month(old), _month(edge), _month(recent)} <= parts_before

    f = await features(db)
    assert not f.hypertable and f.event_partitions == len(parts_before) and f.audit_purge
    result = await run_retention(db, settings, clock.now())

    assert result.mechanism is EventsMechanism.DROP_PARTITIONS
    ends = {p: (datetime.strptime(p[7:], "%Y_%m").replace(tzinfo=timezone.utc) + timedelta(days=32)).replace(day=1)
            for p in parts_before if p != "events_default"}
    assert set(result.dropped_partitions) == {p for p, end in ends.items() if end <= horizon}
    assert _month(old) in result.dropped_partitions and _month(edge) not in result.dropped_partitions
    left = [r["ts"] for r in await db.fetch("SELECT ts FROM events ORDER BY ts")]
    assert min(left) >= horizon and len(left) == 3  # edge, recent and the +40 days one; both old ones gone
    # A second run has nothing left to drop.
    assert (await run_retention(db, settings, clock.now())).dropped_partitions == []


async def _timescale_retention(db, settings, clock, old, edge, recent) -> None:
    """The same horizon on a hypertable: the licence's policy (0001 set it), or drop_chunks on an Apache build."""
    for ts in (old, edge, recent):
        await _event(db, ts)
    result = await run_retention(db, settings, clock.now())
    if result.mechanism is EventsMechanism.TIMESCALE_POLICY:  # Timescale's own job drops the chunks
        assert (await features(db)).retention_policy_days == 730
        return
    assert result.mechanism is EventsMechanism.DROP_CHUNKS and result.dropped_chunks >= 1
    left = {r["ts"] for r in await db.fetch("SELECT ts FROM events")}
    assert old not in left and {edge, recent} <= left


async def test_dead_letters_and_audit_rows_past_their_horizon_go(db):
    clock = FakeClock(NOW)
    for days in (45, 10):
        await db.execute("INSERT INTO dead_letters (received_at, topic, payload, reason) VALUES (%s, 't', '', 'x')",
                         (clock.now() - timedelta(days=days),))
    for days in (1900, 1000, 2):
        await db.execute("INSERT INTO audit_log (at, actor, action, subject) VALUES (%s, 'anna', 'resident.card.read', 'r')",
                         (clock.now() - timedelta(days=days),))
    result = await run_retention(db, load_settings(), clock.now())
    assert (result.dead_letters, result.audit_rows) == (1, 1)
    assert await db.fetchval("SELECT count(*) FROM dead_letters") == 1
    assert await db.fetchval("SELECT count(*) FROM audit_log") == 2


async def test_the_application_role_cannot_delete_audit_rows_but_retention_can(db):
    role = f"telecare_app_{uuid.uuid4().hex[:8]}"
    await db.execute(f"CREATE ROLE {role} NOLOGIN")
    try:
        await db.execute(f"GRANT SELECT, INSERT ON audit_log TO {role}")
        await db.execute(f"GRANT EXECUTE ON FUNCTION telecare_purge_audit(integer, timestamptz) TO {role}")
        await db.execute("INSERT INTO audit_log (at, actor, action, subject) VALUES (%s, 'anna', 'x.read', 'r')",
                         (NOW - timedelta(days=4000),))
        with pytest.raises(StoreError):
            async with db.transaction() as tx:
                await tx.execute(f"SET LOCAL ROLE {role}")
                await tx.execute("DELETE FROM audit_log")
        with pytest.raises(StoreError, match="value not allowed"):  # a horizon under a year is refused
            async with db.transaction() as tx:
                await tx.execute(f"SET LOCAL ROLE {role}")
                await tx.fetchval("SELECT telecare_purge_audit(30)")
        async with db.transaction() as tx:
            await tx.execute(f"SET LOCAL ROLE {role}")
            # A "now" in the future is clamped to the server's: it cannot reach recent rows.
            assert await tx.fetchval("SELECT telecare_purge_audit(365, now() + interval '100 years')") == 1
    finally:
        await db.execute(f"DROP OWNED BY {role}")
        await db.execute(f"DROP ROLE {role}")
