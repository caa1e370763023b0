"""The alert outbox task: alarms go out while a slow state save runs, a save never gets ahead of the verdicts
of the events it covers, verdicts keep their order, and a dead outbox task fails the rules' health."""
from __future__ import annotations

import asyncio

from rules.outbox import AlertOutbox, OutboxStopped
from rules.runner import RulesRunner
from rules.state import InMemoryRuleStateStore
from rules.stores import InMemoryRuleStores, in_memory_rule_stores
from telecare.alerts import AlertType
from telecare.bus import EVENTS, InProcessBus
from telecare.clock import FakeClock
from telecare.events import EventType
from telecare.fakes import InMemoryAlertSink
from telecare.health import Health, PartState
from tests.conftest import eventually
from tests.unit.test_runner_orchestration import T0, event, lookup, of_type


class BlockedStates(InMemoryRuleStateStore):
    """A state store whose saves wait until the test opens the gate (a save stuck behind a slow WAL flush)."""

    def __init__(self) -> None:
        super().__init__()
        self.gate, self.saving = asyncio.Event(), asyncio.Event()

    async def save_many(self, states, now):
        self.saving.set()
        await self.gate.wait()
        return await super().save_many(states, now)


class SlowAlerts(InMemoryAlertSink):
    """An alert store whose commits wait until the test opens the gate; records the order of what it got."""

    def __init__(self) -> None:
        super().__init__()
        self.gate, self.order = asyncio.Event(), []

    async def raise_or_attach(self, trigger, now):
        await self.gate.wait()
        self.order.append((trigger.resident_id, trigger.type))
        return await super().raise_or_attach(trigger, now)


def running(stores: InMemoryRuleStores, sink: InMemoryAlertSink, bus: InProcessBus, **kw) -> RulesRunner:
    return RulesRunner(stores, bus, lookup(), sink, FakeClock(T0), tick_seconds=3600, **kw)


async def stop(task: asyncio.Task) -> None:
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)


async def test_an_alarm_is_raised_while_a_slow_state_save_is_in_progress():
    bus, sink, fresh, states = InProcessBus(), InMemoryAlertSink(), in_memory_rule_stores(), BlockedStates()
    stores = InMemoryRuleStores(states, fresh.progress, fresh.events)
    rules = running(stores, sink, bus, save_every=1)
    states.gate.set()
    await rules.start()  # the start-up save goes through
    states.gate.clear()
    states.saving.clear()
    saved_at_start = dict(states.states)
    task = asyncio.create_task(rules.run())
    try:
        await bus.publish(EVENTS, "r1", event(EventType.MOTION, "bed_sensor", T0))  # 1 dirty state: a save starts
        await asyncio.wait_for(states.saving.wait(), 5)
        await bus.publish(EVENTS, "r1", event(EventType.HELP_BUTTON, "pendant", T0))
        await eventually(lambda: of_type(sink, AlertType.HELP_BUTTON))
        assert not states.gate.is_set() and states.states == saved_at_start  # the save is still stuck
    finally:
        states.gate.set()
        await stop(task)
    assert stores.states.states["r1"] == rules.state("r1")


async def test_a_save_waits_until_the_verdicts_of_the_states_it_writes_are_sent():
    bus, sink, stores = InProcessBus(), SlowAlerts(), in_memory_rule_stores()
    rules = running(stores, sink, bus)
    await rules.start()
    saved_at_start = dict(stores.states.states)
    task = asyncio.create_task(rules.run())
    try:
        await bus.publish(EVENTS, "r1", event(EventType.FALL, "fall_sensor", T0))
        await eventually(lambda: rules.state("r1") is not None and stores.progress.saved is None)
        save = asyncio.create_task(rules.flush())
        for _ in range(50):  # give the save every chance to run ahead (it must not)
            await asyncio.sleep(0)
        assert not save.done() and stores.states.states == saved_at_start  # the fall's alert is not committed yet
        sink.gate.set()
        assert await asyncio.wait_for(save, 5) == 1
        assert of_type(sink, AlertType.FALL) and stores.progress.saved is not None
    finally:
        sink.gate.set()
        await stop(task)


async def test_verdicts_leave_in_the_order_they_were_handed_in():
    sink = SlowAlerts()
    outbox = AlertOutbox(sink, queue_size=2)
    outbox.start()
    kinds = [EventType.HELP_BUTTON, EventType.FALL, EventType.HELP_BUTTON]
    rules = RulesRunner(in_memory_rule_stores(), InProcessBus(), lookup(), InMemoryAlertSink(), FakeClock(T0))
    triggers = [await rules.process(event(kind, "pendant" if kind is EventType.HELP_BUTTON else "fall_sensor",
                                          T0)) for kind in kinds]
    senders = asyncio.gather(*(outbox.send(t, T0) for t in triggers))  # the third waits for room in the queue
    for _ in range(10):
        await asyncio.sleep(0)
    sink.gate.set()
    await asyncio.wait_for(senders, 5)
    await asyncio.wait_for(outbox.sent_through(outbox.mark()), 5)
    assert [kind for _, kind in sink.order] == [AlertType.HELP_BUTTON, AlertType.FALL, AlertType.HELP_BUTTON]
    await outbox.stop()


async def test_a_dead_outbox_task_fails_the_rules_health(monkeypatch):
    bus, sink, stores, health = InProcessBus(), InMemoryAlertSink(), in_memory_rule_stores(), Health()
    rules = running(stores, sink, bus, health=health)

    async def broken(self, verdicts, now, **_):
        raise RuntimeError("a bug in the sending loop")

    task = asyncio.create_task(rules.run())
    try:
        await eventually(lambda: health.parts())
        monkeypatch.setattr(AlertOutbox, "_deliver", broken)
        await bus.publish(EVENTS, "r1", event(EventType.HELP_BUTTON, "pendant", T0))
        [failed] = await eventually(lambda: health.failed())
        assert failed.state is PartState.FAILED and "rules-alert-outbox" in failed.detail
        await eventually(lambda: rules.state("r1") is not None)
        with_stopped_outbox = asyncio.create_task(rules.flush())
        try:
            await asyncio.wait_for(with_stopped_outbox, 5)
        except OutboxStopped:
            pass
        else:
            raise AssertionError("a save went ahead of verdicts that were never sent")
    finally:
        await stop(task)
