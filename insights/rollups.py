"""The rollup job: the one writer of event_rollup_hourly, device_rollup_daily and rollup_progress.

Incremental by a watermark on events.received_at. Each batch takes the events received after the watermark,
and for every (resident, hour) and (device, day) they touch recomputes the whole row from the events table:
re-running a window gives the same rows, and an event arriving late for an hour already rolled up (a
gateway that buffered it) corrects that hour.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone

from telecare.store import Database
from telecare.store.db import Tx

from telecare.events import EventType

from insights.rollup_rows import HOURLY_SKIP, MAX_OFFSETS, NOT_SEEN, OFFSET_TYPES

log = logging.getLogger(__name__)

PROGRESS = "events"
# Only events received at least this long ago are read: an ingest batch still committing with an older
# received_at must not slip under the watermark (ingest commits within milliseconds; this is generous).
SETTLE = timedelta(seconds=30)
BATCH_EVENTS = 20_000
_LOCK = 7_144_818  # one rollup writer at a time across processes (try-lock: the others skip the round)
CAGG = "event_rollup_hourly_ts"
BEGINNING = datetime(1970, 1, 1, tzinfo=timezone.utc)



def _sql_list(values: frozenset[EventType]) -> str:
    """A text[] literal of our own enum values (the pool sends Python lists as jsonb, not arrays)."""
    return "ARRAY[" + ", ".join(f"'{v.value}'" for v in sorted(values)) + "]::text[]"


_SKIP, _OFFSET_TYPES, _NOT_SEEN = _sql_list(HOURLY_SKIP), _sql_list(OFFSET_TYPES), _sql_list(NOT_SEEN)
_TOUCHED_HOURS = f"""touched AS (
    SELECT DISTINCT resident_id, date_trunc('hour', ts, 'UTC') AS hour FROM events
    WHERE received_at > %(after)s AND received_at <= %(until)s AND type <> ALL({_SKIP}))"""
_TOUCHED_DAYS = f"""touched AS (
    SELECT DISTINCT resident_id, device_id, (ts AT TIME ZONE 'UTC')::date AS day FROM events
    WHERE received_at > %(after)s AND received_at <= %(until)s)"""
_HOURLY = [
    f"""WITH {_TOUCHED_HOURS}
        DELETE FROM event_rollup_hourly r USING touched t WHERE r.resident_id = t.resident_id AND r.hour = t.hour""",
    f"""WITH {_TOUCHED_HOURS}
        INSERT INTO event_rollup_hourly (resident_id, hour, event_type, count, first_ts, last_ts, offsets)
        SELECT e.resident_id, t.hour, e.type, count(*), min(e.ts), max(e.ts),
               (array_agg(floor(extract(epoch FROM e.ts - t.hour))::integer ORDER BY e.ts, e.id)
                    FILTER (WHERE e.type = ANY({_OFFSET_TYPES})))[1:{MAX_OFFSETS}]
        FROM touched t JOIN events e
          ON e.resident_id = t.resident_id AND e.ts >= t.hour AND e.ts < t.hour + interval '1 hour'
        WHERE e.type <> ALL({_SKIP})
        GROUP BY e.resident_id, t.hour, e.type""",
]
_DAILY = [
    f"""WITH {_TOUCHED_DAYS}
        DELETE FROM device_rollup_daily r USING touched t
        WHERE r.resident_id = t.resident_id AND r.device_id = t.device_id AND r.day = t.day""",
    f"""WITH {_TOUCHED_DAYS}
        INSERT INTO device_rollup_daily (resident_id, device_id, day, events, last_seen, battery, min_battery)
        SELECT t.resident_id, t.device_id, t.day, count(*), max(e.ts) FILTER (WHERE e.type <> ALL({_NOT_SEEN})),
               (array_agg(e.battery ORDER BY e.ts DESC) FILTER (WHERE e.battery IS NOT NULL))[1], min(e.battery)
        FROM touched t JOIN events e
          ON e.resident_id = t.resident_id AND e.device_id = t.device_id
         AND e.ts >= t.day::timestamp AT TIME ZONE 'UTC' AND e.ts < (t.day + 1)::timestamp AT TIME ZONE 'UTC'
        GROUP BY t.resident_id, t.device_id, t.day""",
]


@dataclass(frozen=True, slots=True)
class BatchResult:
    """One batch: the window of received_at it covered and how many events it read."""

    after: datetime
    until: datetime
    events: int
    skipped: bool = False  # another process held the rollup lock


async def hourly_source(db: Database) -> str:
    """The relation the series read: the Timescale continuous aggregate when migration 0018 made one."""
    return CAGG if await db.fetchval("SELECT to_regclass(%s) IS NOT NULL", (CAGG,)) else "event_rollup_hourly"


async def watermark(db: Database) -> datetime | None:
    """received_at up to which every event is rolled up (None before the first batch)."""
    return await db.fetchval("SELECT processed_through FROM rollup_progress WHERE name = %s", (PROGRESS,))


class RollupJob:
    """Rolls up the events received since the watermark, one bounded batch per call."""

    def __init__(self, db: Database, *, batch_events: int = BATCH_EVENTS, settle: timedelta = SETTLE) -> None:
        self._db = db
        self._batch = batch_events
        self._settle = settle
        self._hourly_table: bool | None = None  # False on Timescale with the continuous aggregate

    async def run_batch(self, now: datetime) -> BatchResult:
        """Roll up the next batch of events (at most ~batch_events, ending SETTLE before now)."""
        if self._hourly_table is None:
            self._hourly_table = await hourly_source(self._db) != CAGG
        cap = now - self._settle
        async with self._db.transaction() as tx:
            # One snapshot for the whole batch: the DELETE and the INSERT see the same events.
            await tx.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ")
            if not await tx.fetchval("SELECT pg_try_advisory_xact_lock(%s)", (_LOCK,)):
                return BatchResult(now, now, 0, skipped=True)
            after = await tx.fetchval("SELECT processed_through FROM rollup_progress WHERE name = %s",
                                      (PROGRESS,)) or BEGINNING
            if after >= cap:
                return BatchResult(after, after, 0)
            until = await tx.fetchval(
                """SELECT received_at FROM events WHERE received_at > %s AND received_at <= %s
                   ORDER BY received_at OFFSET %s LIMIT 1""", (after, cap, self._batch - 1)) or cap
            count = await tx.fetchval("SELECT count(*) FROM events WHERE received_at > %s AND received_at <= %s",
                                      (after, until))
            if count:
                await self._recompute(tx, after, until)
            await tx.execute(
                """INSERT INTO rollup_progress (name, processed_through, updated_at) VALUES (%s, %s, %s)
                   ON CONFLICT (name) DO UPDATE SET processed_through = EXCLUDED.processed_through,
                                                    updated_at = EXCLUDED.updated_at""", (PROGRESS, until, now))
        return BatchResult(after, until, int(count))

    async def _recompute(self, tx: Tx, after: datetime, until: datetime) -> None:
        params = {"after": after, "until": until}
        for sql in (_HOURLY if self._hourly_table else []) + _DAILY:
            await tx.execute(sql, params)

    async def catch_up(self, now: datetime, max_batches: int = 1000) -> int:
        """Run batches until the watermark reaches now - SETTLE (or max_batches); return events read."""
        total = 0
        for _ in range(max_batches):
            result = await self.run_batch(now)
            total += result.events
            if result.skipped or result.until >= now - self._settle:
                break
        return total

    async def recompute_window(self, after: datetime, until: datetime) -> None:
        """Recompute every row touched by events received in (after, until], leaving the watermark alone."""
        async with self._db.transaction() as tx:
            await tx.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ")
            await tx.execute("SELECT pg_advisory_xact_lock(%s)", (_LOCK,))
            if self._hourly_table is None:
                self._hourly_table = await hourly_source(self._db) != CAGG
            await self._recompute(tx, after, until)


async def erase_resident(tx: Tx, resident_id: str, now: datetime) -> list[tuple[str, str, int, list[str]]]:
    """GDPR erasure: delete the resident's rollup rows (health data derived from their events)."""
    hourly = await tx.execute("DELETE FROM event_rollup_hourly WHERE resident_id = %s", (resident_id,))
    daily = await tx.execute("DELETE FROM device_rollup_daily WHERE resident_id = %s", (resident_id,))
    return [("event_rollup_hourly", "deleted", hourly, []), ("device_rollup_daily", "deleted", daily, [])]
