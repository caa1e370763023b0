"""RulesRunner against real PostgreSQL with the in-process bus, the alert store and a FakeClock."""
from __future__ import annotations

import asyncio
import time as wall
from contextlib import asynccontextmanager
from datetime import datetime, timedelta, timezone
from uuid import uuid4

from alerts.store import AlertStore
from rules.runner import RulesRunner
from rules.stores import pg_rule_stores
from rules.state import PgRuleStateStore
from telecare.alerts import AlertStatus, AlertType
from telecare.bus import EVENTS, InProcessBus
from telecare.clock import FakeClock
from telecare.events import DeviceType, Event, EventType
from telecare.metrics import REGISTRY
from telecare.people import Device, Resident
from telecare.fakes import InMemoryResidents
from tests.conftest import eventually

T0 = datetime(2026, 11, 22, 1, 0, tzinfo=timezone.utc)  # 02:00 in Madrid: night


ListLookup = InMemoryResidents  # the kernel's in-memory ResidentLookup, under the name these tests use


def home(rid: str) -> tuple[Resident, list[Device]]:
    """A resident with a pendant, a fall sensor and a bed sensor (no gateway: its 5-min supervision is noise here)."""
    devices = [Device(f"{rid}-{kind.value}", kind, f"{rid}-gw", rid)
               for kind in (DeviceType.PENDANT, DeviceType.FALL_SENSOR, DeviceType.BED_SENSOR)]
    return Resident(rid, "Test Resident"), devices


def event(rid: str, kind: EventType, device: str, clock: FakeClock, battery: int | None = None) -> Event:
    now = clock.now()
    return Event(uuid4(), f"{rid}-gw", f"{rid}-{device}", rid, kind, now, now, uuid4().hex, battery)


async def add_residents(db, *rids: str) -> None:
    for rid in rids:  # the alerts table refers to residents
        await db.execute("INSERT INTO residents (id, name) VALUES (%s, %s)", (rid, "Test Resident"))


@asynccontextmanager
async def running(runner: RulesRunner):
    task = asyncio.create_task(runner.run())
    try:
        yield task
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)


async def alerts_of(db, rid: str, kind: AlertType) -> list[dict]:
    return await db.fetch("SELECT id, count, status, delayed FROM alerts WHERE resident_id = %s AND type = %s",
                          (rid, kind.value))


async def test_events_in_alerts_out_and_state_saved(db):
    await add_residents(db, "r1")
    resident, devices = home("r1")
    bus, clock = InProcessBus(), FakeClock(T0)
    runner = RulesRunner(pg_rule_stores(db), bus, ListLookup([resident], devices), AlertStore(db, bus), clock, tick_seconds=0.01)
    await bus.publish(EVENTS, "r1", event("r1", EventType.HELP_BUTTON, "pendant", clock))  # before run(): kept
    async with running(runner):
        await bus.publish(EVENTS, "r1", event("r1", EventType.HEARTBEAT, "pendant", clock, battery=9))
        await eventually(lambda: alerts_of(db, "r1", AlertType.HELP_BUTTON))
        await eventually(lambda: alerts_of(db, "r1", AlertType.LOW_BATTERY))

        async def saved_within_interval():
            clock.advance(1)  # states are saved every few seconds of rule time (replay covers the gap)
            state = await PgRuleStateStore(db).load("r1")
            return state if state is not None and state.low_battery else None

        saved = await eventually(saved_within_interval)
        assert "r1-pendant" in saved.low_battery


async def test_burst_of_identical_falls_gives_one_alert_counting_all(db):
    await add_residents(db, "r1")
    resident, devices = home("r1")
    bus, clock = InProcessBus(), FakeClock(T0)
    runner = RulesRunner(pg_rule_stores(db), bus, ListLookup([resident], devices), AlertStore(db, bus), clock, tick_seconds=0.01)
    async with running(runner):
        for _ in range(50):
            await bus.publish(EVENTS, "r1", event("r1", EventType.FALL, "fall_sensor", clock))

        async def counted():
            rows = await alerts_of(db, "r1", AlertType.FALL)
            return rows if rows and rows[0]["count"] == 50 else None

        [alert] = await eventually(counted)
    assert alert["status"] == AlertStatus.OPEN.value
    assert len(await alerts_of(db, "r1", AlertType.FALL)) == 1


async def test_restart_fires_a_missed_bed_timer_exactly_once(db):
    await add_residents(db, "r1")
    resident, devices = home("r1")
    lookup, clock = ListLookup([resident], devices), FakeClock(T0)
    bus = InProcessBus()
    first = RulesRunner(pg_rule_stores(db), bus, lookup, AlertStore(db, bus), clock, tick_seconds=0.01)
    async with running(first):
        await bus.publish(EVENTS, "r1", event("r1", EventType.BED_EXIT, "bed_sensor", clock))

        async def bed_timer_saved():
            clock.advance(0.2)  # states are saved every few seconds of rule time (replay covers the gap)
            state = await PgRuleStateStore(db).load("r1")
            return state is not None and "bed" in state.timers

        await eventually(bed_timer_saved)
    assert await alerts_of(db, "r1", AlertType.BED_EXIT_NO_RETURN) == []

    clock.advance(timedelta(minutes=45))  # the deadline passes while no runner is up
    for _ in range(2):  # a second restart must not fire it again
        bus = InProcessBus()
        runner = RulesRunner(pg_rule_stores(db), bus, lookup, AlertStore(db, bus), clock, tick_seconds=0.01)
        async with running(runner):
            await eventually(lambda: alerts_of(db, "r1", AlertType.BED_EXIT_NO_RETURN))
            await runner.tick()
            clock.advance(timedelta(seconds=5))
            await runner.tick()
        [alert] = await alerts_of(db, "r1", AlertType.BED_EXIT_NO_RETURN)
        assert alert["count"] == 1 and alert["delayed"] is True


async def test_timer_fires_from_the_clock_while_running(db):
    await add_residents(db, "r1")
    resident, devices = home("r1")
    bus, clock = InProcessBus(), FakeClock(T0)
    runner = RulesRunner(pg_rule_stores(db), bus, ListLookup([resident], devices), AlertStore(db, bus), clock, tick_seconds=0.01)
    async with running(runner):
        await runner.process(event("r1", EventType.BED_EXIT, "bed_sensor", clock))
        clock.advance(timedelta(minutes=29))
        assert await runner.tick() == []
        clock.advance(timedelta(minutes=1))  # no event: the runner's own ticker fires it
        [alert] = await eventually(lambda: alerts_of(db, "r1", AlertType.BED_EXIT_NO_RETURN))
    assert alert["count"] == 1 and alert["delayed"] is False


async def test_unknown_resident_is_fetched_and_unregistered_one_ignored(db):
    await add_residents(db, "r1", "r2")
    r1, d1 = home("r1")
    r2, d2 = home("r2")
    lookup = ListLookup([r1], d1)
    bus, clock = InProcessBus(), FakeClock(T0)
    runner = RulesRunner(pg_rule_stores(db), bus, lookup, AlertStore(db, bus), clock, tick_seconds=0.01,
                         device_refresh_seconds=0)
    await runner.start()
    assert await runner.process(event("r2", EventType.HELP_BUTTON, "pendant", clock)) == []  # not registered
    lookup.residents.append(r2)
    lookup.devices.extend(d2)  # registered since the runner started
    [trig] = await runner.process(event("r2", EventType.HELP_BUTTON, "pendant", clock))
    assert trig.resident_id == "r2" and len(await alerts_of(db, "r2", AlertType.HELP_BUTTON)) == 1
    assert "sup:r2-pendant" in runner.state("r2").timers


def processed() -> float:
    return sum(REGISTRY.get_sample_value("telecare_rules_events_total", {"type": kind}) or 0
               for kind in ("heartbeat", "motion"))


async def test_throughput_without_alerts(db):
    """Heartbeats and motion for 500 homes through the bus: no database round trip per event."""
    rids = [f"p{i}" for i in range(500)]
    await add_residents(db, *rids)
    homes = [home(rid) for rid in rids]
    lookup = ListLookup([r for r, _ in homes], [d for _, ds in homes for d in ds])
    bus, clock = InProcessBus(max_pending=100_000), FakeClock(T0)
    runner = RulesRunner(pg_rule_stores(db), bus, lookup, AlertStore(db, bus), clock, tick_seconds=0.05)
    await runner.start()
    n = 20_000
    events = [event(rids[i % 500], EventType.HEARTBEAT if i % 3 else EventType.MOTION, "pendant", clock, 80)
              for i in range(n)]
    for ev in events:
        await bus.publish(EVENTS, ev.resident_id, ev)
    before = processed()
    started = wall.perf_counter()
    async with running(runner):
        await eventually(lambda: processed() - before >= n, timeout=30, interval=0.005)
    rate = n / (wall.perf_counter() - started)
    print(f"rules runner: {rate:,.0f} events/s")
    assert rate > 5000
    assert await db.fetchval("SELECT count(*) FROM rule_state") == 500
    assert await db.fetchval("SELECT count(*) FROM alerts") == 0


async def test_alert_the_database_refuses_is_retried_not_lost(db):
    resident, devices = home("r1")  # no residents row yet: the alerts foreign key refuses the insert
    bus, clock = InProcessBus(), FakeClock(T0)
    runner = RulesRunner(pg_rule_stores(db), bus, ListLookup([resident], devices), AlertStore(db, bus), clock, tick_seconds=0.01)
    async with running(runner):
        await bus.publish(EVENTS, "r1", "not an event")  # ignored and counted, the runner carries on
        await bus.publish(EVENTS, "r1", event("r1", EventType.HELP_BUTTON, "pendant", clock))
        await eventually(lambda: runner.pending_alerts)
        await add_residents(db, "r1")
        [alert] = await eventually(lambda: alerts_of(db, "r1", AlertType.HELP_BUTTON))
    assert alert["count"] == 1


async def test_unreadable_stored_state_is_skipped_and_rearmed(db):
    await add_residents(db, "r1")
    await db.execute("INSERT INTO rule_state VALUES ('r1', %s, %s)", ({"garbage": True}, T0))
    resident, devices = home("r1")
    bus, clock = InProcessBus(), FakeClock(T0)
    runner = RulesRunner(pg_rule_stores(db), bus, ListLookup([resident], devices), AlertStore(db, bus), clock)
    await runner.start()
    saved = await PgRuleStateStore(db).load("r1")
    assert saved is not None and "sup:r1-pendant" in saved.timers


async def test_stream_of_events_for_a_stray_resident_is_not_a_query_each(db):
    resident, devices = home("r1")
    lookup, bus, clock = ListLookup([resident], devices), InProcessBus(), FakeClock(T0)
    runner = RulesRunner(pg_rule_stores(db), bus, lookup, AlertStore(db, bus), clock)
    for _ in range(20):
        assert await runner.process(event("ghost", EventType.HEARTBEAT, "pendant", clock)) == []
    assert lookup.asked == 1
