"""When rule state is saved: at once after a timer fires, otherwise every few seconds (replay covers the gap)."""
from __future__ import annotations

from datetime import timedelta

from rules.saver import SAVE_SECONDS
from rules.state import PgRuleStateStore
from telecare.alerts import AlertType
from telecare.clock import FakeClock
from telecare.events import EventType
from tests.integration.test_rules_replay import _runner
from tests.integration.test_rules_runner import T0, ListLookup, add_residents, alerts_of, event, home


async def _stored(db, rid):
    return await PgRuleStateStore(db).load(rid)


async def test_changes_saved_on_the_interval_and_a_firing_at_once(db):
    await add_residents(db, "r1")
    resident, devices = home("r1")
    clock = FakeClock(T0)
    runner = _runner(db, ListLookup([resident], devices), clock)
    await runner.start()
    await runner.process(event("r1", EventType.BED_EXIT, "bed_sensor", clock))  # night: arms a bed-exit timer
    clock.advance(1)
    await runner.tick()
    clock.advance(SAVE_SECONDS)
    await runner.tick()
    armed = (await _stored(db, "r1")).timers
    bed = [t for t in armed.values() if t.rule is AlertType.BED_EXIT_NO_RETURN]
    assert bed and not bed[0].fired, "the armed timer is saved within the save interval"

    clock.advance(timedelta(minutes=30))  # the deadline passes: the timer fires
    fired = await runner.tick()
    assert [t.type for t in fired] == [AlertType.BED_EXIT_NO_RETURN]
    clock.advance(0.5)
    await runner.tick()  # the next tick saves the firing, even inside the interval
    bed = [t for t in (await _stored(db, "r1")).timers.values() if t.rule is AlertType.BED_EXIT_NO_RETURN]
    assert bed[0].fired

    again = _runner(db, ListLookup([resident], devices), clock)  # a restart right after does not fire it again
    await again.start()
    await again.tick()
    [alert] = await alerts_of(db, "r1", AlertType.BED_EXIT_NO_RETURN)
    assert alert["count"] == 1


async def test_shutdown_saves_everything(db):
    await add_residents(db, "r2")
    resident, devices = home("r2")
    clock = FakeClock(T0)
    runner = _runner(db, ListLookup([resident], devices), clock)
    await runner.start()
    await runner.tick()
    clock.advance(timedelta(seconds=3))
    await runner.process(event("r2", EventType.HEARTBEAT, "pendant", clock))
    await runner.flush()
    assert max((await _stored(db, "r2")).last_seen.values()) == clock.now()
