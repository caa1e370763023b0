"""The store writer (Kafka path): consumes `events` (group "store") and COPYs each fetched batch into PostgreSQL.

Through ingest.sink (the events/event_keys writer): one transaction per batch, deduplicated on
(gateway_id, msg_id), so a batch Kafka redelivers (crash, rebalance, an ingest retry) stores each event once.
The batch's offsets are committed only after that transaction committed (KafkaBus.subscribe_batches commits
a batch once the loop comes back for the next). PostgreSQL down: the batch is retried with back-off (health
part `store` RECONNECTING), never dropped. A row the database refuses is dead-lettered and the rest stored.
"""
from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence

from ingest.pipeline import is_data_error
from ingest.sink import UNKEYED_TYPES, EventSink
from ingest.topics import device_topic
from telecare import metrics
from telecare.bus import EVENTS
from telecare.errors import StoreError
from telecare.events import Event, Rejected, encode_event
from telecare.health import Health, PartState
from telecare.store import Database

log = logging.getLogger(__name__)

PART = "store"
GROUP = "store"
MAX_BACKOFF_S = 5.0
# Records per fetch, so per transaction. Each commit has a fixed cost (~2 ms: BEGIN, two COPYs, the WAL flush);
# nothing waits on this hop (the rules read `events` from Kafka, not from the table), so a backlog is stored
# in large batches, while a trickle still goes in the fetch it arrived in (docs/performance.md "bench copy").
BATCH_RECORDS = 2_000

# Presence events have no device msg_id to key on; a redelivered one is recognised by its event id.
# The candidates as one jsonb document: the pool dumps every Python list as jsonb (telecare/store/db.py), so
# `= ANY(%s)` over a list of datetimes failed to encode and killed the writer at the first gateway presence event.
_STORED_IDS = """SELECT e.id FROM events e
                 JOIN jsonb_to_recordset(%s) AS k(resident_id text, ts timestamptz, id uuid)
                   ON e.resident_id = k.resident_id AND e.ts = k.ts AND e.id = k.id"""


class StoreWriter:
    """One member of the `events.store` consumer group; run() until the bus closes."""

    def __init__(self, bus, db: Database, health: Health | None = None, *, group: str = GROUP) -> None:
        self._bus = bus  # a KafkaBus (subscribe_batches)
        self._group = group
        self._db = db
        self._sink = EventSink(db)
        self._health = health or Health()

    async def start(self) -> None:
        """Declare the group (it resumes from its commits; a new one from the oldest kept message)."""
        # A brand-new group starts at the oldest kept message: what was published before this part's very first
        # start is not lost (the keys make what it sees again a no-op).
        register = getattr(self._bus, "register_from_start", self._bus.register)
        register(EVENTS, self._group)
        self._health.report(PART, PartState.STARTING, "subscribing")

    async def run(self) -> None:
        """Store every batch; ends only when the bus closes (or by a bug: the task dies, health FAILED)."""
        self._health.report(PART, PartState.OK, "consuming")
        async for batch in self._bus.subscribe_batches(EVENTS, self._group, max_records=BATCH_RECORDS):
            events = [m.value for m in batch if isinstance(m.value, Event)]
            if events:
                await self.store(events)

    async def store(self, events: Sequence[Event]) -> int:
        """Store one batch, retrying through outages; returns how many were new."""
        failures, one_by_one = 0, False
        while True:
            try:
                if one_by_one:  # again from the start after an outage: what was stored is a duplicate now
                    new = await self._one_by_one(events)
                else:
                    new = len((await self._sink.store(await self._without_stored_presence(events), [])).new)
                break
            except StoreError as err:
                if is_data_error(err) and not one_by_one:
                    one_by_one = True
                    continue
                failures += 1
                metrics.KAFKA_PART_RETRIES.labels(PART).inc()
                delay = min(MAX_BACKOFF_S, 0.05 * 2 ** failures)
                self._health.report(PART, PartState.RECONNECTING, f"database: {type(err).__name__}")
                log.warning("store writer: batch of %d not stored (%s); retry %d in %.2fs", len(events),
                            type(err).__name__, failures, delay)
                await asyncio.sleep(delay)
        metrics.STORE_WRITER_EVENTS.labels("stored").inc(new)
        metrics.STORE_WRITER_EVENTS.labels("duplicate").inc(len(events) - new)
        if failures:
            self._health.report(PART, PartState.OK, "consuming")
            log.info("store writer: batch stored after %d failed attempt(s)", failures)
        return new

    async def _without_stored_presence(self, events: Sequence[Event]) -> list[Event]:
        unkeyed = [e for e in events if e.type in UNKEYED_TYPES]
        if not unkeyed:
            return list(events)
        rows = await self._db.fetch(_STORED_IDS, ([{"resident_id": e.resident_id, "ts": e.ts.isoformat(),
                                                    "id": str(e.id)} for e in unkeyed],))
        stored = {r["id"] for r in rows}
        return [e for e in events if e.id not in stored]

    async def _one_by_one(self, events: Sequence[Event]) -> int:
        """A row the database refuses: store each alone, dead-letter the refused ones (outages still raise)."""
        new = 0
        for event in await self._without_stored_presence(events):
            try:
                new += len((await self._sink.store([event], [])).new)
            except StoreError as err:
                if not is_data_error(err):
                    raise
                metrics.STORE_WRITER_EVENTS.labels("unstorable").inc()
                log.error("store writer: event %s from gateway %s refused by the database; dead-lettered",
                          event.id, event.gateway_id)
                await self._sink.dead_letter([Rejected(
                    device_topic(event.gateway_id, event.device_id, event.type.value), encode_event(event),
                    "unstorable", event.received_at, event.gateway_id, event.device_id)])
        return new
