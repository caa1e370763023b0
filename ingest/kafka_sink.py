"""Ingest's sink on the Kafka path: canonical events to the `events` topic, dead letters to PostgreSQL.

Same contract as ingest.sink.EventSink.store (the pipeline and its retries do not know which one they
have): it returns once Kafka acknowledged every event of the batch (idempotent producer, acks=all, one
pipelined publish_many) and the dead letters are committed; only then does the service ack the MQTT
messages. A failure (BusError, StoreError) acks nothing: the batch is retried and, if ingest dies, the
broker redelivers it; a repeat on the topic is stored once by the store writer's (gateway_id, msg_id) key.
Dead letters stay with ingest.sink (their one writer): ingest already needs the database for the registry.
"""
from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from ingest.sink import EventSink, StoreResult, first_per_key
from telecare.bus import EVENTS
from telecare.events import Event, Rejected


class KafkaEventSink:
    """Publishes each batch's events keyed by resident id; writes its rejects through EventSink."""

    publishes = True  # the service must not publish the events again

    def __init__(self, bus: Any, dead_letters: EventSink) -> None:
        self._bus = bus  # a KafkaBus: publish_many is not in the Bus protocol
        self._dead = dead_letters

    async def store(self, events: Sequence[Event], rejects: Sequence[Rejected]) -> StoreResult:
        """Events onto `events` (acknowledged), then the rejects committed; raises BusError/StoreError otherwise."""
        kept, repeats = first_per_key(events)
        if kept:
            # Before the dead letters: a retry after a dead-letter failure republishes (deduplicated
            # downstream) rather than writing the dead letters twice (they have no key).
            await self._bus.publish_many(EVENTS, [(e.resident_id, e) for e in kept])
        if rejects:
            await self._dead.dead_letter(rejects)
        return StoreResult(tuple(kept), repeats, tuple(rejects))

    async def dead_letter(self, rejects: Sequence[Rejected]) -> None:
        """Store rejects alone (the pipeline's one-by-one mode)."""
        await self._dead.dead_letter(rejects)
