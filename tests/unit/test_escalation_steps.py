"""Pure escalation steps: nobody reached is exhausted, repeats after the interval, and stops on acknowledge."""
from __future__ import annotations

from dataclasses import replace
from datetime import datetime, timedelta, timezone

from outreach.escalation_history import result_line, step_line
from outreach.escalation_steps import (EscalationPolicy, after_call, arm, next_escalation_step, nobody_reached,
                                       rearm)
from telecare.alerts import Alert, AlertStatus, AlertType, HistoryKind, Severity
from telecare.people import Contact

T0 = datetime(2026, 11, 22, 9, 0, tzinfo=timezone.utc)
POLICY = EscalationPolicy(second_tier_after_s=60, keyholders_after_s=180, call_wait_s=90, repeat_s=600)
ALERT = Alert(1, "r1", AlertType.FALL, Severity.CRITICAL, AlertStatus.OPEN, T0, T0, T0, 1, "fall")


def _at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


def _walk_to_exhausted(holders: int):
    """Arm, second tier, every key-holder failing: return the exhausted step and when it happened."""
    state = arm(ALERT, T0, POLICY)
    state = next_escalation_step(state, ALERT, _at(60), key_holders=holders, policy=POLICY).state
    now = _at(180)
    for _ in range(holders):
        step = next_escalation_step(state, ALERT, now, key_holders=holders, policy=POLICY)
        assert step.kind == "call_key_holder"
        now += timedelta(seconds=10)
        state = after_call(step.state, accepted=False, now=now)
    return next_escalation_step(state, ALERT, now, key_holders=holders, policy=POLICY), now


def test_last_key_holder_failing_exhausts_and_schedules_the_repeat():
    step, now = _walk_to_exhausted(2)
    assert (step.kind, step.state.state, step.state.tier, step.state.round) == ("exhausted", "exhausted", 3, 1)
    assert step.state.next_at == now + timedelta(seconds=600)
    assert nobody_reached(step.state)


def test_exhausted_waits_for_the_interval_then_repeats_the_key_holder_round():
    exhausted, now = _walk_to_exhausted(2)
    state = exhausted.state
    assert next_escalation_step(state, ALERT, now + timedelta(seconds=599), key_holders=2, policy=POLICY).kind == "wait"
    repeat = next_escalation_step(state, ALERT, now + timedelta(seconds=600), key_holders=2, policy=POLICY)
    assert (repeat.kind, repeat.state.round, repeat.state.contact_index, repeat.state.tier) == ("repeat", 2, 0, 3)
    assert nobody_reached(repeat.state)  # still the loudest thing on the screen while the round runs
    call = next_escalation_step(repeat.state, ALERT, now + timedelta(seconds=600), key_holders=2, policy=POLICY)
    assert (call.kind, call.state.contact_index, call.state.round) == ("call_key_holder", 0, 2)


def test_without_key_holders_it_exhausts_again_every_interval():
    exhausted, now = _walk_to_exhausted(0)
    state, rounds = exhausted.state, []
    for _ in range(3):
        now = state.next_at
        repeat = next_escalation_step(state, ALERT, now, key_holders=0, policy=POLICY)
        again = next_escalation_step(repeat.state, ALERT, now, key_holders=0, policy=POLICY)
        assert (repeat.kind, again.kind) == ("repeat", "exhausted")
        state = again.state
        rounds.append((state.round, state.next_at - now))
    assert rounds == [(2, timedelta(seconds=600)), (3, timedelta(seconds=600)), (4, timedelta(seconds=600))]


def test_acknowledging_stops_an_exhausted_escalation_for_good():
    exhausted, now = _walk_to_exhausted(1)
    taken = replace(ALERT, status=AlertStatus.ACKNOWLEDGED)
    stop = next_escalation_step(exhausted.state, taken, now + timedelta(seconds=1), key_holders=1, policy=POLICY)
    assert (stop.kind, stop.state.state) == ("stop", "stopped")
    assert not nobody_reached(stop.state)
    later = next_escalation_step(stop.state, ALERT, now + timedelta(hours=5), key_holders=1, policy=POLICY)
    assert later.kind == "none"


def test_a_key_holder_accepting_in_a_repeated_round_ends_it():
    exhausted, now = _walk_to_exhausted(1)
    repeat = next_escalation_step(exhausted.state, ALERT, exhausted.state.next_at, key_holders=1, policy=POLICY)
    call = next_escalation_step(repeat.state, ALERT, exhausted.state.next_at, key_holders=1, policy=POLICY)
    accepted = after_call(call.state, accepted=True, now=exhausted.state.next_at)
    assert (accepted.state, accepted.round) == ("accepted", 2) and not nobody_reached(accepted)


def test_a_new_event_on_an_exhausted_alert_repeats_the_key_holder_round_now():
    # Like the timed repeat: a second help press must hasten the key-holder calls, never put them 180 s off.
    exhausted, now = _walk_to_exhausted(1)
    again = rearm(exhausted.state, now, POLICY)
    assert (again.state, again.tier, again.round, again.next_at, again.contact_index) == ("armed", 3, 2, now, 0)
    assert nobody_reached(again)


def test_history_lines_name_the_key_holder_never_the_phone():
    holder = Contact("Núria Puig", "+34600000002", "daughter", 1, True)
    step = next_escalation_step(replace(arm(ALERT, T0, POLICY), tier=2), ALERT, _at(180), key_holders=1,
                                policy=POLICY)
    kind, text, detail = step_line(step.kind, step.state, holder)
    assert (kind, text) == (HistoryKind.KEY_HOLDER_CALLED, "Calling key-holder #1: Núria Puig (daughter)")
    kind, text, detail2 = result_line("no_answer", holder, step.state)
    assert (kind, text) == (HistoryKind.KEY_HOLDER_RESULT, "Key-holder #1 Núria Puig (daughter): did not answer")
    assert "+34600000002" not in repr((detail, detail2))
    exhausted, _ = _walk_to_exhausted(1)
    assert step_line("exhausted", exhausted.state, None)[1] == (
        "Nobody reached (round 1): send the mobile unit / call 112")
    assert step_line("wait", exhausted.state, None) is None
