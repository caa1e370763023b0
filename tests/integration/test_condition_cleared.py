"""Technical alerts close themselves when their condition ends (rules -> AlertSink.clear, real PostgreSQL);
alarms about a person never do."""
from __future__ import annotations

from datetime import timedelta
from uuid import uuid4

from alerts.store import AlertStore
from rules.runner import RulesRunner
from rules.stores import pg_rule_stores
from telecare.alerts import AlertClear, AlertStatus, AlertType, HistoryKind, Outcome
from telecare.bus import InProcessBus
from telecare.clock import FakeClock
from telecare.events import DeviceType, Event, EventType
from telecare.people import Device, Resident
from tests.integration.test_rules_runner import T0, ListLookup, add_residents

GW = Device("r1-gw", DeviceType.GATEWAY, "r1-gw", "r1")
PENDANT = Device("r1-pendant", DeviceType.PENDANT, "r1-gw", "r1")
FALL = Device("r1-fall", DeviceType.FALL_SENSOR, "r1-gw", "r1")


async def _world(db):
    await add_residents(db, "r1")
    bus, clock = InProcessBus(), FakeClock(T0)
    store = AlertStore(db, bus)
    runner = RulesRunner(pg_rule_stores(db), bus, ListLookup([Resident("r1", "Test Resident")], [GW, PENDANT, FALL]), store, clock)
    await runner.start()
    return runner, store, clock


async def _send(runner, clock, device: Device, kind: EventType, battery: int | None = None) -> None:
    now = clock.now()
    await runner.process(Event(uuid4(), device.gateway_id, device.id, "r1", kind, now, now, uuid4().hex, battery))


async def _only(store, kind: AlertType):
    [alert] = [a for a in await store.list(resident_id="r1") if a.type is kind]
    return alert


async def test_gateway_back_online_closes_device_offline_with_condition_cleared(db):
    runner, store, clock = await _world(db)
    await _send(runner, clock, GW, EventType.GATEWAY_OFFLINE)
    offline = await _only(store, AlertType.DEVICE_OFFLINE)
    assert offline.status is AlertStatus.OPEN
    clock.advance(timedelta(minutes=3))
    await _send(runner, clock, GW, EventType.GATEWAY_ONLINE)
    closed = await store.get(offline.id)
    assert (closed.status, closed.outcome, closed.resolved_by) == (
        AlertStatus.RESOLVED, Outcome.CONDITION_CLEARED, "system")
    last = (await store.history(offline.id))[-1]
    assert (last.kind, last.text) == (HistoryKind.CONDITION_CLEARED,
                                      "Closed automatically: Gateway r1-gw back online at 02:03")


async def test_battery_back_to_20_percent_closes_low_battery(db):
    runner, store, clock = await _world(db)
    await _send(runner, clock, PENDANT, EventType.HEARTBEAT, battery=12)
    low = await _only(store, AlertType.LOW_BATTERY)
    await _send(runner, clock, PENDANT, EventType.HEARTBEAT, battery=19)
    assert (await store.get(low.id)).status is AlertStatus.OPEN  # still below the threshold
    await _send(runner, clock, PENDANT, EventType.HEARTBEAT, battery=20)
    closed = await store.get(low.id)
    assert (closed.status, closed.outcome) == (AlertStatus.RESOLVED, Outcome.CONDITION_CLEARED)
    assert [e.kind for e in await store.history(low.id)] == [HistoryKind.RAISED, HistoryKind.CONDITION_CLEARED]


async def test_a_fall_never_closes_by_itself(db):
    runner, store, clock = await _world(db)
    await _send(runner, clock, FALL, EventType.FALL)
    fall = await _only(store, AlertType.FALL)
    for kind in (EventType.HEARTBEAT, EventType.GATEWAY_ONLINE):
        clock.advance(60)
        await _send(runner, clock, PENDANT if kind is EventType.HEARTBEAT else GW, kind, battery=90)
    # Even asked directly, the store refuses to close an alarm on its own.
    assert await store.clear(AlertClear("r1", AlertType.FALL, clock.now(), "sensor quiet"), clock.now()) is None
    assert (await store.get(fall.id)).status is AlertStatus.OPEN
    assert [e.kind for e in await store.history(fall.id)] == [HistoryKind.RAISED]
