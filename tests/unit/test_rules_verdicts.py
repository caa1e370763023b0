"""Verdict keys: a replayed event or a re-fired timer gives the same key; different incidents different keys."""
from __future__ import annotations

import uuid
from datetime import datetime, timedelta, timezone

from rules.engine import evaluate, new_state, tick
from rules.verdicts import verdict_key
from telecare.events import DeviceType, Event, EventType
from telecare.people import Device, Resident

T0 = datetime(2026, 11, 22, 1, 0, tzinfo=timezone.utc)  # night in Madrid
RESIDENT = Resident("r1", "Test Resident")
DEVICES = [Device(f"r1-{k.value}", k, "r1-gw", "r1") for k in (DeviceType.FALL_SENSOR, DeviceType.BED_SENSOR)]


def event(kind: EventType, device: str, at: datetime) -> Event:
    return Event(uuid.uuid4(), "r1-gw", f"r1-{device}", "r1", kind, at, at, uuid.uuid4().hex)


def test_a_redelivered_event_gives_the_same_key_and_another_event_another():
    fall = event(EventType.FALL, "fall_sensor", T0)
    state, [first] = evaluate(fall, RESIDENT, DEVICES, new_state("r1"), T0)
    _, [again] = evaluate(fall, RESIDENT, DEVICES, state, T0 + timedelta(seconds=9))  # redelivered later
    _, [other] = evaluate(event(EventType.FALL, "fall_sensor", T0), RESIDENT, DEVICES, state, T0)
    assert verdict_key(first) == verdict_key(again) != verdict_key(other)


def test_a_timer_fired_again_from_an_unsaved_state_gives_the_same_key():
    armed, _ = evaluate(event(EventType.BED_EXIT, "bed_sensor", T0), RESIDENT, DEVICES, new_state("r1"), T0)
    fired_state, [before_crash] = tick(RESIDENT, DEVICES, armed, T0 + timedelta(minutes=30))
    # The fired state was never saved: the next owner ticks the armed state, later.
    _, [after_crash] = tick(RESIDENT, DEVICES, armed, T0 + timedelta(minutes=34))
    assert verdict_key(before_crash) == verdict_key(after_crash)
    assert before_crash.delayed != after_crash.delayed  # late the second time, still the same incident
    assert tick(RESIDENT, DEVICES, fired_state, T0 + timedelta(hours=1))[1] == []
