"""A Kafka rules worker restarting after an outage reads the backlog before it fires supervision timers: the
gateways' heartbeats that arrived meanwhile keep them online (no offline storm). The same restart with timers
fired by the wall clock alone raises one offline alarm per home: the test can tell the difference."""
from __future__ import annotations

import asyncio
import uuid
from datetime import datetime, timedelta, timezone

import pytest

import rules.kafka_host as kafka_host
from rules import catch_up
from rules.engine import new_state, tick
from rules.directory import Directory
from rules.kafka_host import KafkaRulesHost
from rules.model import state_to_json
from telecare.alerts import AlertTrigger, AlertType
from telecare.bus import ALERT_TRIGGERS, EVENTS
from telecare.clock import SystemClock
from telecare.events import DeviceType, Event, EventType
from telecare.fakes import InMemoryResidents
from telecare.kafkabus import RULES_STATE, KafkaBus
from telecare.people import Device, Resident
from tests.conftest import eventually

HOMES, BEATS = 30, 20  # heartbeats per gateway over the outage, one every 30 s


def fleet(tag: str) -> InMemoryResidents:
    rids = [f"cu-{tag}-{i}" for i in range(HOMES)]
    return InMemoryResidents([Resident(r, "Catch-up Resident") for r in rids],
                             [Device(f"{r}-gw", DeviceType.GATEWAY, f"{r}-gw", r) for r in rids]
                             + [Device(f"{r}-pd", DeviceType.PENDANT, f"{r}-gw", r) for r in rids])


async def restart_after_outage(bootstrap: str, monkeypatch, *, wall_clock_only: bool) -> int:
    """Offline triggers raised for this fleet by a worker restarted over a 10-minute backlog of heartbeats."""
    monkeypatch.setattr(catch_up, "CAUGHT_UP_RECORDS", 5)  # the backlog below is "behind" on every partition
    if wall_clock_only:
        monkeypatch.setattr(kafka_host, "timer_clock", lambda now, backlog, arrived: now)
    tag, now = uuid.uuid4().hex[:6], datetime.now(timezone.utc)
    lookup, bus = fleet(tag), KafkaBus(bootstrap, register_skew_ms=0)
    directory = Directory(lookup)
    await directory.refresh_all()
    group, watch = f"rules-cu-{tag}", f"watch-cu-{tag}"
    bus.register(EVENTS, group)
    bus.register(ALERT_TRIGGERS, watch)
    await bus.anchor(EVENTS, group)
    await bus.anchor(ALERT_TRIGGERS, watch)
    armed_at = now - timedelta(minutes=10)  # the last save before the worker died
    await bus.publish_many(RULES_STATE, [
        (r.id, state_to_json(tick(r, directory.devices(r.id), new_state(r.id), armed_at)[0]).encode())
        for r in directory.residents.values()])
    backlog = []
    for k in range(BEATS):
        at = armed_at + timedelta(seconds=30 * (k + 1))
        backlog += [(r.id, Event(uuid.uuid4(), f"{r.id}-gw", f"{r.id}-gw", r.id, EventType.HEARTBEAT, at, at,
                                 f"hb-{tag}-{k}", None)) for r in directory.residents.values()]
    await bus.publish_many(EVENTS, backlog)
    offline: list[AlertTrigger] = []

    async def watch_triggers() -> None:
        async for message in bus.subscribe(ALERT_TRIGGERS, watch):
            v = message.value
            if isinstance(v, AlertTrigger) and v.resident_id.startswith(f"cu-{tag}") \
                    and v.type is AlertType.DEVICE_OFFLINE:
                offline.append(v)

    # Small fetches: the backlog takes many batches, and timers are ticked after each one.
    host = KafkaRulesHost(bus, lookup, SystemClock(), tick_seconds=0.1, group=group, max_records=50)
    tasks = [asyncio.create_task(host.run()), asyncio.create_task(watch_triggers())]
    try:
        await eventually(lambda: host.evaluated >= HOMES * BEATS, timeout=60)
        # Caught up: every resident's due timers are behind it (the wall clock may fire what is really due).
        await eventually(lambda: (d := host.next_due_at()) is None or d > datetime.now(timezone.utc), timeout=30)
        await host.settled()  # the step that ticked last has published its verdicts
        await eventually(lambda: _lag(bus.group_id(ALERT_TRIGGERS, watch)) == 0, timeout=30)  # and we read them
        await eventually(lambda: not wall_clock_only or len(offline) >= HOMES // 2, timeout=30)
    finally:
        for t in tasks:
            t.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        await bus.close()
    return len(offline)


def _lag(gid: str) -> float | None:
    from telecare import metrics

    return metrics.REGISTRY.get_sample_value("telecare_bus_consumer_lag", {"topic": ALERT_TRIGGERS, "group": gid})


async def test_heartbeats_in_the_backlog_keep_every_gateway_online_after_a_restart(kafka_bootstrap, monkeypatch):
    assert await restart_after_outage(kafka_bootstrap, monkeypatch, wall_clock_only=False) == 0


async def test_without_the_catch_up_clock_the_same_restart_raises_an_offline_storm(kafka_bootstrap, monkeypatch):
    # Every home whose latest heartbeats were not read yet when the first batch's timers were ticked.
    assert await restart_after_outage(kafka_bootstrap, monkeypatch, wall_clock_only=True) >= HOMES // 2


@pytest.mark.parametrize("backlog, arrived, expected", [
    ({0: 0, 1: 3}, {}, "now"),  # caught up everywhere: the wall clock
    ({0: 5000, 1: 0}, {0: "t1"}, "t1"),  # one partition behind: its last arrival
    ({0: 5000, 1: 9000}, {0: "t2", 1: "t1"}, "t1"),  # the slowest partition decides
    ({0: 5000}, {}, None),  # behind with nothing read yet: hold the timers
    ({0: None}, {}, "now"),  # end not known yet (no fetch yet): not counted as behind
])
def test_timer_clock(backlog, arrived, expected):
    now = datetime(2026, 12, 1, 9, tzinfo=timezone.utc)
    times = {"t1": now - timedelta(minutes=7), "t2": now - timedelta(minutes=3), "now": now}
    got = catch_up.timer_clock(now, backlog, {p: times[v] for p, v in arrived.items()})
    assert got == (times[expected] if expected else None)
