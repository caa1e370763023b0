"""The escalator's loops: an alert raised while the alerts feed was down is armed after the feed resumes, and a
loop that dies says so in the Health registry instead of leaving alarms unescalated in silence."""
from __future__ import annotations

from datetime import datetime, timezone

from alerts.store import AlertStore
from demo.simulated_telephony import SimulatedTelephony
from devices.registry import Registry
from outreach.call_log import CallLog
from outreach.escalation import Escalator
from telecare.alerts import AlertTrigger, AlertType, Severity
from telecare.bus import ALERTS, FeedGap, FeedState, InProcessBus
from telecare.clock import FakeClock
from telecare.health import Health, PartState
from telecare.people import Resident
from tests.conftest import eventually

T0 = datetime(2026, 11, 22, 9, 0, tzinfo=timezone.utc)


class SilentBus(InProcessBus):
    """Alert changes of the store go nowhere (as while a LISTEN connection is down); tests feed the escalator."""

    async def publish(self, topic, key, value):
        if not isinstance(value, FeedGap):
            return
        await super().publish(topic, key, value)


async def test_an_alert_raised_during_a_feed_gap_is_armed_when_the_feed_resumes(db) -> None:
    clock, bus, health = FakeClock(T0), SilentBus(), Health()
    registry = Registry(db)
    await registry.upsert_resident(Resident("r1", "Maria", phones=("+34600000001",)))
    alerts = AlertStore(db, bus)
    sim = SimulatedTelephony(clock)
    esc = Escalator(db, bus, alerts, sim, registry, clock, call_log=CallLog(db), tick_s=0.05, health=health)
    await esc.start()
    try:
        assert health.parts()[0].state == PartState.OK
        change = await alerts.raise_or_attach(
            AlertTrigger("r1", AlertType.HELP_BUTTON, Severity.CRITICAL, T0, "help pressed"), T0)
        assert await esc.tiers([change.alert.id]) == []  # its change never reached the escalator
        await bus.publish(ALERTS, "", FeedGap(FeedState.RESUMED, T0, "listener reconnected"))
        states = await eventually(lambda: esc.tiers([change.alert.id]))
        assert [s.state for s in states] == ["armed"]
    finally:
        await esc.stop()
        await sim.close()
    assert health.parts() == []  # stopped on purpose: no longer reported


async def _failed_detail(db, bus: InProcessBus) -> str:
    """Start an escalator on `bus`, wait until its health says FAILED, return the detail."""
    clock, health = FakeClock(T0), Health()
    sim = SimulatedTelephony(clock)
    esc = Escalator(db, bus, AlertStore(db, bus), sim, Registry(db), clock, call_log=CallLog(db), health=health)
    await esc.start()
    try:
        await eventually(lambda: health.failed())
        [part] = health.failed()
        assert part.part == "escalation" and not health.ok
        return part.detail
    finally:
        await esc.stop()
        await sim.close()


async def test_a_dead_escalation_loop_is_reported_failed(db) -> None:
    class BrokenBus(InProcessBus):
        async def subscribe(self, topic, group, *, gaps=False):
            raise RuntimeError("bus gone")
            yield  # pragma: no cover - makes this an async generator

    assert "RuntimeError" in await _failed_detail(db, BrokenBus())


async def test_an_alerts_subscription_that_simply_ends_is_reported_failed_too(db) -> None:
    class EndingBus(InProcessBus):
        async def subscribe(self, topic, group, *, gaps=False):
            return
            yield  # pragma: no cover - makes this an async generator

    assert "escalation-consume died: ended" in await _failed_detail(db, EndingBus())
