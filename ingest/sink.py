"""Stores one ingest batch in one transaction: event_keys, events and dead_letters' only writer."""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

import msgspec

from telecare.errors import ConflictError
from telecare.events import MAX_PAYLOAD_BYTES, Event, EventType, Rejected
from telecare.store import Database
from telecare.store.db import Tx

# Presence events carry a synthetic msg_id; they are not deduplicated by key.
UNKEYED_TYPES = frozenset({EventType.GATEWAY_ONLINE, EventType.GATEWAY_OFFLINE})

EVENT_COLUMNS = ("id", "ts", "received_at", "gateway_id", "device_id", "resident_id", "type",
                 "msg_id", "battery", "value")
EVENT_TYPES = ("uuid", "timestamptz", "timestamptz", "text", "text", "text", "text", "text", "int2", "jsonb")
KEY_COLUMNS, KEY_TYPES = ("gateway_id", "msg_id", "received_at"), ("text", "text", "timestamptz")
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

# The whole batch in one statement and one jsonb parameter (encoded by msgspec, unpacked server-side): the
# (gateway_id, msg_id) claim and the events rows together, answering with the keys that were taken already.
# Before: a claim query, then COPY with psycopg's per-value text formatting (~10 us of CPU per row in our
# process, the ingest loop's process); now ~2 us (docs/performance.md, `telecare bench copy`).
_STORE_EVENTS = """
WITH r AS (
    SELECT (e->>0)::uuid AS id, (e->>1)::timestamptz AS ts, (e->>2)::timestamptz AS received_at,
           e->>3 AS gateway_id, e->>4 AS device_id, e->>5 AS resident_id, e->>6 AS type, e->>7 AS msg_id,
           (e->>8)::smallint AS battery, NULLIF(e->9, 'null'::jsonb) AS value, (e->>10)::boolean AS keyed
    FROM jsonb_array_elements(%s::jsonb) AS e
), claimed AS (
    INSERT INTO event_keys (gateway_id, msg_id, received_at)
    SELECT gateway_id, msg_id, received_at FROM r WHERE keyed
    ON CONFLICT DO NOTHING
    RETURNING gateway_id, msg_id
), stored AS (
    INSERT INTO events (id, ts, received_at, gateway_id, device_id, resident_id, type, msg_id, battery, value)
    SELECT id, ts, received_at, gateway_id, device_id, resident_id, type, msg_id, battery, value FROM r
    WHERE NOT keyed OR (gateway_id, msg_id) IN (SELECT gateway_id, msg_id FROM claimed)
    RETURNING 1
)
SELECT gateway_id, msg_id FROM r
WHERE keyed AND (gateway_id, msg_id) NOT IN (SELECT gateway_id, msg_id FROM claimed)
"""
_encode = msgspec.json.Encoder().encode


@dataclass(frozen=True, slots=True)
class StoreResult:
    """What a batch turned into: events stored for the first time, repeats, and dead letters."""

    new: tuple[Event, ...]
    duplicates: int
    rejected: tuple[Rejected, ...]


def _batch_document(events: Sequence[Event]) -> str:
    """The events as one JSON array of rows (_STORE_EVENTS's columns, then whether the key is claimed)."""
    unkeyed = UNKEYED_TYPES
    return _encode([(e.id, e.ts, e.received_at, e.gateway_id, e.device_id, e.resident_id, e.type, e.msg_id,
                     e.battery, e.value, e.type not in unkeyed) for e in events]).decode()


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
        if kept:
            try:
                await self._copy(kept, rejects)
                return StoreResult(tuple(kept), repeats, tuple(rejects))
            except ConflictError:
                pass  # a key (or id) was taken already: this batch holds a redelivery, rolled back; claim row by row
        new: list[Event] = []
        async with self._db.transaction() as tx:
            if kept:
                rows = await tx.fetch(_STORE_EVENTS, (_batch_document(kept),))
                taken = {(r["gateway_id"], r["msg_id"]) for r in rows}
                new = [e for e in kept if (e.gateway_id, e.msg_id) not in taken] if taken else kept
            if rejects:
                await tx.copy_rows("dead_letters", DEAD_LETTER_COLUMNS, [_dead_row(r) for r in rejects])
        return StoreResult(tuple(new), repeats + len(kept) - len(new), tuple(rejects))

    async def _copy(self, kept: Sequence[Event], rejects: Sequence[Rejected]) -> None:
        """The usual batch (no repeats): binary COPY into event_keys, then events. The keys' primary key makes
        the first COPY fail on any key already stored (or being stored by another writer, once it commits),
        which rolls the whole transaction back: "stored once" stays exact, checked by the index itself."""
        unkeyed = UNKEYED_TYPES
        async with self._db.transaction() as tx:
            keys = [(e.gateway_id, e.msg_id, e.received_at) for e in kept if e.type not in unkeyed]
            if keys:
                await tx.copy_binary("event_keys", KEY_COLUMNS, KEY_TYPES, keys)
            await tx.copy_binary("events", EVENT_COLUMNS, EVENT_TYPES, [
                (e.id, e.ts, e.received_at, e.gateway_id, e.device_id, e.resident_id, e.type.value, e.msg_id,
                 e.battery, e.value) for e in kept])
            if rejects:
                await tx.copy_rows("dead_letters", DEAD_LETTER_COLUMNS, [_dead_row(r) for r in rejects])

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

