"""The rule runner's orchestration with in-memory fakes: the in-process bus, a FakeClock, in-memory rule stores
and an in-memory AlertSink (no database: what is tested here is the wiring, not SQL)."""
from __future__ import annotations

import asyncio
from datetime import datetime, timedelta, timezone
from uuid import uuid4

from rules.progress import Progress
from rules.runner import RulesRunner
from rules.stores import InMemoryRuleStores, in_memory_rule_stores
from telecare.alerts import AlertStatus, AlertType
from telecare.bus import ALERTS, EVENTS, InProcessBus
from telecare.clock import FakeClock
from telecare.events import DeviceType, Event, EventType
from telecare.fakes import InMemoryAlertSink, InMemoryResidents
from telecare.people import Device, Resident
from tests.conftest import eventually

T0 = datetime(2026, 11, 22, 1, 0, tzinfo=timezone.utc)  # 02:00 in Madrid: night


def lookup() -> InMemoryResidents:
    devices = [Device(f"r1-{kind.value}", kind, "r1-gw", "r1")
               for kind in (DeviceType.PENDANT, DeviceType.FALL_SENSOR, DeviceType.BED_SENSOR)]
    return InMemoryResidents([Resident("r1", "Test Resident")], devices)


def event(kind: EventType, device: str, at: datetime) -> Event:
    return Event(uuid4(), "r1-gw", f"r1-{device}", "r1", kind, at, at, uuid4().hex, None)


def runner(stores: InMemoryRuleStores, sink: InMemoryAlertSink, clock: FakeClock,
           bus: InProcessBus | None = None) -> RulesRunner:
    return RulesRunner(stores, bus or InProcessBus(), lookup(), sink, clock, tick_seconds=3600)


def of_type(sink: InMemoryAlertSink, kind: AlertType) -> list:
    return [a for a in sink.alerts.values() if a.type == kind]


async def test_a_help_press_on_the_bus_raises_one_alert_and_announces_it():
    bus, clock, stores = InProcessBus(), FakeClock(T0), in_memory_rule_stores()
    sink = InMemoryAlertSink(bus)
    bus.register(ALERTS, "watcher")
    rules = runner(stores, sink, clock, bus)
    await bus.publish(EVENTS, "r1", event(EventType.HELP_BUTTON, "pendant", clock.now()))  # before run(): kept
    task = asyncio.create_task(rules.run())
    try:
        [alert] = await eventually(lambda: of_type(sink, AlertType.HELP_BUTTON))
        announced = await asyncio.wait_for(anext(aiter(bus.subscribe(ALERTS, "watcher"))), 5)
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
    assert alert.status is AlertStatus.OPEN and alert.count == 1
    assert announced.value.alert.id == alert.id
    assert "r1" in stores.states.states  # the final flush on the way out saved the state


async def test_a_burst_of_falls_attaches_to_one_alert():
    clock, stores, sink = FakeClock(T0), in_memory_rule_stores(), InMemoryAlertSink()
    rules = runner(stores, sink, clock)
    for _ in range(5):
        await rules.process(event(EventType.FALL, "fall_sensor", clock.now()))
    [alert] = of_type(sink, AlertType.FALL)
    assert alert.count == 5


async def test_a_timer_fires_once_across_a_save_and_a_load():
    clock, stores, sink = FakeClock(T0), in_memory_rule_stores(), InMemoryAlertSink()
    first = runner(stores, sink, clock)
    await first.process(event(EventType.BED_EXIT, "bed_sensor", clock.now()))
    await first.flush()
    assert "bed" in stores.states.states["r1"].timers and not of_type(sink, AlertType.BED_EXIT_NO_RETURN)

    clock.advance(timedelta(minutes=45))  # the deadline passes while no runner is up
    for _ in range(2):  # the second restart finds the fired timer saved: no second alert
        again = runner(stores, sink, clock)
        await again.start()
        clock.advance(5)
        await again.tick()
        await again.flush()
    [alert] = of_type(sink, AlertType.BED_EXIT_NO_RETURN)
    assert alert.count == 1 and alert.delayed is True


async def test_a_failing_state_save_does_not_stop_evaluation():
    clock, stores, sink = FakeClock(T0), in_memory_rule_stores(), InMemoryAlertSink()
    rules = runner(stores, sink, clock)
    await rules.start()
    stores.states.failing = True
    await rules.process(event(EventType.HELP_BUTTON, "pendant", clock.now()))
    assert await rules.flush() == 0  # refused: kept for the next save
    await rules.process(event(EventType.FALL, "fall_sensor", clock.now()))
    assert of_type(sink, AlertType.HELP_BUTTON) and of_type(sink, AlertType.FALL)

    stores.states.failing = False
    assert await rules.flush() == 1
    assert stores.states.states["r1"] == rules.state("r1")
    assert stores.progress.saved is not None  # progress is saved after the states it covers


async def test_an_alert_the_sink_refuses_is_retried_at_the_next_tick():
    clock, stores, sink = FakeClock(T0), in_memory_rule_stores(), InMemoryAlertSink()
    rules = runner(stores, sink, clock)
    sink.failing = True
    await rules.process(event(EventType.HELP_BUTTON, "pendant", clock.now()))
    assert rules.pending_alerts == 1 and not sink.alerts
    sink.failing = False
    await rules.tick()
    assert rules.pending_alerts == 0
    [alert] = of_type(sink, AlertType.HELP_BUTTON)
    assert alert.count == 1


async def test_a_stored_event_the_bus_never_delivered_is_replayed_once_at_start():
    clock, stores, sink = FakeClock(T0), in_memory_rule_stores(), InMemoryAlertSink()
    stores.progress.saved = Progress(T0 - timedelta(minutes=1), frozenset())  # the last run got this far
    missed = event(EventType.HELP_BUTTON, "pendant", T0 - timedelta(seconds=30))
    stores.events.store(missed)
    rules = runner(stores, sink, clock)
    await rules.start()
    [alert] = of_type(sink, AlertType.HELP_BUTTON)
    assert await rules.process(missed) == []  # its bus copy arriving later is not evaluated again
    assert alert.count == 1 and sink.alerts[alert.id].count == 1


async def test_a_timer_fires_when_it_is_due_not_at_the_next_tick():
    """Ticks every hour here: the bed exit's timer (due 0.5 s after the event arrives) fires on its own."""
    from datetime import time as clock_time

    from telecare.clock import SystemClock
    from telecare.people import CarePlan

    plan = CarePlan(night_start=clock_time(0, 0), night_end=clock_time(23, 59, 59), bed_return_minutes=1)
    residents = InMemoryResidents([Resident("r1", "Test Resident", care_plan=plan)], lookup().devices)
    bus, stores, sink, clock = InProcessBus(), in_memory_rule_stores(), InMemoryAlertSink(), SystemClock()
    rules = RulesRunner(stores, bus, residents, sink, clock, tick_seconds=3600)
    task = asyncio.create_task(rules.run())
    try:
        await eventually(lambda: rules.caught_up)
        out_of_bed = clock.now() - timedelta(seconds=59.5)  # its 1-minute return window ends in half a second
        await bus.publish(EVENTS, "r1", event(EventType.BED_EXIT, "bed_sensor", out_of_bed))
        [alert] = await eventually(lambda: of_type(sink, AlertType.BED_EXIT_NO_RETURN), timeout=10)
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
    assert alert.count == 1
