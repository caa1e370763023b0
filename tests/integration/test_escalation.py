"""Escalation on a real PostgreSQL and the phone simulator, driven by a FakeClock: tiers, key-holders, re-arm."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from devices.registry import Registry
from outreach.call_log import CallFilter, CallLog
from outreach.dialer import Dialer
from outreach.escalation import (EscalationPolicy, EscalationState, Escalator, after_call, arm,
                                 next_escalation_step, rearm)
from demo.simulated_telephony import SimulatedTelephony, answer_and_press, no_answer
from alerts.store import AlertStore
from telecare.alerts import AlertStatus, AlertTrigger, AlertType, Severity
from telecare.bus import InProcessBus
from telecare.clock import FakeClock
from telecare.people import Contact, Resident
from tests.conftest import eventually

T0 = datetime(2026, 11, 22, 9, 0, tzinfo=timezone.utc)
HOLDER_A, HOLDER_B = "+34611000001", "+34611000002"


@pytest.fixture
async def world(db):
    clock = FakeClock(T0)
    bus = InProcessBus()
    registry = Registry(db)
    await registry.upsert_resident(Resident("r1", "Maria", phones=("+34600000001",), contacts=(
        Contact("Neighbour", HOLDER_B, priority=2, key_holder=True),
        Contact("Daughter", HOLDER_A, priority=1, key_holder=True),
        Contact("Friend", "+34699999999", priority=0, key_holder=False))))
    await registry.upsert_resident(Resident("r2", "Joan", phones=("+34600000002",)))  # no key-holders
    alerts = AlertStore(db, bus)
    sim = SimulatedTelephony(clock)
    log = CallLog(db)
    dialer = Dialer(None, log, sim, alerts, registry, clock)
    esc = Escalator(db, bus, alerts, sim, registry, clock, second_tier_after_s=60, keyholders_after_s=180,
                    call_log=log)
    dialer.on_escalation_result(esc.on_call_result)
    sim.set_update_handler(dialer.on_update)
    yield {"clock": clock, "bus": bus, "alerts": alerts, "sim": sim, "esc": esc, "log": log, "db": db}
    await sim.close()


async def _raise(w, rid="r1"):
    change = await w["alerts"].raise_or_attach(
        AlertTrigger(rid, AlertType.HELP_BUTTON, Severity.CRITICAL, w["clock"].now(), "help pressed"), w["clock"].now())
    await w["esc"].handle(change)
    return change.alert


async def _state(w, alert_id) -> EscalationState:
    return (await w["esc"].tiers([alert_id]))[0]


async def _at(w, seconds):
    w["clock"].set(T0 + timedelta(seconds=seconds))
    await w["esc"].tick()
    await w["sim"].tick()


async def test_second_tier_then_key_holders_in_priority_order_until_one_accepts(world):
    w = world
    w["sim"].script(HOLDER_A, no_answer())
    w["sim"].script(HOLDER_B, answer_and_press("1"))
    alert = await _raise(w)
    await _at(w, 59)
    assert (await _state(w, alert.id)).tier == 1
    await _at(w, 61)
    assert ((s := await _state(w, alert.id)).tier, s.state) == (2, "armed")
    await _at(w, 181)  # key-holders: the daughter (priority 1) rings first
    assert ((s := await _state(w, alert.id)).tier, s.state, s.contact_index) == (3, "calling", 0)
    assert [c.number for c in w["sim"].ringing()] == [HOLDER_A]
    await _at(w, 181 + 31)  # she does not answer: the neighbour is called and presses 1
    await w["sim"].tick()
    state = await eventually(lambda: _accepted(w, alert.id))
    assert state.contact_index == 1
    calls = await w["log"].query(CallFilter(purpose="escalation"))
    assert sorted((c.phone, c.outcome, c.not_done_reason) for c in calls) == [
        (HOLDER_A, "no_answer", "recipient-unavailable"), (HOLDER_B, "accepted", None)]
    assert all(c.alert_id == alert.id for c in calls)
    # Escalation never touches the alert itself: it is still open for the operators.
    assert (await w["alerts"].get(alert.id)).status == AlertStatus.OPEN
    await _at(w, 1000)
    assert len(await w["log"].query(CallFilter(purpose="escalation"))) == 2  # accepted: nobody else is called


async def _accepted(w, alert_id):
    state = await _state(w, alert_id)
    return state if state.state == "accepted" else None


async def test_acknowledging_stops_it_and_it_never_unacknowledges(world):
    w = world
    alert = await _raise(w)
    await _at(w, 61)
    change = await w["alerts"].acknowledge(alert.id, "op1", w["clock"].now())
    await w["esc"].handle(change)
    assert (await _state(w, alert.id)).state == "stopped"
    await _at(w, 500)
    assert w["sim"].calls() == []
    current = await w["alerts"].get(alert.id)
    assert (current.status, current.acknowledged_by) == (AlertStatus.ACKNOWLEDGED, "op1")


async def test_no_key_holders_exhausts_and_a_new_event_rearms(world):
    w = world
    alert = await _raise(w, "r2")
    await _at(w, 181)
    assert ((s := await _state(w, alert.id)).state, s.tier) == ("exhausted", 3)
    await _at(w, 300)
    await _raise(w, "r2")  # the same alert gets a new event (UPDATED): the round is repeated at once
    # Nobody to call, so the new round is exhausted at once too, and waits for the next repeat.
    assert ((s := await _state(w, alert.id)).state, s.tier, s.round, s.next_at) == (
        "exhausted", 3, 2, T0 + timedelta(seconds=900))


async def test_restart_resumes_persisted_state_and_arms_alerts_raised_while_down(world):
    w = world
    alert = await _raise(w)
    await _at(w, 61)
    # An alert raised while no escalator ran (no handle() call):
    missed = (await w["alerts"].raise_or_attach(AlertTrigger(
        "r2", AlertType.FALL, Severity.CRITICAL, w["clock"].now(), "fall"), w["clock"].now())).alert
    fresh = Escalator(w["db"], InProcessBus(), w["alerts"], w["sim"], Registry(w["db"]), w["clock"],
                      call_log=CallLog(w["db"]))
    assert await fresh.resume() == 1
    w["clock"].set(T0 + timedelta(seconds=181))
    await fresh.tick()
    assert (await _state(w, alert.id)).state == "calling"  # resumed from tier 2, not restarted
    assert (await _state(w, missed.id)).tier == 2  # timed from its raise, not from the restart


async def test_technical_alerts_never_escalate(world):
    w = world
    change = await w["alerts"].raise_or_attach(
        AlertTrigger("r1", AlertType.LOW_BATTERY, Severity.TECHNICAL, T0, "battery 10%"), T0)
    await w["esc"].handle(change)
    await _at(w, 1000)
    assert await w["esc"].tiers([change.alert.id]) == [] and w["sim"].calls() == []


async def test_bus_consumer_arms_raised_alerts(world):
    w = world
    await w["esc"].start()
    try:
        change = await w["alerts"].raise_or_attach(
            AlertTrigger("r1", AlertType.FALL, Severity.CRITICAL, T0, "fall"), T0)
        await eventually(lambda: w["esc"].tiers([change.alert.id]))
    finally:
        await w["esc"].stop()


def test_pure_steps():
    policy = EscalationPolicy(60, 180, 90)

    class A:  # the two fields the decision reads
        def __init__(self, status):
            self.id, self.status, self.raised_at = 7, status, T0

    s = arm(A(AlertStatus.OPEN), T0, policy)
    assert next_escalation_step(s, A(AlertStatus.OPEN), T0 + timedelta(seconds=10), policy=policy).kind == "wait"
    step = next_escalation_step(s, A(AlertStatus.OPEN), T0 + timedelta(seconds=60), key_holders=1, policy=policy)
    assert (step.kind, step.state.tier, step.state.next_at) == ("second_tier", 2, T0 + timedelta(seconds=180))
    step = next_escalation_step(step.state, A(AlertStatus.OPEN), T0 + timedelta(seconds=180), key_holders=1,
                                policy=policy)
    assert (step.kind, step.state.contact_index) == ("call_key_holder", 0)
    assert after_call(step.state, True, T0).state == "accepted"
    declined = after_call(step.state, False, T0 + timedelta(seconds=200))
    assert next_escalation_step(declined, A(AlertStatus.OPEN), T0 + timedelta(seconds=200), key_holders=1,
                                policy=policy).kind == "exhausted"
    stop = next_escalation_step(s, A(AlertStatus.ACKNOWLEDGED), T0, policy=policy)
    assert (stop.kind, stop.state.state) == ("stop", "stopped")
    assert rearm(stop.state, T0, policy) == stop.state  # a stopped escalation stays stopped
    assert rearm(s, T0 + timedelta(seconds=30), policy) == s  # a pending step is never postponed


async def test_a_key_holder_number_the_provider_refuses_moves_on_to_the_next(world):
    from demo.simulated_telephony import invalid_number

    w = world
    w["sim"].script(HOLDER_A, invalid_number())
    w["sim"].script(HOLDER_B, answer_and_press("1"))
    alert = await _raise(w)
    await _at(w, 181)
    await eventually(lambda: w["sim"].calls())  # the refused number led straight to the next key-holder
    await w["sim"].tick()
    await eventually(lambda: _accepted(w, alert.id))
    outcomes = sorted((c.phone, c.outcome) for c in await w["log"].query(CallFilter(purpose="escalation")))
    assert outcomes == [(HOLDER_A, "wrong_number"), (HOLDER_B, "accepted")]


def _announced(w) -> list:
    """ESCALATED changes published since the last call (the live screens' re-alert), read without waiting."""
    from telecare.alerts import AlertChangeKind
    from telecare.bus import ALERTS

    queue, out = w["bus"]._queue(ALERTS, "test-screens"), []
    while not queue.empty():
        change = queue.get_nowait().value
        if change.kind is AlertChangeKind.ESCALATED:
            out.append(change)
    return out


async def _exhausted(w, alert_id):
    state = await _state(w, alert_id)
    return state if state.state == "exhausted" else None


async def test_nobody_reached_repeats_the_round_and_re_alerts_every_interval_until_acknowledged(world):
    from telecare.alerts import HistoryKind
    from telecare.bus import ALERTS
    from telecare.metrics import REGISTRY

    w = world
    w["bus"].register(ALERTS, "test-screens")
    w["sim"].script(HOLDER_A, no_answer())
    w["sim"].script(HOLDER_B, no_answer())
    before = REGISTRY.get_sample_value("telecare_escalations_exhausted_total") or 0.0
    alert = await _raise(w)
    await _at(w, 61)
    await _at(w, 181)
    await _at(w, 181 + 31)  # the daughter does not answer: the neighbour rings
    await eventually(lambda: len(w["sim"].calls()) == 2)
    await _at(w, 181 + 62)  # nor does the neighbour: nobody reached
    state = await eventually(lambda: _exhausted(w, alert.id))
    assert (state.tier, state.round) == (3, 1)
    assert REGISTRY.get_sample_value("telecare_escalations_exhausted_total") == before + 1
    assert _announced(w), "exhausting must re-alert the operators' screens"
    exhausted_at = state.updated_at
    assert state.next_at == exhausted_at + timedelta(seconds=600)

    w["clock"].set(exhausted_at + timedelta(seconds=599))
    await w["esc"].tick()
    assert (await _state(w, alert.id)).state == "exhausted" and len(w["sim"].calls()) == 2
    w["clock"].set(exhausted_at + timedelta(seconds=600))
    await w["esc"].tick()  # still unacknowledged: round 2 from the first key-holder, screens re-alerted
    state = await _state(w, alert.id)
    assert (state.state, state.round, state.contact_index) == ("calling", 2, 0)
    await w["sim"].tick()
    assert [c.number for c in w["sim"].calls()][0] == HOLDER_A and len(w["sim"].calls()) == 3
    assert _announced(w)

    change = await w["alerts"].acknowledge(alert.id, "op1", w["clock"].now())
    await w["esc"].handle(change)
    assert (await _state(w, alert.id)).state == "stopped"
    w["clock"].set(exhausted_at + timedelta(seconds=5000))
    await w["esc"].tick()
    await w["sim"].tick()
    assert len(w["sim"].calls()) == 3  # acknowledged: no further rounds
    assert REGISTRY.get_sample_value("telecare_escalations_exhausted_total") == before + 1

    history = await w["alerts"].history(alert.id)
    assert [e.kind for e in history] == [
        HistoryKind.RAISED, HistoryKind.SECOND_TIER, HistoryKind.KEY_HOLDER_CALLED, HistoryKind.KEY_HOLDER_RESULT,
        HistoryKind.KEY_HOLDER_CALLED, HistoryKind.KEY_HOLDER_RESULT, HistoryKind.EXHAUSTED, HistoryKind.REPEATED,
        HistoryKind.KEY_HOLDER_CALLED, HistoryKind.ACKNOWLEDGED]
    texts = [e.text for e in history]
    assert texts[2] == "Calling key-holder #1: Daughter" and texts[4] == "Calling key-holder #2: Neighbour"
    assert texts[3] == "Key-holder #1 Daughter: did not answer"
    assert texts[6] == "Nobody reached (round 1): send the mobile unit / call 112"
    assert texts[-1] == "Acknowledged by op1" and history[-1].actor == "op1"
    assert not any(phone in repr(history) for phone in (HOLDER_A, HOLDER_B))  # names, never numbers


async def test_without_key_holders_every_round_counts_and_a_restart_resumes_the_repeat(world):
    from telecare.metrics import REGISTRY

    w = world
    before = REGISTRY.get_sample_value("telecare_escalations_exhausted_total") or 0.0
    alert = await _raise(w, "r2")
    await _at(w, 181)
    assert (await _state(w, alert.id)).state == "exhausted"
    fresh = Escalator(w["db"], InProcessBus(), w["alerts"], w["sim"], Registry(w["db"]), w["clock"], repeat_s=600,
                      call_log=CallLog(w["db"]))
    w["clock"].set(T0 + timedelta(seconds=781))
    assert await fresh.tick() == 2  # repeat, then exhausted again (nobody to call)
    state = await _state(w, alert.id)
    assert (state.state, state.round, state.next_at) == ("exhausted", 2, T0 + timedelta(seconds=1381))
    assert REGISTRY.get_sample_value("telecare_escalations_exhausted_total") == before + 2
