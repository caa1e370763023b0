"""How fast the Kafka path's consumers drain a backlog (printed), on their own broker: the store writer over
20k events and the alerts part over 2k triggers, each checked complete (every event stored once, every
trigger counted once)."""
from __future__ import annotations

import asyncio
import time
import uuid
from datetime import datetime, timezone

import pytest

from alerts.bus_sink import BusVerdictSink
from alerts.store import AlertStore
from alerts.trigger_consumer import TriggerConsumer
from alerts.triggers import TriggerApplier
from ingest.store_writer import StoreWriter
from telecare.bus import EVENTS
from telecare.clock import SystemClock
from telecare.events import Event, EventType
from telecare.health import Health
from telecare.kafkabus import KafkaBus
from tests.conftest import eventually, start_kafka
from tests.integration.kafka_harness import seed, trigger

EVENTS_N, TRIGGERS_N, HOMES = 20_000, 2_000, 100


@pytest.fixture
def own_kafka(tmp_root):
    node = start_kafka(tmp_root / f"kafka-rates-{uuid.uuid4().hex[:8]}")
    yield node
    node.stop()


async def _drain(db, sql: str, target: int, task_of) -> float:
    started = time.perf_counter()
    task = asyncio.create_task(task_of())
    try:
        await eventually(lambda: _at_least(db, sql, target), timeout=120, interval=0.05)
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
    return time.perf_counter() - started


async def _at_least(db, sql: str, target: int) -> bool:
    return (await db.fetchval(sql)) >= target


async def test_store_writer_and_alerts_part_drain_a_backlog(db, own_kafka):
    await seed(db, "rate", HOMES)
    bus, now = KafkaBus(own_kafka.bootstrap), datetime.now(timezone.utc)
    events = [Event(uuid.uuid4(), f"gw-rate-{i % HOMES}", f"gw-rate-{i % HOMES}", f"r-rate-{i % HOMES}",
                    EventType.HEARTBEAT, now, now, f"m{i}", 90) for i in range(EVENTS_N)]
    triggers = [trigger(f"r-rate-{i % HOMES}") for i in range(TRIGGERS_N)]
    try:
        started = time.perf_counter()
        for k in range(0, EVENTS_N, 2000):
            await bus.publish_many(EVENTS, [(e.resident_id, e) for e in events[k:k + 2000]])
        published_s = time.perf_counter() - started
        sink = BusVerdictSink(bus)
        for t in triggers:
            await sink.raise_or_attach(t, t.at)
        writer = StoreWriter(bus, db, Health(), group="store-rate")
        await writer.start()
        store_s = await _drain(db, "SELECT count(*) FROM events", EVENTS_N, writer.run)
        part = TriggerConsumer(bus, TriggerApplier(db, AlertStore(db, bus)), SystemClock(), group="alerts-rate")
        await part.start()
        alerts_s = await _drain(db, "SELECT coalesce(sum(count), 0) FROM alerts", TRIGGERS_N, part.run)
        rows = await db.fetchval("SELECT count(*) FROM events")
        counted = await db.fetchval("SELECT sum(count) FROM alerts")
        alerts = await db.fetchval("SELECT count(*) FROM alerts")
    finally:
        await bus.close()
    print(f"\n[kafka rates] published {EVENTS_N} events in {published_s:.2f}s ({EVENTS_N / published_s:.0f}/s); "
          f"store writer drained them in {store_s:.2f}s ({EVENTS_N / store_s:.0f}/s, group join included); "
          f"alerts part applied {TRIGGERS_N} triggers in {alerts_s:.2f}s ({TRIGGERS_N / alerts_s:.0f}/s)")
    assert rows == EVENTS_N and counted == TRIGGERS_N and alerts == HOMES
