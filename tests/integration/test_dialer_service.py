"""OutreachService wired as the composition root wires it: the scheduler dispatches, the simulator answers."""
from __future__ import annotations

from datetime import timedelta

from devices.registry import Registry
from outreach.call_log import CallFilter
from outreach.planning import PlannedCall
from outreach.service import OutreachService
from demo.simulated_telephony import SimulatedTelephony
from outreach.task_records import NewCampaign
from alerts.store import AlertStore
from telecare.alerts import AlertTrigger, AlertType, Severity
from telecare.bus import InProcessBus
from telecare.clock import SystemClock
from telecare.people import Resident
from telecare.settings import load_settings
from tests.conftest import eventually
from entrypoints.outreach_web import outreach_routers


async def test_service_dials_a_campaign_and_arms_escalation_end_to_end(db):
    clock = SystemClock()
    now = clock.now()
    bus = InProcessBus()
    registry = Registry(db)
    await registry.upsert_resident(Resident("r1", "Resident", phones=("+34600000001",)))
    alerts = AlertStore(db, bus)
    sim = SimulatedTelephony(clock, auto_answer_delay=0.0, tick_s=0.05)  # every phone answers and presses 1
    service = OutreachService(db, bus, alerts, registry, sim, clock,
                              load_settings(database_url=None, calls_per_second=5))
    await service.tasks.create_campaign(
        NewCampaign("information", "Info", "Informació del servei.", "test"),
        [PlannedCall("r1", "information", "automated", now.date(), now - timedelta(minutes=1),
                     now + timedelta(hours=1), 10, None, "svc:r1", "info")], now)
    await service.start()
    try:
        async def done():
            return await db.fetchval("SELECT status FROM call_tasks WHERE dedupe_key LIKE 'campaign:%%'") == "done"
        await eventually(done, timeout=20)
        [call] = await service.call_log.query(CallFilter(purpose="information"))
        assert (call.outcome, call.digits, call.caller) == ("fine", "1", "automated")

        change = await alerts.raise_or_attach(AlertTrigger("r1", AlertType.FALL, Severity.CRITICAL, now, "fall"), now)
        tiers = await eventually(lambda: service.escalator.tiers([change.alert.id]))
        assert tiers[0].tier == 1 and tiers[0].state == "armed"
        paths = {route.path for r in outreach_routers(service) for route in r.routes}
        assert {"/care/worklist", "/api/calls.csv", "/phones", "/api/escalations"} <= paths
    finally:
        await service.stop()
