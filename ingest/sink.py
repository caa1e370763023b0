"""Stores one ingest batch in one transaction: event_keys, events and dead_letters' only writer."""
from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from telecare.events import MAX_PAYLOAD_BYTES, Event, EventType, Rejected
from telecare.store import Database
from telecare.store.db import Tx

# Presence events carry a synthetic msg_id; they are not deduplicated by key.
UNKEYED_TYPES = frozenset({EventType.GATEWAY_ONLINE, EventType.GATEWAY_OFFLINE})

EVENT_COLUMNS = ("id", "ts", "received_at", "gateway_id", "device_id", "resident_id", "type",
                 "msg_id", "battery", "value")
DEAD_LETTER_COLUMNS = ("received_at", "topic", "payload", "reason", "gateway_id", "device_id")
# Enough of a junk topic or payload to see what sent it; the rest is not worth storing.
MAX_DEAD_TOPIC_CHARS = 1024
PRUNE_BATCH = 10_000  # rows per prune transaction, so a large backlog never holds one long lock

# Deletes one batch of expired dead letters and folds them into the per-day, per-reason counts.
_PRUNE = """
WITH gone AS (
    DELETE FROM dead_letters WHERE id IN (
        SELECT id FROM dead_letters WHERE received_at < %s ORDER BY id LIMIT %s)
    RETURNING received_at, reason
), per_day AS (
    SELECT (received_at AT TIME ZONE 'UTC')::date AS day, reason, count(*) AS n FROM gone GROUP BY 1, 2
), counted AS (
    INSERT INTO dead_letter_counts (day, reason, count) SELECT day, reason, n FROM per_day
    ON CONFLICT (day, reason) DO UPDATE SET count = dead_letter_counts.count + EXCLUDED.count
    RETURNING 1
)
SELECT coalesce(sum(n), 0)::bigint FROM per_day
"""

# One jsonb parameter carries the whole key list (psycopg sends Python lists as jsonb here).
_INSERT_KEYS = """
INSERT INTO event_keys (gateway_id, msg_id, received_at)
SELECT k->>0, k->>1, (k->>2)::timestamptz FROM jsonb_array_elements(%s::jsonb) AS k
ON CONFLICT DO NOTHING
RETURNING gateway_id, msg_id
"""


@dataclass(frozen=True, slots=True)
class StoreResult:
    """What a batch turned into: events stored for the first time, repeats, and dead letters."""

    new: tuple[Event, ...]
    duplicates: int
    rejected: tuple[Rejected, ...]


def _event_row(e: Event) -> tuple[object, ...]:
    value = None if e.value is None else json.dumps(e.value, separators=(",", ":"), ensure_ascii=False)
    return (e.id, e.ts, e.received_at, e.gateway_id, e.device_id, e.resident_id, e.type.value,
            e.msg_id, e.battery, value)


def _text(value: str | None, limit: int) -> str | None:
    """Text PostgreSQL accepts whatever was received: no NUL, no lone surrogates, bounded length."""
    if value is None:
        return None
    clean = value[:limit].encode("utf-8", "backslashreplace").decode("utf-8")
    return clean.replace("\x00", "\\x00")


def _dead_row(r: Rejected) -> tuple[object, ...]:
    # A dead letter must always be writable: it is where unwritable input goes.
    return (r.received_at, _text(r.topic, MAX_DEAD_TOPIC_CHARS), bytes(r.payload[:MAX_PAYLOAD_BYTES]),
            _text(r.reason, 200), _text(r.gateway_id, 200), _text(r.device_id, 200))


def first_per_key(events: Sequence[Event]) -> tuple[list[Event], int]:
    """Drop in-batch repeats of a (gateway, msg_id); return the survivors and the count dropped."""
    seen: set[tuple[str, str]] = set()
    kept: list[Event] = []
    for e in events:
        if e.type not in UNKEYED_TYPES:
            key = (e.gateway_id, e.msg_id)
            if key in seen:
                continue
            seen.add(key)
        kept.append(e)
    return kept, len(events) - len(kept)


class EventSink:
    """Writes batches; a redelivered message finds its key taken and is counted as a duplicate."""

    def __init__(self, db: Database) -> None:
        self._db = db

    async def store(self, events: Sequence[Event], rejects: Sequence[Rejected]) -> StoreResult:
        """Store a batch atomically; StoreError leaves nothing behind (the caller retries)."""
        kept, repeats = first_per_key(events)
        async with self._db.transaction() as tx:
            new = await self._claim(tx, kept)
            if new:
                await tx.copy_rows("events", EVENT_COLUMNS, [_event_row(e) for e in new])
            if rejects:
                await tx.copy_rows("dead_letters", DEAD_LETTER_COLUMNS, [_dead_row(r) for r in rejects])
        return StoreResult(tuple(new), repeats + len(kept) - len(new), tuple(rejects))

    async def _claim(self, tx: Tx, events: list[Event]) -> list[Event]:
        keyed = [[e.gateway_id, e.msg_id, e.received_at.isoformat()] for e in events
                 if e.type not in UNKEYED_TYPES]
        claimed: set[tuple[str, str]] = set()
        if keyed:
            rows = await tx.fetch(_INSERT_KEYS, (keyed,))
            claimed = {(r["gateway_id"], r["msg_id"]) for r in rows}
        return [e for e in events if e.type in UNKEYED_TYPES or (e.gateway_id, e.msg_id) in claimed]

    async def dead_letter(self, rejects: Sequence[Rejected]) -> None:
        """Store rejects alone (used when a message cannot be stored as an event)."""
        async with self._db.transaction() as tx:
            await tx.copy_rows("dead_letters", DEAD_LETTER_COLUMNS, [_dead_row(r) for r in rejects])

    async def prune_dead_letters_before(self, cutoff: datetime) -> int:
        """Delete dead letters received before `cutoff`, counting them per day and reason; return how many."""
        total = 0
        while True:
            async with self._db.transaction() as tx:
                pruned = int(await tx.fetchval(_PRUNE, (cutoff, PRUNE_BATCH)))
            total += pruned
            if pruned < PRUNE_BATCH:
                return total

async def erase_resident(tx: Tx, resident_id: str, now: datetime) -> list[tuple[str, str, int, list[str]]]:
    """GDPR erasure: delete the resident's raw events and the dead letters of their devices."""
    dead = await tx.execute(
        "DELETE FROM dead_letters WHERE device_id IN (SELECT id FROM devices WHERE resident_id = %(r)s) "
        "OR gateway_id IN (SELECT id FROM devices WHERE resident_id = %(r)s)", {"r": resident_id})
    events = await tx.execute("DELETE FROM events WHERE resident_id = %s", (resident_id,))
    return [("events", "deleted", events, []), ("dead_letters", "deleted", dead, [])]

