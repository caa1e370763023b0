"""The Kafka path in one process on real parts: MQTT -> ingest -> `events` -> store writer -> events table, and
alert-triggers -> alerts part -> alerts table + `alerts` topic; replays store once and raise once."""
from __future__ import annotations

import asyncio
import uuid
from contextlib import asynccontextmanager
from datetime import datetime, timedelta, timezone

from alerts.bus_sink import BusVerdictSink
from alerts.store import AlertStore
from alerts.trigger_consumer import TriggerConsumer
from alerts.triggers import TriggerApplier
from ingest.kafka_sink import KafkaEventSink
from ingest.service import IngestService
from ingest.sink import EventSink
from ingest.store_writer import StoreWriter
from telecare.alerts import AlertChangeKind, AlertClear, AlertTrigger, AlertType, Outcome, Severity
from telecare.bus import ALERTS, EVENTS
from telecare.clock import SystemClock
from telecare.events import EventType
from telecare.health import Health
from telecare.kafkabus import KafkaBus
from telecare.mqtt import MqttPublisher
from tests.conftest import eventually
from tests.integration.broker_harness import broker  # noqa: F401 - fixture
from tests.integration.kafka_harness import alerts_per_resident, heartbeat, help_press, seed, stored_msg_ids, trigger

HOMES = 5


@asynccontextmanager
async def running(*coros):
    tasks = [asyncio.create_task(c) for c in coros]
    try:
        yield tasks
    finally:
        for t in tasks:
            t.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)


async def test_mqtt_to_kafka_to_the_events_table_and_a_trigger_to_the_alerts_topic(broker, db, kafka_bootstrap):
    tag = uuid.uuid4().hex[:6]
    registry = await seed(db, tag, HOMES)
    bus, health, clock = KafkaBus(kafka_bootstrap, register_skew_ms=0), Health(), SystemClock()
    store = AlertStore(db, bus)
    writer = StoreWriter(bus, db, health, group=f"store-{tag}")
    alerts_part = TriggerConsumer(bus, TriggerApplier(db, store), clock, health, group=f"alerts-{tag}",
                          from_start=False)  # the shared broker keeps every earlier test's verdicts
    await writer.start()
    await alerts_part.start()
    bus.register(EVENTS, f"rules-{tag}")
    bus.register(ALERTS, f"web-{tag}")
    sink = BusVerdictSink(bus)
    changes: list = []

    async def minimal_rules() -> None:  # stands in for the rules host: a help press becomes a trigger
        async for m in bus.subscribe(EVENTS, f"rules-{tag}"):
            if m.value.type is EventType.HELP_BUTTON:
                e = m.value
                await sink.raise_or_attach(AlertTrigger(e.resident_id, AlertType.HELP_BUTTON, Severity.CRITICAL,
                                                        e.ts, "Help button pressed", e.device_id, event_id=e.id),
                                           clock.now())

    async def web() -> None:
        async for m in bus.subscribe(ALERTS, f"web-{tag}"):
            changes.append(m.value)

    ingest = IngestService(broker.url, db, bus, registry, clock, client_id=f"telecare-ingest-{tag}", batch_ms=10,
                           health=health, sink=KafkaEventSink(bus, EventSink(db)))
    pub = MqttPublisher(broker.url, f"gw-{tag}")
    try:
        async with running(writer.run(), alerts_part.run(), minimal_rules(), web()):
            await ingest.start()
            await pub.connect()
            sent = [f"m{i}" for i in range(300)]
            for i, msg_id in enumerate(sent):
                pub.publish_nowait(*heartbeat(tag, i, HOMES, msg_id))
            await pub.publish(*help_press(tag, 2, "press-1"))
            await pub.publish(f"telecare/v1/gw-{tag}-0/gw-{tag}-0/heartbeat", b"not json")
            await pub.wait_all_published(10)
            stored = await eventually(lambda: _all(db, tag, 301), timeout=60)
            dead = await eventually(lambda: db.fetchval(
                "SELECT count(*) FROM dead_letters WHERE gateway_id = %s", (f"gw-{tag}-0",)), timeout=20)
            rid = f"r-{tag}-2"
            await eventually(lambda: [c for c in changes if c.alert.resident_id == rid], timeout=30)
            assert (await alerts_per_resident(db, tag)) == {rid: 1}

            # Replays: the whole stored batch again on `events`, the trigger again (also after the resolve).
            rows = await db.fetch("SELECT id FROM events WHERE gateway_id LIKE %s", (f"gw-{tag}-%",))
            again = await _events_from_topic(db, tag)
            before = _writer_duplicates()
            await bus.publish_many(EVENTS, [(e.resident_id, e) for e in again])
            first = [c for c in changes if c.alert.resident_id == rid][0]
            press = await db.fetchrow(
                "SELECT id, ts, device_id FROM events WHERE msg_id = 'press-1' AND gateway_id = %s", (f"gw-{tag}-2",))
            replay = AlertTrigger(rid, AlertType.HELP_BUTTON, Severity.CRITICAL, press["ts"], "Help button pressed",
                                  press["device_id"], event_id=press["id"])
            await sink.raise_or_attach(replay, clock.now())
            await store.resolve(first.alert.id, "op", Outcome.FALSE_ALARM, "", clock.now())
            await sink.raise_or_attach(replay, clock.now())
            marker = trigger(f"r-{tag}-4")  # a fresh trigger after the replays: once it is in, they were applied
            await sink.raise_or_attach(marker, clock.now())
            await eventually(lambda: [c for c in changes if c.alert.resident_id == marker.resident_id], timeout=30)
            # The writer saw the whole replay (and found every key taken) before the rows are counted again.
            await eventually(lambda: _writer_duplicates() - before >= len(again), timeout=30)
            after = await stored_msg_ids(db, tag)
            alerts = await db.fetch("SELECT resident_id, status, count FROM alerts WHERE resident_id = %s", (rid,))
            mine = [c.kind for c in changes if c.alert.resident_id == rid]
    finally:
        await pub.disconnect()
        await ingest.stop()
        await bus.close()
    print(f"\n[kafka path] sent 301 + 1 junk; stored {sum(stored.values())}, dead letters {dead}; "
          f"replayed {len(again)} events: rows now {sum(after.values())}; alert rows {alerts}; changes {mine}")
    assert stored == after and set(after) == {*sent, "press-1"} and max(after.values()) == 1
    assert len(rows) == 301 and dead == 1
    assert [(a["status"], a["count"]) for a in alerts] == [("resolved", 1)]  # replays attached nothing, raised nothing
    assert mine[0] is AlertChangeKind.RAISED and AlertChangeKind.RESOLVED in mine


async def _all(db, tag, n):
    stored = await stored_msg_ids(db, tag)
    return stored if sum(stored.values()) >= n else None


async def _events_from_topic(db, tag):
    """The stored events, rebuilt as ingest published them (same ids, same keys)."""
    from telecare.events import Event

    rows = await db.fetch("SELECT * FROM events WHERE gateway_id LIKE %s", (f"gw-{tag}-%",))
    return [Event(r["id"], r["gateway_id"], r["device_id"], r["resident_id"], EventType(r["type"]), r["ts"],
                  r["received_at"], r["msg_id"], r["battery"], r["value"]) for r in rows]


def _writer_duplicates() -> float:
    """Events the store writer found already stored (this process's metric)."""
    from telecare import metrics

    return metrics.REGISTRY.get_sample_value("telecare_store_writer_events_total", {"result": "duplicate"}) or 0.0


async def test_replayed_verdicts_never_raise_twice_nor_close_a_newer_alert(db, kafka_bootstrap):
    tag = uuid.uuid4().hex[:6]
    await seed(db, tag, 1)
    rid, clock = f"r-{tag}-0", SystemClock()
    bus = KafkaBus(kafka_bootstrap, register_skew_ms=0)
    bus.register(ALERTS, f"web-{tag}")
    applier = TriggerApplier(db, AlertStore(db, bus))
    t0 = datetime.now(timezone.utc)
    offline_1 = AlertTrigger(rid, AlertType.DEVICE_OFFLINE, Severity.TECHNICAL, t0, "Gateway offline",
                             f"gw-{tag}-0")  # a timer's trigger: keyed by its deadline
    back = AlertClear(rid, AlertType.DEVICE_OFFLINE, t0 + timedelta(minutes=5), "Gateway back online")
    offline_2 = AlertTrigger(rid, AlertType.DEVICE_OFFLINE, Severity.TECHNICAL, t0 + timedelta(minutes=30),
                             "Gateway offline", f"gw-{tag}-0")
    try:
        results = [await applier.apply(v, clock.now()) for v in (offline_1, back, offline_2)]
        # A consumer restarted before its commit sees all three again:
        replays = [await applier.apply(v, clock.now()) for v in (offline_1, back, offline_2)]
        rows = await db.fetch("SELECT status FROM alerts WHERE resident_id = %s ORDER BY id", (rid,))
    finally:
        await bus.close()
    assert [r.change.kind for r in results] == [AlertChangeKind.RAISED, AlertChangeKind.RESOLVED,
                                                AlertChangeKind.RAISED]
    assert all(r.replay for r in replays) and not any(r.replay for r in results)
    # The replayed clear did not close the newer alert; the replays republished only what still holds.
    assert [r["status"] for r in rows] == ["resolved", "open"]
    assert [r.change.kind if r.change else None for r in replays] == [None, AlertChangeKind.RESOLVED,
                                                                       AlertChangeKind.RAISED]


async def test_outreach_on_kafka_raises_its_welfare_check_through_the_alerts_part(db, kafka_bootstrap):
    from alerts.bus_sink import AlertsViaBus

    tag = uuid.uuid4().hex[:6]
    await seed(db, tag, 1)
    rid, clock = f"r-{tag}-0", SystemClock()
    bus = KafkaBus(kafka_bootstrap, register_skew_ms=0)
    store = AlertStore(db, bus)
    part = TriggerConsumer(bus, TriggerApplier(db, store), clock, group=f"alerts-{tag}",
                          from_start=False)  # the shared broker keeps every earlier test's verdicts
    await part.start()
    outreach_alerts = AlertsViaBus(store, BusVerdictSink(bus))  # what build_outreach passes on Kafka
    welfare = AlertTrigger(rid, AlertType.WELFARE_CHECK, Severity.HIGH, clock.now(), "unreached after 3 calls")
    replayed = _verdicts("replayed")
    try:
        # Bounded below pytest-timeout: a stuck await then fails with its own traceback, not a thread dump.
        async with asyncio.timeout(150), running(part.run()):
            assert await outreach_alerts.raise_or_attach(welfare, clock.now()) is None  # published, not applied here
            await outreach_alerts.raise_or_attach(welfare, clock.now())  # a retried publish: the same verdict
            await eventually(lambda: _verdicts("replayed") > replayed, timeout=90)  # the second one was seen
            row = await db.fetchrow("SELECT id, type, count FROM alerts WHERE resident_id = %s", (rid,))
            got = await outreach_alerts.get(row["id"])  # reads are the store's
    finally:
        await bus.close()
    assert (row["type"], row["count"]) == ("welfare_check", 1) and got.resident_id == rid


def _verdicts(result: str) -> float:
    from telecare import metrics

    return metrics.REGISTRY.get_sample_value("telecare_alert_verdicts_total", {"result": result}) or 0.0


async def test_the_store_writer_stores_gateway_presence_once_and_survives_its_replay(db):
    """Presence events have no dedupe key: the writer looks them up by id. That lookup once killed the writer (and
    `telecare demo --kafka` with it) at the first gateway that came online."""
    from telecare.events import Event

    tag = uuid.uuid4().hex[:6]
    await seed(db, tag, 2)
    now = datetime.now(timezone.utc)
    presence = [Event(uuid.uuid4(), f"gw-{tag}-{i}", f"gw-{tag}-{i}", f"r-{tag}-{i}", kind, now, now,
                      f"presence-{i}-{kind.value}", None)
                for i in range(2) for kind in (EventType.GATEWAY_ONLINE, EventType.GATEWAY_OFFLINE)]
    writer = StoreWriter(None, db, Health())
    assert await writer.store(presence) == 4
    assert await writer.store(presence) == 0  # redelivered after a crash before the commit: found, not doubled
    rows = await db.fetchval("SELECT count(*) FROM events WHERE gateway_id LIKE %s", (f"gw-{tag}-%",))
    assert rows == 4
