"""A pendant pressed (or a fall sensor tripped) while its home is being commissioned is the installer's test:
the alert store raises an installation test (technical, never escalated), not an alarm; after the session
ends the same press is an alarm again. Real PostgreSQL, the real rules runner and alert store."""
from __future__ import annotations

from datetime import timedelta

from devices.commissioning import Commissioning
from telecare.alerts import AlertStatus, AlertType, Severity
from telecare.events import EventType
from tests.integration.test_condition_cleared import FALL, GW, PENDANT, _send, _world


async def _register_devices(db) -> None:
    for d in (GW, PENDANT, FALL):
        await db.execute("INSERT INTO devices (id, type, gateway_id, resident_id) VALUES (%s, %s, %s, %s)",
                         (d.id, d.type.value, d.gateway_id, d.resident_id))


async def test_an_alarm_during_commissioning_is_an_installation_test_and_an_alarm_after_it(db):
    runner, store, clock = await _world(db)
    await _register_devices(db)
    commissioning = Commissioning(db, store)
    session, _ = await commissioning.start(GW.id, "installer", clock.now())

    await _send(runner, clock, PENDANT, EventType.HELP_BUTTON)
    await _send(runner, clock, FALL, EventType.FALL)
    active = await store.list(resident_id="r1")
    assert {(a.type, a.severity) for a in active} == {(AlertType.INSTALLATION_TEST, Severity.TECHNICAL)}
    [test] = active
    assert test.count == 2 and test.reason.startswith("Commissioning test: ")

    await commissioning.finish(session, "installer", clock.now())
    clock.advance(timedelta(minutes=5))
    await _send(runner, clock, PENDANT, EventType.HELP_BUTTON)
    alarms = [a for a in await store.list(resident_id="r1") if a.type is AlertType.HELP_BUTTON]
    assert [(a.severity, a.status) for a in alarms] == [(Severity.CRITICAL, AlertStatus.OPEN)]
