"""The Kafka bus against a real single-node broker (demo/kafka_broker.py): delivery, groups, order, restarts."""
from __future__ import annotations

import asyncio
import uuid
from collections import Counter
from contextlib import asynccontextmanager
from datetime import datetime, timezone

import pytest

from telecare.alerts import Alert, AlertChange, AlertChangeKind, AlertStatus, AlertType, Severity
from telecare.bus import ALERTS, EVENTS, FeedGap, FeedState
from telecare.events import Event, EventType
from telecare.kafkabus import KafkaBus
from tests.conftest import eventually

NOW = datetime(2026, 11, 22, 12, 0, tzinfo=timezone.utc)


def new_bus(bootstrap: str) -> KafkaBus:
    # No clock-skew margin: one host's clock, and the previous test's messages must not count here.
    return KafkaBus(bootstrap, register_skew_ms=0)


async def _next_millisecond() -> None:
    """Until the wall clock's millisecond has moved on (a poll of the clock, bounded)."""
    import time

    start = int(time.time() * 1000)
    await eventually(lambda: int(time.time() * 1000) > start, timeout=1, interval=0.0005)


def group() -> str:
    return f"test-{uuid.uuid4().hex[:8]}"  # topics are shared by the session: each test reads its own groups


def ev(rid: str, msg_id: str, kind: EventType = EventType.HEARTBEAT) -> Event:
    return Event(uuid.uuid4(), f"{rid}-gw", f"{rid}-pendant", rid, kind, NOW, NOW, msg_id, 80)


@asynccontextmanager
async def reading(bus: KafkaBus, topic: str, grp: str, into: list, *, gaps: bool = False):
    """Collect the group's messages into `into` while the block runs."""
    async def collect() -> None:
        async for message in bus.subscribe(topic, grp, gaps=gaps):
            into.append(message)

    task = asyncio.create_task(collect())
    try:
        yield task
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)


async def test_a_per_process_group_is_deleted_when_its_bus_closes(kafka_bootstrap):
    from aiokafka.admin import AIOKafkaAdminClient

    web = group()
    bus = KafkaBus(kafka_bootstrap, register_skew_ms=0, process_groups=frozenset({web}))
    gid = bus.group_id(ALERTS, web)
    assert gid.startswith(f"{ALERTS}.{web}-")  # its own group: every web process sees every change
    bus.register(ALERTS, web)
    got: list = []
    async with reading(bus, ALERTS, web, got):
        alert = Alert(1, "r1", AlertType.HELP_BUTTON, Severity.CRITICAL, AlertStatus.OPEN, NOW, NOW, NOW, 1,
                      "Help button pressed")
        await bus.publish(ALERTS, "r1", AlertChange(AlertChangeKind.RAISED, alert))
        await eventually(lambda: got, timeout=30)
    admin = AIOKafkaAdminClient(bootstrap_servers=kafka_bootstrap)
    await admin.start()
    try:
        async def listed() -> set[str]:
            return {g[0] for g in await admin.list_consumer_groups()}

        assert gid in await listed()
        await bus.close()
        assert gid not in await listed()  # nobody resumes it: no stale group left on the broker
    finally:
        await admin.close()


async def test_event_and_alert_change_round_trip(kafka_bootstrap):
    bus, grp = new_bus(kafka_bootstrap), group()
    bus.register(EVENTS, grp)
    bus.register(ALERTS, grp)
    event = ev("r-rt", "m-1", EventType.HELP_BUTTON)
    alert = Alert(1, "r-rt", AlertType.HELP_BUTTON, Severity.CRITICAL, AlertStatus.OPEN, NOW, NOW, NOW, 1,
                  "Help button pressed")
    await bus.publish(EVENTS, "r-rt", event)
    await bus.publish(ALERTS, "r-rt", AlertChange(AlertChangeKind.RAISED, alert))
    events, changes = [], []
    try:
        async with reading(bus, EVENTS, grp, events), reading(bus, ALERTS, grp, changes):
            await eventually(lambda: events and changes, timeout=30)
    finally:
        await bus.close()
    assert events[0].key == "r-rt" and events[0].value == event
    assert changes[0].key == "r-rt" and changes[0].value == AlertChange(AlertChangeKind.RAISED, alert)


async def test_each_group_sees_every_message(kafka_bootstrap):
    bus, a, b = new_bus(kafka_bootstrap), group(), group()
    bus.register(EVENTS, a)
    bus.register(EVENTS, b)
    sent = {f"m-{i}" for i in range(40)}
    for i, msg_id in enumerate(sorted(sent)):
        await bus.publish(EVENTS, f"r-{i % 7}", ev(f"r-{i % 7}", msg_id))
    got_a, got_b = [], []
    try:
        async with reading(bus, EVENTS, a, got_a), reading(bus, EVENTS, b, got_b):
            await eventually(lambda: len(got_a) >= 40 and len(got_b) >= 40, timeout=30)
    finally:
        await bus.close()
    assert Counter(m.value.msg_id for m in got_a) == Counter(sent)
    assert Counter(m.value.msg_id for m in got_b) == Counter(sent)


async def test_consumers_of_one_group_split_the_partitions(kafka_bootstrap):
    first, second, grp = new_bus(kafka_bootstrap), new_bus(kafka_bootstrap), group()
    got_1, got_2 = [], []
    try:
        async with reading(first, EVENTS, grp, got_1), reading(second, EVENTS, grp, got_2):
            # Both members hold partitions (and together all six) before anything is published.
            await eventually(lambda: first.assigned(EVENTS, grp) and second.assigned(EVENTS, grp)
                             and len(first.assigned(EVENTS, grp) | second.assigned(EVENTS, grp)) == 6, timeout=30)
            assert not first.assigned(EVENTS, grp) & second.assigned(EVENTS, grp)
            for i in range(60):
                await first.publish(EVENTS, f"r-{i % 30}", ev(f"r-{i % 30}", f"m-{i}"))
            await eventually(lambda: len(got_1) + len(got_2) >= 60, timeout=30)
    finally:
        await first.close()
        await second.close()
    assert got_1 and got_2
    assert Counter(m.value.msg_id for m in got_1 + got_2) == Counter(f"m-{i}" for i in range(60))
    assert not {m.key for m in got_1} & {m.key for m in got_2}  # a resident's messages go to one member


async def test_registered_group_keeps_what_was_published_before_it_subscribed(kafka_bootstrap):
    bus = new_bus(kafka_bootstrap)
    late, kept = group(), group()
    await bus.publish(EVENTS, "r-k", ev("r-k", "before-register"))
    await _next_millisecond()
    bus.register(EVENTS, kept)
    await bus.publish(EVENTS, "r-k", ev("r-k", "after-register"))
    # Registration is kept to the millisecond, as Kafka's timestamps are: an ack within the same millisecond
    # would make "after-register" count as published at the late group's registration (it did, once).
    await _next_millisecond()
    bus.register(EVENTS, late)  # registered after both: a new group does not replay the topic's history
    await bus.publish(EVENTS, "r-k", ev("r-k", "after-late-register"))
    got_kept, got_late = [], []
    try:
        async with reading(bus, EVENTS, kept, got_kept), reading(bus, EVENTS, late, got_late):
            await eventually(lambda: len(got_kept) >= 2 and len(got_late) >= 1, timeout=30)
            await bus.publish(EVENTS, "r-k", ev("r-k", "while-subscribed"))
            await eventually(lambda: len(got_kept) >= 3 and len(got_late) >= 2, timeout=30)
    finally:
        await bus.close()
    assert [m.value.msg_id for m in got_kept] == ["after-register", "after-late-register", "while-subscribed"]
    assert [m.value.msg_id for m in got_late] == ["after-late-register", "while-subscribed"]


async def test_a_residents_messages_arrive_in_order(kafka_bootstrap):
    bus, grp = new_bus(kafka_bootstrap), group()
    bus.register(EVENTS, grp)
    residents = [f"r-order-{n}" for n in range(4)]

    async def publish_all(rid: str) -> None:
        for i in range(50):
            await bus.publish(EVENTS, rid, ev(rid, f"{rid}:{i:03d}"))

    await asyncio.gather(*(publish_all(rid) for rid in residents))  # interleaved across residents
    got = []
    try:
        async with reading(bus, EVENTS, grp, got):
            await eventually(lambda: len(got) >= 200, timeout=30)
    finally:
        await bus.close()
    for rid in residents:
        assert [m.value.msg_id for m in got if m.key == rid] == [f"{rid}:{i:03d}" for i in range(50)]


async def test_the_producer_is_idempotent_with_acks_all(kafka_bootstrap):
    bus = new_bus(kafka_bootstrap)
    try:
        await bus.publish(EVENTS, "r-idem", ev("r-idem", "m-idem"))
        producer = bus.producer_state()
    finally:
        await bus.close()
    assert producer == {"acks": "all", "idempotent": True, "has_producer_id": True}


async def test_unknown_topic_is_refused_before_it_reaches_the_broker(kafka_bootstrap):
    bus = new_bus(kafka_bootstrap)
    try:
        try:
            await bus.publish("evnets", "r", ev("r", "m"))
        except ValueError as err:
            assert "evnets" in str(err)
        else:
            raise AssertionError("a misspelt topic was accepted")
    finally:
        await bus.close()


def gaps_of(messages: list) -> list[FeedGap]:
    return [m.value for m in messages if isinstance(m.value, FeedGap)]


@pytest.mark.parametrize("how", ["stop", "kill"])
async def test_a_broker_restart_loses_nothing(tmp_root, how):
    """Controlled shutdown, or SIGKILL (acknowledged writes are in the OS page cache: a process crash keeps them)."""
    from tests.conftest import start_kafka

    broker = start_kafka(tmp_root / f"kafka-restart-{uuid.uuid4().hex[:6]}")
    bus, grp = new_bus(broker.bootstrap), group()
    bus.register(EVENTS, grp)
    sent: list[str] = []
    restarted = asyncio.Event()

    async def produce() -> None:
        after = 0  # messages published once the broker is back
        while after < 300:
            i = len(sent)
            await bus.publish(EVENTS, f"r-{i % 20}", ev(f"r-{i % 20}", f"m-{i}"))
            sent.append(f"m-{i}")
            after += restarted.is_set()

    got: list = []
    restart_at = 200
    producer = asyncio.create_task(produce())
    try:
        async with reading(bus, EVENTS, grp, got, gaps=True):
            await eventually(lambda: len(got) >= restart_at, timeout=60)
            await asyncio.to_thread(broker.stop if how == "stop" else broker.kill)  # while both keep going
            # The subscriber is told its feed is lost (a screen must not say "Live" now)...
            await eventually(lambda: any(g.state is FeedState.LOST for g in gaps_of(got)), timeout=30)
            await asyncio.to_thread(broker.start)  # same data dir and ports
            restarted.set()
            await asyncio.wait_for(producer, 120)
            ids = lambda: [m.value.msg_id for m in got if not isinstance(m.value, FeedGap)]  # noqa: E731
            await eventually(lambda: set(ids()) >= set(sent), timeout=90)
    finally:
        producer.cancel()
        await asyncio.gather(producer, return_exceptions=True)
        await bus.close()
        broker.stop()
    counts = Counter(ids())
    lost = set(sent) - set(counts)
    duplicated = sum(n - 1 for n in counts.values())
    print(f"broker {how} + start: sent {len(sent)} received {sum(counts.values())} lost {len(lost)} duplicated {duplicated}"
          f" gaps {[(g.state.value, g.missed) for g in gaps_of(got)]}")
    assert not lost
    assert len(sent) > restart_at + 100  # publishing went on through and after the restart
    # Duplicates: at most what a consumer processed since its last commit (at-least-once, docs/kafka.md).
    assert duplicated <= len(sent) // 2
    # ...and when it resumes, that nothing was skipped (the position was kept: no catch-up needed).
    assert [(g.state, g.missed) for g in gaps_of(got)][-1] == (FeedState.RESUMED, False)


async def test_the_rules_runner_on_kafka_raises_an_alert_for_a_help_press(kafka_bootstrap, db):
    """The in-process rules host, unchanged, on the Kafka bus: help press in, alert row and RAISED change out."""
    from alerts.store import AlertStore
    from devices.registry import Registry
    from rules.runner import RulesRunner
    from rules.stores import pg_rule_stores
    from telecare.clock import FakeClock
    from telecare.events import DeviceType
    from telecare.people import Device, Resident

    rid = f"r-kafka-{uuid.uuid4().hex[:6]}"
    registry = Registry(db)
    await registry.write_batch([Resident(rid, "Test Resident")],
                               [Device(f"{rid}-gw", DeviceType.GATEWAY, f"{rid}-gw", rid),
                                Device(f"{rid}-pendant", DeviceType.PENDANT, f"{rid}-gw", rid)])
    bus, clock, web = new_bus(kafka_bootstrap), FakeClock(NOW), group()
    bus.register(ALERTS, web)
    runner = RulesRunner(pg_rule_stores(db), bus, registry, AlertStore(db, bus), clock, tick_seconds=0.05)
    assert runner is not None and bus.keeps_from_register  # no replay from the table: the group keeps it
    press = ev(rid, "press-1", EventType.HELP_BUTTON)
    await bus.publish(EVENTS, rid, press)  # before the runner subscribes: the registered group keeps it
    changes: list = []
    task = asyncio.create_task(runner.run())
    try:
        async with reading(bus, ALERTS, web, changes):
            rows = await eventually(lambda: db.fetch(
                "SELECT type, status FROM alerts WHERE resident_id = %s", (rid,)), timeout=60)
            await eventually(lambda: [m for m in changes if m.key == rid], timeout=30)
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        await bus.close()
    assert [(r["type"], r["status"]) for r in rows] == [(AlertType.HELP_BUTTON.value, AlertStatus.OPEN.value)]
    mine = [m.value for m in changes if m.key == rid]
    assert mine[0].kind is AlertChangeKind.RAISED and mine[0].alert.type is AlertType.HELP_BUTTON


async def test_an_unreachable_broker_is_a_bus_error_naming_the_broker_not_the_message():
    from demo.broker import free_port
    from telecare.errors import BusError

    bootstrap = f"127.0.0.1:{free_port()}"  # nothing listens there
    bus = KafkaBus(bootstrap, publish_timeout_s=1.0)
    try:
        await bus.publish(EVENTS, "r-secret", ev("r-secret", "m-secret"))
    except BusError as err:
        message = str(err)
    else:
        raise AssertionError("publish to a dead broker returned")
    finally:
        await bus.close()
    assert bootstrap in message and "secret" not in message


async def test_publish_many_delivers_every_message_in_order_per_resident(kafka_bootstrap):
    bus, grp = new_bus(kafka_bootstrap), group()
    bus.register(EVENTS, grp)
    items = [(f"r-many-{i % 5}", ev(f"r-many-{i % 5}", f"many-{i:04d}")) for i in range(500)]
    await bus.publish_many(EVENTS, items)
    got = []
    try:
        async with reading(bus, EVENTS, grp, got):
            await eventually(lambda: len(got) >= 500, timeout=30)
    finally:
        await bus.close()
    assert Counter(m.value.msg_id for m in got) == Counter(e.msg_id for _, e in items)
    for rid in {k for k, _ in items}:
        assert [m.value.msg_id for m in got if m.key == rid] == [e.msg_id for k, e in items if k == rid]


async def test_unread_messages_deleted_by_retention_are_reported_as_a_gap(kafka_bootstrap):
    """Offsets out of range: the consumer jumps to the oldest kept message and says messages were missed."""
    from aiokafka import AIOKafkaConsumer, TopicPartition
    from aiokafka.admin import AIOKafkaAdminClient, RecordsToDelete

    bus, grp, rid = new_bus(kafka_bootstrap), group(), "r-retention"
    bus.register(EVENTS, grp)
    got: list = []
    try:
        async with reading(bus, EVENTS, grp, got, gaps=True):
            await bus.publish(EVENTS, rid, ev(rid, "read"))
            await eventually(lambda: len(got) >= 1, timeout=30)
        # The group committed past "read" and is not consuming; two more arrive and are deleted unread.
        for msg_id in ("deleted-1", "deleted-2"):
            await bus.publish(EVENTS, rid, ev(rid, msg_id))
        probe = AIOKafkaConsumer(bootstrap_servers=kafka_bootstrap)  # what retention would do, now
        await probe.start()
        ends = await probe.end_offsets([TopicPartition(EVENTS, p) for p in range(6)])
        await probe.stop()
        admin = AIOKafkaAdminClient(bootstrap_servers=kafka_bootstrap)
        await admin.start()
        try:
            await admin.delete_records({tp: RecordsToDelete(end) for tp, end in ends.items() if end})
        finally:
            await admin.close()
        await bus.publish(EVENTS, rid, ev(rid, "after"))
        async with reading(bus, EVENTS, grp, got, gaps=True):
            await eventually(lambda: any(getattr(m.value, "msg_id", None) == "after" for m in got), timeout=30)
    finally:
        await bus.close()
    ids = [m.value.msg_id for m in got if not isinstance(m.value, FeedGap)]
    assert ids == ["read", "after"]
    assert [(g.state, g.missed) for g in gaps_of(got)][-2:] == [(FeedState.LOST, True), (FeedState.RESUMED, True)]


async def test_consumer_lag_is_reported_while_a_backlog_drains_and_removed_when_the_consumer_stops(kafka_bootstrap):
    from telecare import metrics

    def lag(gid: str) -> float | None:
        return metrics.REGISTRY.get_sample_value("telecare_bus_consumer_lag", {"topic": EVENTS, "group": gid})

    bus, grp = new_bus(kafka_bootstrap), group()
    bus.register(EVENTS, grp)
    gid = bus.group_id(EVENTS, grp)
    await bus.publish_many(EVENTS, [("r-lag", ev("r-lag", f"lag-{i}")) for i in range(1_200)])  # one partition
    batches: list[int] = []
    seen_at_first: list[float | None] = []

    async def drain() -> None:
        async for batch in bus.subscribe_batches(EVENTS, grp):
            if not batches:
                seen_at_first.append(lag(gid))
            batches.append(len(batch))

    task = asyncio.create_task(drain())
    try:
        await eventually(lambda: sum(batches) >= 1_200, timeout=30)
        assert seen_at_first[0] is not None and 0 < seen_at_first[0] <= 1_200 - batches[0]
        await eventually(lambda: lag(gid) == 0, timeout=10)  # reported again within a second, once drained
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        await bus.close()
    assert sum(batches) == 1_200 and lag(gid) is None  # a stopped consumer's series is gone
