"""A Bus over PostgreSQL LISTEN/NOTIFY, so separate processes (ingest, rules, web) on one database can talk.

It is a broadcast bus: every subscriber sees every message, and a process that is down misses what is
published meanwhile (alerts and events are in tables, so screens resync from a snapshot; rules replay
from the events table). A lost LISTEN connection reconnects with back-off; the outage is reported to the
Health registry (part `bus:<topic>:<group>`) and, to subscribers that ask, as FeedGap messages so they
catch up from the tables. Kafka is the partitioned, durable bus for country scale.
"""
from __future__ import annotations

import json
import logging
from collections.abc import AsyncIterator
from dataclasses import replace
from datetime import datetime
from typing import Any

from telecare.alerts import decode_alert_change, encode_alert_change
from telecare.bus import ALERTS, EVENTS, FeedGap, FeedState, Message
from telecare.events import Event, decode_event, encode_event
from telecare.health import Health, PartState
from telecare.store import Database, ListenerState

log = logging.getLogger(__name__)

# NOTIFY payloads must stay under 8000 bytes.
_MAX_PAYLOAD = 7900
_CODECS = {
    EVENTS: (encode_event, decode_event),
    ALERTS: (encode_alert_change, decode_alert_change),
}


def _channel(topic: str) -> str:
    return f"telecare_{topic}"


class PostgresBus:
    """Bus protocol on NOTIFY: `{"k": key, "v": <topic codec JSON>}` per message."""

    keeps_from_register = False  # LISTEN starts with subscribe()

    def __init__(self, db: Database, health: Health | None = None) -> None:
        self._db = db
        self._health = health or Health()

    async def publish(self, topic: str, key: str, value: Any) -> None:
        encode, _ = _CODECS[topic]
        body = encode(value).decode()
        if isinstance(value, Event) and len(body) > _MAX_PAYLOAD:
            # The stored event keeps the full value; the bus carries the facts the rules need.
            body = encode(replace(value, value=None)).decode()
        payload = json.dumps({"k": key, "v": json.loads(body)}, separators=(",", ":"))
        if len(payload) > _MAX_PAYLOAD:
            log.warning("bus message on %s too large (%d bytes); dropped", topic, len(payload))
            return
        await self._db.notify(_channel(topic), payload)

    async def subscribe(self, topic: str, group: str, *, gaps: bool = False) -> AsyncIterator[Message]:
        """NOTIFYs of `topic` from the moment LISTEN is live; reconnects forever, reporting its state."""
        _, decode = _CODECS[topic]
        part = f"bus:{topic}:{group}"
        self._health.report(part, PartState.STARTING, "connecting")
        lost_at = None
        try:
            async for item in self._db.listen(_channel(topic)):
                if isinstance(item, ListenerState):
                    gap = self._state_change(part, item, lost_at)
                    lost_at = None if item.connected else (lost_at or item.at)
                    if gap is not None and gaps:
                        yield Message(topic, "", gap)
                    elif gap is not None and gap.state is FeedState.RESUMED:
                        log.warning("%s missed what was published since %s and does not catch up", part,
                                    gap.lost_at.isoformat())
                    continue
                try:
                    data = json.loads(item)
                    yield Message(topic, data["k"], decode(json.dumps(data["v"]).encode()))
                except Exception as err:  # noqa: BLE001 - one bad payload must not end the subscription
                    log.warning("undecodable bus message on %s: %s", topic, type(err).__name__)
        finally:
            self._health.forget(part)

    def _state_change(self, part: str, state: ListenerState, lost_at: datetime | None) -> FeedGap | None:
        """Report the listener's state; the FeedGap to tell the subscriber, if any."""
        if state.connected:
            self._health.report(part, PartState.OK, "listening")
            return FeedGap(FeedState.RESUMED, lost_at, "listening again") if lost_at is not None else None
        self._health.report(part, PartState.RECONNECTING, state.detail)
        return FeedGap(FeedState.LOST, state.at, state.detail) if lost_at is None else None

    def register(self, topic: str, group: str) -> None:
        """Nothing to prepare: LISTEN starts with the subscription."""

    async def close(self) -> None:
        return None

