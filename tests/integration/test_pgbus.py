"""The LISTEN/NOTIFY bus that lets separate processes (ingest, rules, web) talk through PostgreSQL."""
from __future__ import annotations

import asyncio
from datetime import datetime, timedelta, timezone
from uuid import uuid4

from telecare.alerts import Alert, AlertChange, AlertChangeKind, AlertStatus, AlertType, Severity
from telecare.bus import ALERTS, EVENTS
from telecare.events import Event, EventType
from telecare.pgbus import PostgresBus
from telecare.store import Database
from tests.conftest import eventually

NOW = datetime(2026, 11, 22, 12, 0, tzinfo=timezone.utc)


async def _collect(bus: PostgresBus, topic: str, into: list) -> None:
    async for message in bus.subscribe(topic, "test"):
        into.append(message)


async def test_events_and_alert_changes_cross_connections(db_url):
    publisher_db = await Database.connect(db_url, min_size=1, max_size=2)
    subscriber_db = await Database.connect(db_url, min_size=1, max_size=2)
    got_events: list = []
    got_alerts: list = []
    readers = [
        asyncio.create_task(_collect(PostgresBus(subscriber_db), EVENTS, got_events)),
        asyncio.create_task(_collect(PostgresBus(subscriber_db), ALERTS, got_alerts)),
    ]
    try:
        event = Event(uuid4(), "gw-1", "pd-1", "r-1", EventType.HELP_BUTTON, NOW - timedelta(minutes=5), NOW,
                      "m-1", battery=80, value={"big": "x" * 9000})
        alert = Alert(1, "r-1", AlertType.HELP_BUTTON, Severity.CRITICAL, AlertStatus.OPEN, NOW, NOW, NOW, 1,
                      "Help button pressed")
        bus = PostgresBus(publisher_db)

        async def publish_until_heard() -> bool:
            # LISTEN starts when the reader's connection is up; publish until it hears.
            if not got_events:
                await bus.publish(EVENTS, "r-1", event)
            if not got_alerts:
                await bus.publish(ALERTS, "r-1", AlertChange(AlertChangeKind.RAISED, alert))
            return bool(got_events and got_alerts)

        await eventually(publish_until_heard, timeout=10, interval=0.1)
        received = got_events[0].value
        assert received.id == event.id and received.type is EventType.HELP_BUTTON and received.delayed
        assert received.value is None  # too large for NOTIFY: the bus drops the free-form value, the table keeps it
        change = got_alerts[0].value
        assert change.kind is AlertChangeKind.RAISED and change.alert.severity is Severity.CRITICAL
    finally:
        for r in readers:
            r.cancel()
        await asyncio.gather(*readers, return_exceptions=True)
        await publisher_db.close()
        await subscriber_db.close()
