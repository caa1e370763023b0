"""Events stored but never evaluated (a stop between ingest and rules) are replayed once at the next start."""
from __future__ import annotations

import asyncio
from datetime import timedelta
from uuid import uuid4

from alerts.store import AlertStore
from rules.runner import RulesRunner
from rules.stores import pg_rule_stores
from telecare.alerts import AlertType
from telecare.bus import EVENTS, InProcessBus
from telecare.clock import FakeClock
from telecare.events import Event, EventType
from tests.conftest import eventually
from tests.integration.test_rules_runner import T0, ListLookup, add_residents, alerts_of, event, home


async def _store_event(db, e: Event) -> None:
    """What ingest's sink does: the event is in the table, whether or not the rules heard of it."""
    await db.execute(
        "INSERT INTO events (id, ts, received_at, gateway_id, device_id, resident_id, type, msg_id, battery) "
        "VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s)",
        (e.id, e.ts, e.received_at, e.gateway_id, e.device_id, e.resident_id, e.type.value, e.msg_id, e.battery))


def _runner(db, lookup, clock, bus=None):
    bus = bus or InProcessBus()
    return RulesRunner(pg_rule_stores(db), bus, lookup, AlertStore(db, bus), clock)


async def _after_a_saved_heartbeat(db, rid: str) -> tuple[ListLookup, FakeClock]:
    """A resident whose runner evaluated and saved a heartbeat, then stopped."""
    await add_residents(db, rid)
    resident, devices = home(rid)
    lookup, clock = ListLookup([resident], devices), FakeClock(T0)
    first = _runner(db, lookup, clock)
    await first.start()
    beat = event(rid, EventType.HEARTBEAT, "pendant", clock)
    await _store_event(db, beat)
    await first.process(beat)
    await first.flush()  # progress saved through the heartbeat
    return lookup, clock


async def test_help_press_stored_but_not_evaluated_alerts_after_restart(db):
    lookup, clock = await _after_a_saved_heartbeat(db, "r1")  # then the process dies

    clock.advance(timedelta(seconds=30))
    press = event("r1", EventType.HELP_BUTTON, "pendant", clock)
    await _store_event(db, press)  # committed by ingest, never reached the rules

    second = _runner(db, lookup, clock)
    await second.start()
    [alert] = await alerts_of(db, "r1", AlertType.HELP_BUTTON)
    assert alert["count"] == 1
    await second.flush()

    third = _runner(db, lookup, clock)  # another restart: nothing is evaluated twice
    await third.start()
    [alert] = await alerts_of(db, "r1", AlertType.HELP_BUTTON)
    assert alert["count"] == 1


async def test_event_replayed_and_also_on_the_bus_is_evaluated_once(db):
    lookup, clock = await _after_a_saved_heartbeat(db, "r2")

    clock.advance(5)
    fall = event("r2", EventType.FALL, "fall_sensor", clock)
    await _store_event(db, fall)
    bus = InProcessBus()
    second = _runner(db, lookup, clock, bus)
    await bus.publish(EVENTS, "r2", fall)  # ingest published it while the runner was starting
    await second.start()
    assert await second.process(fall) == []
    [alert] = await alerts_of(db, "r2", AlertType.FALL)
    assert alert["count"] == 1


async def test_first_start_replays_nothing(db):
    await add_residents(db, "r3")
    resident, devices = home("r3")
    clock = FakeClock(T0)
    old = Event(uuid4(), "r3-gw", "r3-pendant", "r3", EventType.HELP_BUTTON, T0 - timedelta(days=3),
                T0 - timedelta(days=3), "old-1")
    await _store_event(db, old)
    runner = _runner(db, ListLookup([resident], devices), clock)
    await runner.start()
    assert await alerts_of(db, "r3", AlertType.HELP_BUTTON) == []


async def test_event_committed_before_the_postgres_bus_listens_is_caught_up_once(db):
    from telecare.pgbus import PostgresBus

    lookup, clock = await _after_a_saved_heartbeat(db, "r4")

    bus = PostgresBus(db)
    runner = RulesRunner(pg_rule_stores(db), bus, lookup, AlertStore(db, bus), clock, catch_up_after_s=0.3)
    await runner.start()  # replay done; the bus starts listening only when run() subscribes
    clock.advance(1)
    fall = event("r4", EventType.FALL, "fall_sensor", clock)
    await _store_event(db, fall)
    await bus.publish(EVENTS, "r4", fall)  # NOTIFY with nobody listening: lost
    task = asyncio.create_task(runner.run())
    try:
        await eventually(lambda: runner.caught_up, timeout=10)
        [alert] = await eventually(lambda: alerts_of(db, "r4", AlertType.FALL))  # sent by the outbox task
        assert alert["count"] == 1
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)


async def test_after_a_bus_gap_the_rules_catch_up_from_the_table_once(db):
    """The bus lost messages (a reconnect): what was stored meanwhile is evaluated once, bus copies included."""
    from telecare.bus import FeedGap, FeedState
    from telecare.metrics import REGISTRY

    def evaluated(kind: str) -> float:
        return REGISTRY.get_sample_value("telecare_rules_events_total", {"type": kind}) or 0.0

    lookup, clock = await _after_a_saved_heartbeat(db, "r5")
    bus = InProcessBus()
    runner = _runner(db, lookup, clock, bus)
    await runner.start()  # nothing to replay: the saved heartbeat was evaluated
    beats = evaluated("heartbeat")
    task = asyncio.create_task(runner.run())
    try:
        clock.advance(1)
        beat = event("r5", EventType.HEARTBEAT, "pendant", clock)
        await _store_event(db, beat)
        await bus.publish(EVENTS, "r5", beat)
        await eventually(lambda: evaluated("heartbeat") == beats + 1)

        lost_at = clock.now()
        await bus.publish(EVENTS, "", FeedGap(FeedState.LOST, lost_at))
        clock.advance(1)
        fall = event("r5", EventType.FALL, "fall_sensor", clock)
        await _store_event(db, fall)  # stored while the bus was deaf: no bus copy ever comes
        press = event("r5", EventType.HELP_BUTTON, "pendant", clock)
        await _store_event(db, press)  # stored just after the reconnect: its bus copy follows the gap marker
        await bus.publish(EVENTS, "", FeedGap(FeedState.RESUMED, lost_at))
        await bus.publish(EVENTS, "r5", press)

        await eventually(lambda: alerts_of(db, "r5", AlertType.FALL))
        await eventually(lambda: alerts_of(db, "r5", AlertType.HELP_BUTTON))
        await eventually(lambda: bus.pending(EVENTS) == 0)
        [fall_alert] = await alerts_of(db, "r5", AlertType.FALL)
        [help_alert] = await alerts_of(db, "r5", AlertType.HELP_BUTTON)
        assert (fall_alert["count"], help_alert["count"]) == (1, 1)
        assert evaluated("heartbeat") == beats + 1  # what was evaluated before the gap is not evaluated again
        assert not task.done()
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
