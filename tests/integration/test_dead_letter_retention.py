"""Dead letters against real PostgreSQL: junk is always writable, expired rows are pruned, their counts stay."""
from __future__ import annotations

from contextlib import AsyncExitStack
from datetime import datetime, timedelta, timezone

from entrypoints import bootstrap
from entrypoints.gdpr_wiring import run_retention
from ingest import sink as sink_module
from ingest.sink import EventSink
from telecare.clock import FakeClock
from telecare.events import Rejected
from telecare.settings import load_settings
from telecare.store import Database

START = datetime(2026, 3, 1, 23, 30, tzinfo=timezone.utc)


def reject(at: datetime, reason: str, topic: str = "telecare/v1/gw-1") -> Rejected:
    return Rejected(topic, b"{}", reason, at, "gw-1", None)


async def counts(db: Database) -> dict[tuple[str, str], int]:
    rows = await db.fetch("SELECT day::text AS day, reason, count FROM dead_letter_counts")
    return {(r["day"], r["reason"]): r["count"] for r in rows}


async def test_prune_keeps_the_retention_window_and_counts_what_it_removed(db: Database) -> None:
    clock = FakeClock(START)
    sink = EventSink(db)
    # Day 1 (UTC): three bad_topic and one invalid_json; day 2: one bad_topic.
    await sink.dead_letter([reject(START, "bad_topic"), reject(START + timedelta(minutes=10), "bad_topic"),
                            reject(START + timedelta(minutes=20), "invalid_json"),
                            reject(START - timedelta(hours=1), "bad_topic")])
    await sink.dead_letter([reject(START + timedelta(hours=1), "bad_topic")])

    clock.advance(timedelta(days=30, minutes=31))  # every day-1 letter is now over 30 days old, day 2's not
    assert await sink.prune_dead_letters_before(clock.now() - timedelta(days=30, hours=2)) == 0  # none old enough
    assert await sink.prune_dead_letters_before(clock.now() - timedelta(days=30)) == 4
    assert await db.fetchval("SELECT count(*) FROM dead_letters") == 1
    assert await counts(db) == {("2026-03-01", "bad_topic"): 3, ("2026-03-01", "invalid_json"): 1}

    clock.advance(timedelta(days=1))
    assert await sink.prune_dead_letters_before(clock.now() - timedelta(days=30)) == 1
    assert await db.fetchval("SELECT count(*) FROM dead_letters") == 0
    assert await counts(db) == {("2026-03-01", "bad_topic"): 3, ("2026-03-01", "invalid_json"): 1,
                                ("2026-03-02", "bad_topic"): 1}
    assert await sink.prune_dead_letters_before(clock.now() - timedelta(days=30)) == 0  # idempotent: counts are not doubled
    assert sum((await counts(db)).values()) == 5


async def test_prune_works_through_a_backlog_in_batches(db: Database, monkeypatch) -> None:
    monkeypatch.setattr(sink_module, "PRUNE_BATCH", 7)
    sink = EventSink(db)
    await sink.dead_letter([reject(START + timedelta(seconds=i), "oversized") for i in range(30)])
    assert await sink.prune_dead_letters_before(START + timedelta(days=31) - timedelta(days=30)) == 30
    assert await counts(db) == {("2026-03-01", "oversized"): 30}


async def test_unwritable_junk_is_still_dead_lettered(db: Database) -> None:
    sink = EventSink(db)
    junk = Rejected("telecare/v1/\x00\ud800/" + "x" * 70_000, b"\x00" * 200_000, "bad_topic", START)
    await sink.dead_letter([junk])
    row = await db.fetchrow("SELECT topic, length(payload) AS n FROM dead_letters")
    assert row["topic"].startswith("telecare/v1/\\x00\\ud800/") and len(row["topic"]) < 1100
    assert row["n"] == 64 * 1024


async def test_the_maintenance_pass_prunes_with_the_configured_retention(db_url: str, monkeypatch) -> None:
    monkeypatch.setenv("TELECARE_RETENTION_DEAD_LETTERS_DAYS", "7")
    settings = load_settings(database_url=db_url)
    assert settings.retention_dead_letters_days == 7
    clock = FakeClock(START + timedelta(days=8))
    async with AsyncExitStack() as stack:
        core = await bootstrap.open_core(settings, stack, clock)
        sink = EventSink(core.db)
        await sink.dead_letter([reject(START, "bad_topic"), reject(START + timedelta(days=2), "bad_topic")])
        result = await run_retention(core.db, core.settings, core.clock.now())
        assert result.dead_letters == 1
        assert await counts(core.db) == {("2026-03-01", "bad_topic"): 1}
