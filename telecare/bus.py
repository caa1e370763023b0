"""The Bus protocol and its in-process implementation (Kafka and PostgreSQL ones live beside it)."""
from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any, Protocol

from telecare.metrics import BUS_PENDING

# Topic names, declared once.
EVENTS = "events"  # telecare.events.Event, keyed by resident_id
ALERTS = "alerts"  # telecare.alerts.AlertChange, keyed by resident_id
ALERT_TRIGGERS = "alert-triggers"  # telecare.alerts.AlertTrigger | AlertClear (the rules' verdicts), keyed by resident_id


@dataclass(frozen=True, slots=True)
class Message:
    topic: str
    key: str
    value: Any


class FeedState(StrEnum):
    """Where a subscription's delivery stands after an interruption."""

    LOST = "lost"  # not receiving: messages published from now on may never arrive
    RESUMED = "resumed"  # receiving again: what was published since lost_at may be missing


@dataclass(frozen=True, slots=True)
class FeedGap:
    """The value of a Message that says a subscription's feed was interrupted, not a message of the topic.

    Yielded only to subscribers that asked (subscribe(..., gaps=True)), in order with the messages.
    On RESUMED, catch up from the source of truth (the tables): PostgreSQL after its LISTEN reconnects;
    Kafka when offsets were reset past unread messages. The in-process bus never loses one.
    """

    state: FeedState
    lost_at: datetime
    detail: str = ""  # operator-safe: no personal data
    # On RESUMED: False when the bus knows nothing was skipped (Kafka kept its position through a broker
    # outage); the subscriber may then skip its catch-up. True (the default) when messages may be missing.
    missed: bool = True


class Bus(Protocol):
    """Publish keyed messages to topics; consumer groups each see every message once."""

    # True when everything published after register(topic, group) reaches that group's subscriber;
    # False when delivery starts only once subscribe() is listening (consumers then catch up themselves).
    keeps_from_register: bool

    async def publish(self, topic: str, key: str, value: Any) -> None:
        """Hand a message to the bus; may wait when consumers are behind (back-pressure)."""
        ...

    def register(self, topic: str, group: str) -> None:
        """Declare a consumer group before its consumer starts (see keeps_from_register)."""
        ...

    def subscribe(self, topic: str, group: str, *, gaps: bool = False) -> AsyncIterator[Message]:
        """Messages of `topic` for consumer `group`; consumers sharing a group split them.

        Never ends on a lost connection (the bus reconnects). With gaps=True it also yields
        Message(topic, "", FeedGap) when delivery was interrupted and when it resumed.
        """
        ...

    async def close(self) -> None: ...


class InProcessBus:
    """asyncio queues: one bounded queue per (topic, group); publishing fans out to every group."""

    keeps_from_register = True

    def __init__(self, max_pending: int = 10_000) -> None:
        self._max_pending = max_pending
        self._queues: dict[str, dict[str, asyncio.Queue[Message]]] = {}
        self._closed = False

    def _queue(self, topic: str, group: str) -> asyncio.Queue[Message]:
        groups = self._queues.setdefault(topic, {})
        if group not in groups:
            groups[group] = asyncio.Queue(self._max_pending)
            # Read at each scrape: a consumer falling behind shows as a growing queue before publishers block.
            BUS_PENDING.labels(topic).set_function(lambda: self.pending(topic))
        return groups[group]

    async def publish(self, topic: str, key: str, value: Any) -> None:
        message = Message(topic, key, value)
        for queue in list(self._queues.get(topic, {}).values()):
            await queue.put(message)

    def publish_nowait(self, topic: str, key: str, value: Any) -> bool:
        """Best-effort publish for fan-out to slow readers (live screens); False if any queue was full."""
        message = Message(topic, key, value)
        delivered = True
        for queue in list(self._queues.get(topic, {}).values()):
            try:
                queue.put_nowait(message)
            except asyncio.QueueFull:
                delivered = False
        return delivered

    async def subscribe(self, topic: str, group: str, *, gaps: bool = False) -> AsyncIterator[Message]:
        """The group's queue: nothing is lost in-process, so no FeedGap is ever yielded."""
        queue = self._queue(topic, group)
        while not self._closed:
            message = await queue.get()
            yield message

    def register(self, topic: str, group: str) -> None:
        """Create a group's queue before its consumer starts, so nothing published meanwhile is lost."""
        self._queue(topic, group)

    def pending(self, topic: str) -> int:
        """Messages waiting across the groups of a topic (for metrics)."""
        return sum(q.qsize() for q in self._queues.get(topic, {}).values())

    async def close(self) -> None:
        self._closed = True
