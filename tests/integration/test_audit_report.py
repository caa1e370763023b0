"""The breach-response report from real audit rows: per actor, which residents, only reads, only the window."""
from __future__ import annotations

from datetime import timedelta

import pytest

from dashboards.audit import Actor, AuditAction, AuditLog
from gdpr.audit_report import as_table, reads
from telecare.errors import InvalidInput
from tests.integration.gdpr_seed import T0


async def test_reads_per_actor_and_resident_in_the_window(db):
    audit = AuditLog(db)
    await audit.record(Actor("anna", "session"), AuditAction.CARD_READ, ["r1"], T0 - timedelta(hours=5))
    await audit.record(Actor("anna", "session"), AuditAction.EVENTS_READ, ["r1"], T0 - timedelta(hours=1))
    await audit.record(Actor("anna", "session"), AuditAction.KEY_SAFE_REVEAL, ["r2"], T0 - timedelta(hours=2), {"reason": "crew"})
    await audit.record(Actor("token:7", "token"), AuditAction.CALL_LOG_NAMES_READ, ["r1", "r3"], T0 - timedelta(hours=3))
    await audit.record(Actor("bea", "session"), AuditAction.CARD_READ, ["r9"], T0 - timedelta(days=10))  # before the window
    await db.execute("INSERT INTO audit_log (at, actor, action, subject) VALUES (%s, 'ada', 'resident.data.erase', 'r5')",
                     (T0 - timedelta(hours=1),))  # a change, not a read
    found = await reads(db, T0 - timedelta(hours=72), T0)
    assert [(s.actor, s.resident_id, s.reads) for s in found] == [
        ("anna", "r1", 2), ("anna", "r2", 1), ("token:7", "r1", 1), ("token:7", "r3", 1)]
    anna_r1 = found[0]
    assert anna_r1.actions == ("resident.card.read", "resident.events.read")
    assert (anna_r1.first_at, anna_r1.last_at) == (T0 - timedelta(hours=5), T0 - timedelta(hours=1))
    table = as_table(found, T0 - timedelta(hours=72), T0)
    assert "2 actor(s) read the data of 3 resident(s)" in table and "r9" not in table and "r5" not in table
    with pytest.raises(InvalidInput):
        await reads(db, T0, T0 - timedelta(hours=1))
