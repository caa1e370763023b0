"""Which rule-state changes are saved at once (timers armed or fired) and which lazily (sliding times)."""
from __future__ import annotations

from datetime import timedelta

from rules.alert_store import AlertStore
from rules.runner import RulesRunner
from rules.saver import SOFT_SAVE_SECONDS
from rules.state import RuleStateStore
from telecare.bus import InProcessBus
from telecare.clock import FakeClock
from telecare.events import EventType
from tests.integration.test_rules_runner import T0, ListLookup, add_residents, event, home


async def _stored(db, rid):
    return await RuleStateStore(db).load(rid)


async def test_armed_timer_saved_next_tick_heartbeat_saved_lazily(db):
    await add_residents(db, "r1")
    resident, devices = home("r1")
    bus, clock = InProcessBus(), FakeClock(T0)
    runner = RulesRunner(db, bus, ListLookup([resident], devices), AlertStore(db, bus), clock)
    await runner.start()
    await runner.process(event("r1", EventType.HEARTBEAT, "pendant", clock))
    await runner.tick()  # first tick also saves sliding changes
    baseline = await _stored(db, "r1")

    clock.advance(5)
    await runner.process(event("r1", EventType.HEARTBEAT, "pendant", clock))
    await runner.tick()
    assert (await _stored(db, "r1")).last_seen == baseline.last_seen  # a heartbeat alone waits

    clock.advance(1)
    await runner.process(event("r1", EventType.BED_EXIT, "bed_sensor", clock))  # night: arms a bed-exit timer
    await runner.tick()
    saved = await _stored(db, "r1")
    assert set(saved.timers) - set(baseline.timers), "the armed bed-exit timer must be saved at the next tick"

    clock.advance(SOFT_SAVE_SECONDS + 1)
    await runner.process(event("r1", EventType.HEARTBEAT, "pendant", clock))
    await runner.tick()
    latest = (await _stored(db, "r1")).last_seen
    assert max(latest.values()) == clock.now()


async def test_shutdown_saves_sliding_changes(db):
    await add_residents(db, "r2")
    resident, devices = home("r2")
    bus, clock = InProcessBus(), FakeClock(T0)
    runner = RulesRunner(db, bus, ListLookup([resident], devices), AlertStore(db, bus), clock)
    await runner.start()
    await runner.tick()
    clock.advance(timedelta(seconds=3))
    await runner.process(event("r2", EventType.HEARTBEAT, "pendant", clock))
    await runner.flush()
    assert max((await _stored(db, "r2")).last_seen.values()) == clock.now()
