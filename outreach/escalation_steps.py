"""Escalation decisions (pure): when an unacknowledged alert goes to the second tier, then to key-holders."""
from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from enum import StrEnum

from telecare.alerts import Alert, AlertStatus


class Phase(StrEnum):
    """Where an escalation is (escalations.state)."""

    ARMED = "armed"  # waiting for the next step's time
    CALLING = "calling"  # a key-holder's phone is ringing
    ACCEPTED = "accepted"  # a key-holder is going
    EXHAUSTED = "exhausted"  # nobody reached in this round
    STOPPED = "stopped"  # the alert was acknowledged or resolved


class StepKind(StrEnum):
    """What next_escalation_step says to do now."""

    WAIT = "wait"
    STOP = "stop"
    SECOND_TIER = "second_tier"
    CALL_KEY_HOLDER = "call_key_holder"
    EXHAUSTED = "exhausted"
    REPEAT = "repeat"
    NONE = "none"


# Exhausted is not terminal: nobody reached means the key-holder round starts again until acknowledged.
TERMINAL = frozenset({Phase.ACCEPTED, Phase.STOPPED})


@dataclass(frozen=True, slots=True)
class EscalationPolicy:
    """Timings: second tier after N s unacknowledged, key-holders after M s; how long one key-holder call may take;
    how long after nobody was reached the round repeats."""

    second_tier_after_s: float = 60.0
    keyholders_after_s: float = 180.0
    call_wait_s: float = 90.0
    repeat_s: float = 600.0


@dataclass(frozen=True, slots=True)
class EscalationState:
    """One row of `escalations`: tier 1 operators, 2 second tier, 3 key-holders; round n of the key-holders."""

    alert_id: int
    tier: int
    next_at: datetime
    contact_index: int
    state: Phase
    updated_at: datetime
    round: int = 1

    def __post_init__(self) -> None:
        object.__setattr__(self, "state", Phase(self.state))  # rows hold the stored string


@dataclass(frozen=True, slots=True)
class Step:
    """What to do now (call_key_holder: the one at state.contact_index), and the state after it."""

    kind: StepKind
    state: EscalationState


def arm(alert: Alert, now: datetime, policy: EscalationPolicy) -> EscalationState:
    """A fresh escalation for an alert, timed from when it was raised (a restart does not postpone it)."""
    return EscalationState(alert.id, 1, alert.raised_at + timedelta(seconds=policy.second_tier_after_s), 0,
                           Phase.ARMED, now)


def next_escalation_step(state: EscalationState, alert: Alert, now: datetime, *, key_holders: int = 0,
                         policy: EscalationPolicy = EscalationPolicy()) -> Step:
    """Pure decision: the next escalation step for this alert at `now`."""
    if state.state in TERMINAL:
        return Step(StepKind.NONE, state)
    if alert.status != AlertStatus.OPEN:
        return Step(StepKind.STOP, replace(state, state=Phase.STOPPED, updated_at=now))
    if now < state.next_at:
        return Step(StepKind.WAIT, state)
    if state.state == Phase.EXHAUSTED:
        # Still nobody took it: a new round from the first key-holder (the Escalator re-alerts the operators).
        return Step(StepKind.REPEAT, replace(state, tier=3, state=Phase.ARMED, contact_index=0, round=state.round + 1,
                                      next_at=now, updated_at=now))
    if state.state == Phase.ARMED and state.tier == 1:
        gap = timedelta(seconds=policy.keyholders_after_s - policy.second_tier_after_s)
        return Step(StepKind.SECOND_TIER, replace(state, tier=2, next_at=state.next_at + gap, updated_at=now))
    # Tier 2 ran out, or the key-holder called last did not accept in time: the next key-holder.
    index = state.contact_index + 1 if state.state == Phase.CALLING else state.contact_index
    if index >= key_holders:
        return Step(StepKind.EXHAUSTED, replace(state, tier=3, state=Phase.EXHAUSTED, contact_index=index, updated_at=now,
                                         next_at=now + timedelta(seconds=policy.repeat_s)))
    return Step(StepKind.CALL_KEY_HOLDER, replace(state, tier=3, state=Phase.CALLING, contact_index=index,
                                           next_at=now + timedelta(seconds=policy.call_wait_s), updated_at=now))


def after_call(state: EscalationState, accepted: bool, now: datetime) -> EscalationState:
    """A key-holder call ended: accepted stops the ladder; otherwise the next key-holder is due now (pure)."""
    if state.state != Phase.CALLING:
        return state
    if accepted:
        return replace(state, state=Phase.ACCEPTED, updated_at=now)
    return replace(state, next_at=now, updated_at=now)


def rearm(state: EscalationState, now: datetime, policy: EscalationPolicy) -> EscalationState:
    """A new event on the alert: an exhausted escalation repeats the key-holder round now, exactly as the timed
    repeat does (a second help press must hasten the calls, never delay them); a pending step is never
    postponed (pure)."""
    if state.state != Phase.EXHAUSTED:
        return state
    return replace(state, tier=3, contact_index=0, state=Phase.ARMED, round=state.round + 1, next_at=now,
                   updated_at=now)


def nobody_reached(state: EscalationState | None) -> bool:
    """True while an unacknowledged alert has already gone through every key-holder without anyone accepting."""
    return state is not None and state.state not in TERMINAL and (state.state == Phase.EXHAUSTED or state.round > 1)
