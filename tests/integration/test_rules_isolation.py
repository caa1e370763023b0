"""RulesRunner failure isolation against real PostgreSQL: a poison event or timer costs itself only; a dead loop
is reported FAILED."""
from __future__ import annotations

import asyncio
from datetime import timedelta

import pytest

from alerts.store import AlertStore
from rules.runner import RulesRunner
from rules.stores import pg_rule_stores
from telecare.alerts import AlertType
from telecare.bus import EVENTS, InProcessBus
from telecare.clock import FakeClock
from telecare.events import EventType
from telecare.health import Health, PartState
from telecare.metrics import REGISTRY
from tests.conftest import eventually
from tests.integration.test_rules_runner import T0, ListLookup, add_residents, alerts_of, event, home, running


class PoisonAlerts:
    """The alert store, except that raising an alert for one resident hits a bug."""

    def __init__(self, inner: AlertStore, poisoned: str) -> None:
        self.inner, self.poisoned = inner, poisoned

    async def raise_or_attach(self, trigger, now):
        if trigger.resident_id == self.poisoned:
            raise RuntimeError("bug")
        return await self.inner.raise_or_attach(trigger, now)


def internal_errors() -> float:
    return REGISTRY.get_sample_value("telecare_rules_errors_total", {"reason": "internal_error"}) or 0.0


async def two_homes(db):
    await add_residents(db, "r1", "r2")
    (a, da), (b, db_) = home("r1"), home("r2")
    return ListLookup([a, b], da + db_)


async def test_a_poison_event_is_skipped_and_the_next_ones_are_evaluated(db) -> None:
    lookup, bus, clock, health = await two_homes(db), InProcessBus(), FakeClock(T0), Health()
    runner = RulesRunner(pg_rule_stores(db), bus, lookup, PoisonAlerts(AlertStore(db, bus), "r1"), clock, tick_seconds=0.01,
                         health=health)
    before = internal_errors()
    async with running(runner) as task:
        await bus.publish(EVENTS, "r1", event("r1", EventType.HELP_BUTTON, "pendant", clock))  # poison
        await bus.publish(EVENTS, "r2", event("r2", EventType.HELP_BUTTON, "pendant", clock))
        await eventually(lambda: alerts_of(db, "r2", AlertType.HELP_BUTTON))
        assert internal_errors() - before == 1
        await bus.publish(EVENTS, "r2", event("r2", EventType.FALL, "fall_sensor", clock))
        await eventually(lambda: alerts_of(db, "r2", AlertType.FALL))
        assert not task.done() and [p.state for p in health.parts()] == [PartState.OK]
    assert health.parts() == []  # stopped on purpose: no longer reported


async def test_a_poison_timer_is_skipped_and_the_other_residents_timers_fire(db) -> None:
    lookup, bus, clock = await two_homes(db), InProcessBus(), FakeClock(T0)
    runner = RulesRunner(pg_rule_stores(db), bus, lookup, PoisonAlerts(AlertStore(db, bus), "r1"), clock, tick_seconds=3600)
    await runner.start()
    for rid in ("r1", "r2"):
        await runner.process(event(rid, EventType.BED_EXIT, "bed_sensor", clock))
    before = internal_errors()
    clock.advance(timedelta(minutes=45))
    fired = await runner.tick()
    assert [t.resident_id for t in fired] == ["r2"]
    assert internal_errors() - before == 1
    assert await alerts_of(db, "r2", AlertType.BED_EXIT_NO_RETURN)


class BrokenBus(InProcessBus):
    """A bus whose subscription fails after the first message (a bug in the consumer's edge)."""

    async def subscribe(self, topic, group, *, gaps=False):
        async for message in super().subscribe(topic, group, gaps=gaps):
            yield message
            raise RuntimeError("bus gone")


async def test_a_dead_event_loop_is_reported_failed(db) -> None:
    lookup, bus, clock, health = await two_homes(db), BrokenBus(), FakeClock(T0), Health()
    runner = RulesRunner(pg_rule_stores(db), bus, lookup, AlertStore(db, bus), clock, tick_seconds=0.01, health=health)
    task = asyncio.create_task(runner.run())
    await bus.publish(EVENTS, "r2", event("r2", EventType.HELP_BUTTON, "pendant", clock))
    with pytest.raises(RuntimeError):
        await asyncio.wait_for(task, 10)
    [part] = health.failed()
    assert part.part == "rules" and "RuntimeError" in part.detail and not health.ok
