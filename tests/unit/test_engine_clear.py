"""The engine's clear decisions: a technical alert closes when its condition ends; alarms never close themselves."""
from __future__ import annotations

from datetime import timedelta

from telecare.alerts import AlertClear, AlertTrigger, AlertType
from telecare.events import EventType
from tests.unit.test_engine import GW, MOTION, PENDANT, FALL, Harness


def _clears(out):
    return [d for d in out if isinstance(d, AlertClear)]


def test_gateway_back_online_after_reported_offline_clears_device_offline():
    h = Harness(devices=[GW, PENDANT])
    [off] = h.event(EventType.GATEWAY_OFFLINE, GW)
    assert isinstance(off, AlertTrigger) and off.type is AlertType.DEVICE_OFFLINE
    h.clock.advance(timedelta(minutes=2))
    [clear] = h.event(EventType.GATEWAY_ONLINE, GW)
    assert (clear.type, clear.device_id, clear.resident_id) == (AlertType.DEVICE_OFFLINE, "gw1", "r1")
    assert clear.reason == "Gateway gw1 back online at 02:02"
    assert (clear.template, dict(clear.params)) == ("{device} {device_id} back online at {time}",
                                                    {"device": "gateway", "device_id": "gw1", "time": "02:02"})
    assert h.event(EventType.HEARTBEAT, GW) == []  # nothing was silent any more: nothing to clear


def test_silent_device_heard_again_clears_only_when_no_other_device_is_silent():
    h = Harness(devices=[GW, PENDANT, MOTION])
    offline = h.advance(timedelta(hours=25))
    assert sorted(t.device_id for t in offline if t.type is AlertType.DEVICE_OFFLINE) == ["gw1", "ms1", "pd1"]
    assert _clears(h.event(EventType.HEARTBEAT, PENDANT)) == []  # the relaying gateway is back too, but ms1 is not
    [clear] = _clears(h.event(EventType.MOTION, MOTION))
    assert (clear.type, clear.device_id) == (AlertType.DEVICE_OFFLINE, "ms1")


def test_low_battery_clears_only_when_every_device_recovered():
    h = Harness()
    h.event(EventType.HEARTBEAT, PENDANT, battery=10)
    h.event(EventType.HEARTBEAT, MOTION, battery=12)
    assert h.event(EventType.HEARTBEAT, PENDANT, battery=90) == []  # ms1 is still low
    [clear] = h.event(EventType.HEARTBEAT, MOTION, battery=20)
    assert (clear.type, clear.device_id) == (AlertType.LOW_BATTERY, "ms1")
    assert clear.reason == "Motion sensor ms1 battery at 20% at 02:00"


def test_alarms_are_never_cleared_by_the_engine():
    h = Harness()
    [fall] = h.event(EventType.FALL, FALL)
    assert fall.type is AlertType.FALL
    for kind in (EventType.MOTION, EventType.HEARTBEAT, EventType.BED_RETURN):
        assert _clears(h.event(kind, MOTION, battery=80)) == []
