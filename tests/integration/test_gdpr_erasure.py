"""Erasure on real PostgreSQL: no trace of the resident's identity anywhere, kept records marked, dry run inert."""
from __future__ import annotations

import pytest

from entrypoints.gdpr_wiring import build_gdpr
from gdpr.catalog import KeptReason
from gdpr.erasure import Action
from telecare.clock import FakeClock
from telecare.errors import NotFound
from tests.integration.gdpr_seed import OTHER, RID, SECRETS, T0, seed

_TEXT_COLUMNS = """
SELECT c.table_name AS t, c.column_name AS c FROM information_schema.columns c
JOIN pg_class k ON k.relname = c.table_name AND NOT k.relispartition
JOIN pg_namespace n ON n.oid = k.relnamespace AND n.nspname = c.table_schema
WHERE c.table_schema = current_schema()
  AND (c.data_type IN ('text', 'character varying', 'jsonb', 'json', 'ARRAY', 'bytea'))
ORDER BY 1, 2"""


async def scan(db, needles) -> list[tuple[str, str, str]]:
    """(table, column, needle) for every text, jsonb, array or bytea column of every table holding a needle."""
    hits = []
    for col in await db.fetch(_TEXT_COLUMNS):
        expr = f'encode("{col["c"]}", \'escape\')' if col["c"] == "payload" else f'"{col["c"]}"::text'
        for needle in needles:
            if await db.fetchval(f'SELECT count(*) FROM "{col["t"]}" WHERE strpos({expr}, %s) > 0', (needle,)):
                hits.append((col["t"], col["c"], needle))
    return hits


async def fingerprint(db) -> dict[str, str]:
    """A digest of every table's whole content."""
    tables = [r["t"] for r in await db.fetch(
        "SELECT tablename AS t FROM pg_tables WHERE schemaname = current_schema() ORDER BY 1")]
    return {t: await db.fetchval(f'SELECT md5(coalesce(string_agg(x::text, \'|\' ORDER BY x::text), \'\')) FROM "{t}" x')
            for t in tables}


async def test_after_erasure_no_table_holds_the_name_phones_address_or_key_safe_code(db):
    ids = await seed(db)
    assert len({h[2] for h in await scan(db, SECRETS)}) == len(SECRETS)  # the scan finds them before
    report = await build_gdpr(db, FakeClock(T0)).erase(RID, "cli:tester")
    assert not report.dry_run
    assert await scan(db, SECRETS) == []
    # Raw events, dead letters of the resident's devices, notes, device registrations and rule state are gone.
    for sql in ("SELECT count(*) FROM events WHERE resident_id = %(r)s",
                "SELECT count(*) FROM devices WHERE resident_id = %(r)s",
                "SELECT count(*) FROM dead_letters WHERE device_id IN ('p-1', 'gw-1')",
                "SELECT count(*) FROM rule_state WHERE resident_id = %(r)s",
                "SELECT count(*) FROM call_log WHERE resident_id = %(r)s AND note IS NOT NULL",
                "SELECT count(*) FROM alerts WHERE resident_id = %(r)s AND note IS NOT NULL",
                "SELECT count(*) FROM alert_history WHERE kind = 'note'"):
        assert await db.fetchval(sql, {"r": RID}) == 0, sql
    # Alert and call records stay, each marked with why.
    assert await db.fetchval("SELECT count(*) FROM alerts WHERE resident_id = %s", (RID,)) == 2
    assert await db.fetchval("SELECT count(*) FROM call_log WHERE resident_id = %s", (RID,)) == 2
    reasons = {(r["table_name"], r["row_id"]): r["kept_reason"] for r in await db.fetch("SELECT * FROM erasure_log")}
    assert reasons[("alerts", str(ids["help_alert"]))] == KeptReason.CARE_RECORD.value
    assert reasons[("residents", RID)] == KeptReason.PSEUDONYM.value
    assert reasons[("call_tasks", str(ids["task_done"]))] == KeptReason.REFERENCED.value
    assert {t for t, _ in reasons} == {"residents", "alerts", "alert_history", "call_log", "call_tasks", "audit_log"}
    kept_counts = await db.fetchval("SELECT count(*) FROM erasure_log WHERE table_name = 'call_log'")
    assert kept_counts == 2
    # The pending call is gone (no call record points at it); the resident row is a pseudonym now.
    assert await db.fetchval("SELECT count(*) FROM call_tasks WHERE resident_id = %s", (RID,)) == 1
    row = await db.fetchrow("SELECT * FROM residents WHERE id = %s", (RID,))
    assert row["name"].startswith("Erased resident ") and row["date_of_birth"] is None and row["latitude"] is None
    assert [c["name"] for c in row["contacts"]] == ["contact 1", "contact 2"] and row["contacts"][0]["key_holder"]
    # The erasure is audited: who, when, which resident, counts only.
    audit = await db.fetchrow("SELECT * FROM audit_log WHERE action = 'resident.data.erase'")
    assert (audit["actor"], audit["subject"], audit["at"]) == ("cli:tester", RID, T0)
    assert audit["detail"]["rows"]["events.deleted"] == 3
    # The neighbour is untouched.
    assert await db.fetchval("SELECT name FROM residents WHERE id = %s", (OTHER,)) == "Pere Soler Camps"
    assert await db.fetchval("SELECT count(*) FROM events WHERE resident_id = %s", (OTHER,)) == 1
    assert await db.fetchval("SELECT count(*) FROM dead_letters WHERE device_id = 'gw-2'") == 1
    # What is left can still be exported (subject access after erasure shows what was kept).
    body = await build_gdpr(db, FakeClock(T0)).export_zip(RID, "cli:tester")
    assert body[:2] == b"PK"
    # A second erasure finds nothing more to delete and refreshes the kept marks instead of duplicating them.
    again = await build_gdpr(db, FakeClock(T0)).erase(RID, "cli:tester")
    assert not [k for k in again.totals() if k[1] is Action.DELETED and k[0] != "audit_log"]
    assert await db.fetchval("SELECT count(*) FROM erasure_log WHERE table_name = 'alerts'") == 2


async def test_a_dry_run_reports_exact_counts_and_changes_nothing(db):
    await seed(db)
    before = await fingerprint(db)
    report = await build_gdpr(db, FakeClock(T0)).erase(RID, "cli:tester", dry_run=True)
    assert await fingerprint(db) == before
    totals = {f"{t}.{a.value}": n for (t, a), n in report.totals().items()}
    assert totals == {"events.deleted": 3, "dead_letters.deleted": 1, "devices.deleted": 2, "rule_state.deleted": 1,
                      "alert_history.deleted": 1, "call_tasks.deleted": 1, "residents.pseudonymised": 1,
                      "alerts.kept": 2, "alert_history.kept": 4, "call_log.kept": 2, "call_tasks.kept": 1,
                      "audit_log.kept": 2}
    text = report.text()
    assert text.startswith("DRY RUN: nothing changed.") and "would delete" in text and "legal retention" in text
    assert all(secret not in text for secret in SECRETS)


async def test_erasing_an_unknown_resident_is_not_found(db):
    with pytest.raises(NotFound):
        await build_gdpr(db, FakeClock(T0)).erase("nobody", "cli:tester")
    assert await db.fetchval("SELECT count(*) FROM audit_log") == 0
