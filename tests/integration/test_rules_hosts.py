"""The rule engine's behaviour, inputs to alerts, on both hosts: the in-process RulesRunner and the Kafka worker.

Same engine, same inputs, same alerts (real PostgreSQL, and a real Kafka broker for the Kafka host).
"""
from __future__ import annotations

import uuid
from datetime import datetime, timedelta, timezone

import pytest

from rules.catalog import SUPERVISION
from telecare.alerts import AlertStatus, AlertType
from telecare.clock import FakeClock
from telecare.events import DeviceType, Event, EventType
from telecare.fakes import InMemoryResidents
from telecare.people import Device, Resident
from tests.conftest import eventually
from tests.integration.rules_hosts import Host

T0 = datetime(2026, 11, 22, 1, 0, tzinfo=timezone.utc)  # 02:00 in Madrid: night
KAFKA_WAIT = 60


@pytest.fixture(params=["inprocess", "kafka"])
async def rules_host(request, db):
    """A factory of rules hosts of the parametrised kind; closes what it made."""
    made: list[Host] = []

    def make(lookup: InMemoryResidents, clock: FakeClock) -> Host:
        bootstrap = request.getfixturevalue("kafka_bootstrap") if request.param == "kafka" else None
        host = Host(request.param, db, lookup, clock, bootstrap)
        made.append(host)
        return host

    yield make
    for host in made:
        await host.close()


def home(rid: str, gateway: bool = False) -> tuple[Resident, list[Device]]:
    kinds = [DeviceType.PENDANT, DeviceType.FALL_SENSOR, DeviceType.BED_SENSOR] + ([DeviceType.GATEWAY] * gateway)
    devices = [Device(f"{rid}-{k.value}", k, f"{rid}-gateway", rid) for k in kinds]
    return Resident(rid, "Test Resident"), devices


def event(rid: str, kind: EventType, device: str, clock: FakeClock, battery: int | None = None) -> Event:
    now = clock.now()
    return Event(uuid.uuid4(), f"{rid}-gateway", f"{rid}-{device}", rid, kind, now, now, uuid.uuid4().hex, battery)


async def resident(db, gateway: bool = False) -> tuple[str, InMemoryResidents]:
    rid = f"h-{uuid.uuid4().hex[:8]}"  # unique: the Kafka topics are shared by the session's tests
    await db.execute("INSERT INTO residents (id, name) VALUES (%s, %s)", (rid, "Test Resident"))
    r, devices = home(rid, gateway)
    return rid, InMemoryResidents([r], devices)


async def alerts_of(db, rid: str, kind: AlertType) -> list[dict]:
    return await db.fetch("SELECT count, status, delayed FROM alerts WHERE resident_id = %s AND type = %s",
                          (rid, kind.value))


async def test_alarm_before_start_and_low_battery_raise_alerts(rules_host, db):
    rid, lookup = await resident(db)
    clock = FakeClock(T0)
    host = rules_host(lookup, clock)
    await host.send(event(rid, EventType.HELP_BUTTON, "pendant", clock))  # before the host runs: kept
    await host.start()
    for _ in range(3):  # one low-battery alert per episode, not one per heartbeat
        await host.send(event(rid, EventType.HEARTBEAT, "pendant", clock, battery=9))
    [help_alert] = await eventually(lambda: alerts_of(db, rid, AlertType.HELP_BUTTON), timeout=KAFKA_WAIT)
    [low] = await eventually(lambda: alerts_of(db, rid, AlertType.LOW_BATTERY), timeout=KAFKA_WAIT)
    await eventually(lambda: (s := host.state(rid)) is not None and s.last_seen, timeout=KAFKA_WAIT)
    assert (help_alert["count"], help_alert["status"]) == (1, AlertStatus.OPEN.value)
    assert low["count"] == 1


async def test_burst_of_identical_falls_gives_one_alert_counting_all(rules_host, db):
    rid, lookup = await resident(db)
    clock = FakeClock(T0)
    host = rules_host(lookup, clock)
    await host.start()
    for _ in range(50):
        await host.send(event(rid, EventType.FALL, "fall_sensor", clock))

    async def counted():
        rows = await alerts_of(db, rid, AlertType.FALL)
        return rows if rows and rows[0]["count"] == 50 else None

    [alert] = await eventually(counted, timeout=KAFKA_WAIT)
    assert alert["status"] == AlertStatus.OPEN.value
    assert len(await alerts_of(db, rid, AlertType.FALL)) == 1


async def test_bed_timer_fires_from_the_clock_once(rules_host, db):
    rid, lookup = await resident(db)
    clock = FakeClock(T0)
    host = rules_host(lookup, clock)
    await host.start()
    await host.send(event(rid, EventType.BED_EXIT, "bed_sensor", clock))
    await eventually(lambda: (s := host.state(rid)) is not None and "bed" in s.timers, timeout=KAFKA_WAIT)
    clock.advance(timedelta(minutes=29))
    await host.send(event(rid, EventType.HEARTBEAT, "pendant", clock))  # a step of the loop, no alert yet
    assert await alerts_of(db, rid, AlertType.BED_EXIT_NO_RETURN) == []
    clock.advance(timedelta(minutes=1))  # no event: the host's own ticker fires it
    [alert] = await eventually(lambda: alerts_of(db, rid, AlertType.BED_EXIT_NO_RETURN), timeout=KAFKA_WAIT)
    clock.advance(timedelta(minutes=5))
    await host.send(event(rid, EventType.HEARTBEAT, "pendant", clock))
    await eventually(lambda: (s := host.state(rid)) is not None and s.timers["bed"].fired, timeout=KAFKA_WAIT)
    [alert] = await alerts_of(db, rid, AlertType.BED_EXIT_NO_RETURN)
    assert alert["count"] == 1 and alert["delayed"] is False


async def test_restart_fires_a_missed_bed_timer_exactly_once(rules_host, db):
    rid, lookup = await resident(db)
    clock = FakeClock(T0)
    host = rules_host(lookup, clock)
    await host.start()
    await host.send(event(rid, EventType.BED_EXIT, "bed_sensor", clock))

    async def bed_timer_saved(fired: bool = False):
        state = await host.saved_state(rid)
        return state is not None and "bed" in state.timers and state.timers["bed"].fired is fired

    await eventually(bed_timer_saved, timeout=KAFKA_WAIT)
    await host.stop()
    assert await alerts_of(db, rid, AlertType.BED_EXIT_NO_RETURN) == []
    clock.advance(timedelta(minutes=45))  # the deadline passes while no host is up
    for _ in range(2):  # a second restart must not fire it again
        await host.restart()
        await eventually(lambda: alerts_of(db, rid, AlertType.BED_EXIT_NO_RETURN), timeout=KAFKA_WAIT)
        await eventually(lambda: (s := host.state(rid)) is not None and s.timers["bed"].fired, timeout=KAFKA_WAIT)
        await eventually(lambda: bed_timer_saved(fired=True), timeout=KAFKA_WAIT)
        [alert] = await alerts_of(db, rid, AlertType.BED_EXIT_NO_RETURN)
        assert alert["count"] == 1 and alert["delayed"] is True
        if host.applier is not None:  # fired once before any dedupe: the fired state was restored
            assert [n for k, n in host.applier.raw.items() if "bed_exit" in k] == [1]


async def test_silent_gateway_alerts_once_and_closes_when_it_speaks(rules_host, db):
    rid, lookup = await resident(db, gateway=True)
    clock = FakeClock(T0)
    host = rules_host(lookup, clock)
    await host.start()
    await host.send(event(rid, EventType.HEARTBEAT, "gateway", clock))
    await eventually(lambda: (s := host.state(rid)) is not None and f"sup:{rid}-gateway" in s.timers,
                     timeout=KAFKA_WAIT)
    clock.advance(SUPERVISION[DeviceType.GATEWAY] + timedelta(seconds=1))
    [alert] = await eventually(lambda: alerts_of(db, rid, AlertType.DEVICE_OFFLINE), timeout=KAFKA_WAIT)
    assert alert["status"] == AlertStatus.OPEN.value
    await host.send(event(rid, EventType.HEARTBEAT, "gateway", clock))  # back: the technical alert closes

    async def closed():
        rows = await alerts_of(db, rid, AlertType.DEVICE_OFFLINE)
        return rows if rows and rows[0]["status"] == AlertStatus.RESOLVED.value else None

    [alert] = await eventually(closed, timeout=KAFKA_WAIT)
    assert alert["count"] == 1


async def test_unknown_resident_is_ignored_until_registered(rules_host, db):
    rid, lookup = await resident(db)
    other, other_lookup = await resident(db)
    clock = FakeClock(T0)
    host = rules_host(InMemoryResidents(list(lookup.residents), list(lookup.devices)), clock)
    await host.start()
    await host.send(event(other, EventType.HELP_BUTTON, "pendant", clock))  # not registered: ignored
    await host.send(event(rid, EventType.HELP_BUTTON, "pendant", clock))
    await eventually(lambda: alerts_of(db, rid, AlertType.HELP_BUTTON), timeout=KAFKA_WAIT)
    assert await alerts_of(db, other, AlertType.HELP_BUTTON) == []
    host.lookup.residents.extend(other_lookup.residents)
    host.lookup.devices.extend(other_lookup.devices)
    await host.send(event(other, EventType.HELP_BUTTON, "pendant", clock))
    [alert] = await eventually(lambda: alerts_of(db, other, AlertType.HELP_BUTTON), timeout=KAFKA_WAIT)
    assert alert["count"] == 1
