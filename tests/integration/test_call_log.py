"""The call log against a real PostgreSQL: attempts, guarded updates, FHIR not-done reasons, filters, CSV."""
from __future__ import annotations

import csv
import io
from datetime import datetime, timedelta, timezone

import pytest

from outreach.call_log import CallFilter, CallLog
from telecare.errors import InvalidInput, NotFound

NOW = datetime(2026, 11, 22, 10, 0, tzinfo=timezone.utc)


async def _residents(db, *ids):
    for rid in ids:
        await db.execute("INSERT INTO residents (id, name, phones) VALUES (%s, %s, ARRAY[%s])",
                         (rid, f"Resident {rid}", f"+3460000{rid[-1]}"))


async def _attempt(log: CallLog, rid="r1", purpose="weather", at=NOW, **kw) -> int:
    return await log.start_attempt(resident_id=rid, purpose=purpose, caller="automated", mode="automated",
                                   phone="+34600001", started_at=at, **kw)


async def test_attempt_lifecycle_and_first_close_wins(db):
    await _residents(db, "r1")
    log = CallLog(db)
    cid = await _attempt(log)
    await log.set_provider_id(cid, "CA1")
    await log.answered(cid, NOW + timedelta(seconds=5))
    await log.answered(cid, NOW + timedelta(seconds=9))  # a repeated update keeps the first answer
    await log.digits(cid, "1")
    closed = await log.finish(cid, "fine", NOW + timedelta(seconds=20))
    assert closed is not None and closed.outcome == "fine" and closed.not_done_reason is None
    assert await log.finish(cid, "no_answer", NOW + timedelta(seconds=30)) is None  # late update changes nothing
    record = await log.get(cid)
    assert (record.answered_at, record.digits, record.outcome, record.provider_call_id) == (
        NOW + timedelta(seconds=5), "1", "fine", "CA1")


@pytest.mark.parametrize("outcome,reason", [
    ("no_answer", "recipient-unavailable"), ("busy", "recipient-unavailable"),
    ("voicemail", "recipient-unavailable"), ("wrong_number", "invalid-phone-number"),
    ("declined", "patient-objection"), ("failed", "system-error"), ("timeout", "system-error"),
])
async def test_failed_attempts_carry_fhir_not_done_reason(db, outcome, reason):
    await _residents(db, "r1")
    log = CallLog(db)
    cid = await _attempt(log)
    assert (await log.finish(cid, outcome, NOW)).not_done_reason == reason


async def test_bad_purpose_and_outcome_are_clear_errors(db):
    await _residents(db, "r1")
    log = CallLog(db)
    with pytest.raises(InvalidInput, match="purpose"):
        await _attempt(log, purpose="spam")
    cid = await _attempt(log)
    with pytest.raises(InvalidInput, match="outcome"):
        await log.finish(cid, "maybe", NOW)
    with pytest.raises(NotFound):
        await log.get(999_999)


async def test_query_filters_and_csv_export(db):
    await _residents(db, "r1", "r2")
    log = CallLog(db)
    a = await _attempt(log, "r1", "weather", NOW)
    b = await _attempt(log, "r2", "birthday", NOW + timedelta(days=1))
    c = await _attempt(log, "r1", "follow_up", NOW + timedelta(days=2))
    await log.finish(a, "no_answer", NOW)
    await log.record_outcome(c, "concern", "=HYPERLINK(\"x\") lonely since her sister died", NOW + timedelta(days=2))

    assert [r.id for r in await log.query(CallFilter(resident_id="r1"))] == [c, a]
    assert [r.id for r in await log.query(CallFilter(purpose="birthday"))] == [b]
    assert [r.id for r in await log.query(CallFilter(outcome="no_answer"))] == [a]
    window = CallFilter(start=NOW + timedelta(hours=1), end=NOW + timedelta(days=2))
    assert [r.id for r in await log.query(window)] == [b]
    with pytest.raises(InvalidInput):
        await log.query(CallFilter(purpose="nope"))

    rows = list(csv.DictReader(io.StringIO(await log.csv(CallFilter(resident_id="r1")))))
    assert [int(r["id"]) for r in rows] == [c, a]
    assert rows[1]["not_done_reason"] == "recipient-unavailable"
    assert rows[1]["phone"] == "+34600001"  # phone numbers are not mangled
    assert rows[0]["note"].startswith("'=HYPERLINK")  # a typed formula is neutralised for spreadsheets
    assert rows[0]["started_at"] == (NOW + timedelta(days=2)).isoformat()


async def test_open_before_lists_only_unfinished_automated_calls(db):
    await _residents(db, "r1")
    log = CallLog(db)
    old = await _attempt(log, at=NOW - timedelta(minutes=10))
    done = await _attempt(log, at=NOW - timedelta(minutes=10))
    await log.finish(done, "fine", NOW)
    await _attempt(log, at=NOW)
    assert [r.id for r in await log.open_before(NOW - timedelta(minutes=5))] == [old]
