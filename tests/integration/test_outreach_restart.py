"""A restart of outreach with the phone simulator: new call ids never collide, calls left ringing are closed."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone

from alerts.store import AlertStore
from demo.simulated_telephony import SimulatedTelephony
from devices.registry import Registry
from outreach.call_log import LEFT_OPEN_NOTE, CallFilter, CallLog
from outreach.escalation import Escalator
from outreach.service import OutreachService
from outreach.telephony import CallRequest
from telecare.alerts import AlertTrigger, AlertType, Severity
from telecare.bus import InProcessBus
from telecare.clock import FakeClock
from telecare.people import Contact, Resident
from telecare.settings import load_settings
from tests.conftest import eventually

T0 = datetime(2026, 11, 22, 9, 0, tzinfo=timezone.utc)
HOLDER_A, HOLDER_B = "+34611000001", "+34611000002"


async def test_a_new_simulator_never_reuses_call_ids():
    clock = FakeClock(T0)
    first, second = SimulatedTelephony(clock), SimulatedTelephony(clock)
    ids = [(await sim.place_call(CallRequest(str(n), "+34600000001", "ca"))).provider_call_id
           for n, sim in enumerate((first, second, first, second))]
    assert len(set(ids)) == 4, ids
    assert all(i.startswith("SIM") for i in ids)


async def test_close_left_open_ends_provider_calls_and_leaves_a_persons_own_dialling_alone(db):
    await Registry(db).upsert_resident(Resident("r1", "Maria", phones=("+34600000001",)))
    log = CallLog(db)
    common = dict(resident_id="r1", phone="+34600000001", started_at=T0)
    automated = await log.start_attempt(purpose="welfare", caller="automated", mode="automated", **common)
    bridged = await log.start_attempt(purpose="follow_up", caller="Anna", mode="human", **common)
    await log.set_provider_id(bridged, "SIMOLD-000002")
    own_phone = await log.start_attempt(purpose="follow_up", caller="Pere", mode="human", **common)
    done = await log.start_attempt(purpose="welfare", caller="automated", mode="automated", **common)
    await log.finish(done, "fine", T0 + timedelta(seconds=20))
    later = await log.start_attempt(purpose="welfare", caller="automated", mode="automated",
                                    **{**common, "started_at": T0 + timedelta(minutes=10)})

    closed = await log.close_left_open(T0 + timedelta(minutes=5), T0 + timedelta(minutes=5))

    assert {r.id for r in closed} == {automated, bridged}
    auto = await log.get(automated)
    assert (auto.outcome, auto.not_done_reason, auto.note) == ("failed", "system-error", LEFT_OPEN_NOTE)
    assert auto.ended_at == T0 + timedelta(minutes=5)
    person = await log.get(bridged)
    assert person.ended_at is not None and person.outcome is None  # the caller still records what was said
    assert (await log.get(own_phone)).ended_at is None
    assert (await log.get(done)).outcome == "fine"
    assert (await log.get(later)).ended_at is None  # started after the cut-off: not the previous run's


async def test_restart_closes_the_ringing_key_holder_call_and_calls_the_next_one(db):
    clock = FakeClock(T0)
    bus = InProcessBus()
    registry = Registry(db)
    await registry.upsert_resident(Resident("r1", "Maria", phones=("+34600000001",), contacts=(
        Contact("Daughter", HOLDER_A, priority=1, key_holder=True),
        Contact("Neighbour", HOLDER_B, priority=2, key_holder=True))))
    alerts = AlertStore(db, bus)
    log = CallLog(db)

    # First run: the alert escalates to key-holder A, whose phone is ringing when the process stops.
    first_sim = SimulatedTelephony(clock)
    esc = Escalator(db, bus, alerts, first_sim, registry, clock, second_tier_after_s=60, keyholders_after_s=180,
                    call_log=log)
    change = await alerts.raise_or_attach(
        AlertTrigger("r1", AlertType.HELP_BUTTON, Severity.CRITICAL, T0, "help pressed"), T0)
    await esc.handle(change)
    for seconds in (61, 181):
        clock.set(T0 + timedelta(seconds=seconds))
        await esc.tick()
    [ringing] = await log.query(CallFilter(purpose="escalation"))
    assert ringing.phone == HOLDER_A and ringing.ended_at is None and ringing.provider_call_id
    await first_sim.close()  # the stop: the in-memory phone network and its ringing call are gone

    # Second run, a little later, with a fresh simulator.
    clock.advance(5)
    second_sim = SimulatedTelephony(clock)
    service = OutreachService(db, bus, alerts, registry, second_sim, clock,
                              load_settings(database_url=None, escalation_keyholders_s=180))
    await service.start()
    try:
        stale = await log.get(ringing.id)
        assert stale.outcome == "failed" and stale.ended_at == clock.now() and stale.note == LEFT_OPEN_NOTE
        calls = await eventually(lambda: _escalation_calls(log, 2))
        nxt = next(c for c in calls if c.id != ringing.id)
        assert nxt.phone == HOLDER_B and nxt.ended_at is None  # moved on at once, no wait for the call timeout
        assert nxt.provider_call_id and nxt.provider_call_id != ringing.provider_call_id  # no unique-key clash
        [state] = await service.escalator.tiers([change.alert.id])
        assert (state.state, state.contact_index) == ("calling", 1)
    finally:
        await service.stop()


async def _escalation_calls(log: CallLog, n: int):
    calls = await log.query(CallFilter(purpose="escalation"))
    return calls if len(calls) == n and all(c.provider_call_id for c in calls) else None
