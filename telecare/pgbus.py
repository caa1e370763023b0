"""A Bus over PostgreSQL LISTEN/NOTIFY, so separate processes (ingest, rules, web) on one database can talk.

It is a broadcast bus: every subscriber sees every message, and a process that is down misses what is
published meanwhile (alerts and events are in tables, so screens resync from a snapshot; rules replay
from the events table). Kafka is the partitioned, durable bus for country scale.
"""
from __future__ import annotations

import json
import logging
from collections.abc import AsyncIterator
from dataclasses import replace
from typing import Any

from telecare.alerts import decode_alert_change, encode_alert_change
from telecare.bus import ALERTS, EVENTS, Message
from telecare.events import Event, decode_event, encode_event
from telecare.store import Database

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

    def __init__(self, db: Database) -> None:
        self._db = db

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

    async def subscribe(self, topic: str, group: str) -> AsyncIterator[Message]:
        _, decode = _CODECS[topic]
        async for payload in self._db.listen(_channel(topic)):
            try:
                data = json.loads(payload)
                yield Message(topic, data["k"], decode(json.dumps(data["v"]).encode()))
            except (ValueError, KeyError) as err:
                log.warning("undecodable bus message on %s: %s", topic, err)

    def register(self, topic: str, group: str) -> None:
        """Nothing to prepare: LISTEN starts with the subscription."""

    async def close(self) -> None:
        return None

