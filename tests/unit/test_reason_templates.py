"""Alert reasons as catalogue templates: every verdict's English reason is its template filled with its params
(device types as their labels), the templates are marked for the pages' catalogue, and they survive the wire."""
from __future__ import annotations

from datetime import date, datetime, timedelta, timezone

import pytest

from outreach.call_vocabulary import CallMode, CallPurpose
from outreach.task_records import CallTask, TaskStatus, welfare_trigger
from rules.catalog import DEVICE_LABELS
from telecare.alerts import (
    COMMISSIONING_TESTABLE, INSTALLATION_TEST_TEMPLATES, Alert, AlertChange, AlertChangeKind, AlertClear,
    AlertStatus, AlertTrigger, AlertType, Severity, as_installation_test, decode_alert_change, decode_verdict,
    encode_alert_change, encode_verdict,
)
from telecare.events import DeviceType, EventType
from tests.unit.test_engine import DISPENSER, GW, MOTION, PENDANT, SENSORS, T0, Harness
from tests.unit.test_i18n_catalogue import used_ids


def _english(verdict: AlertTrigger | AlertClear) -> str:
    values = dict(verdict.params)
    if "device" in values:  # the page says the type with term(); the English line with its label
        values["device"] = DEVICE_LABELS.get(DeviceType(values["device"]), "Device") \
            if values["device"] != "device" else "Device"
    return verdict.template.format(**values)


def _every_kind_of_verdict() -> list[AlertTrigger | AlertClear]:
    h = Harness(devices=[GW, *SENSORS])
    out = h.event(EventType.HELP_BUTTON) + h.event(EventType.FALL)
    out += h.event(EventType.MEDICATION_MISSED, DISPENSER)
    out += h.event(EventType.HEARTBEAT, PENDANT, battery=12) + h.event(EventType.HEARTBEAT, PENDANT, battery=90)
    out += h.event(EventType.GATEWAY_OFFLINE, GW) + h.advance(timedelta(minutes=1)) + h.event(EventType.HEARTBEAT, GW)
    out += h.event(EventType.BED_EXIT, SENSORS[1])
    out += h.advance(timedelta(hours=30))  # bed, inactivity, supervision and dose timers
    out += h.event(EventType.MOTION, MOTION)
    return out


def test_every_engine_verdict_carries_a_marked_template_that_gives_its_reason():
    verdicts = _every_kind_of_verdict()
    kinds = {(type(v).__name__, v.type) for v in verdicts}
    assert {("AlertTrigger", t) for t in (AlertType.HELP_BUTTON, AlertType.FALL, AlertType.MEDICATION_MISSED,
                                         AlertType.LOW_BATTERY, AlertType.DEVICE_OFFLINE, AlertType.INACTIVITY,
                                         AlertType.BED_EXIT_NO_RETURN)} <= kinds
    assert ("AlertClear", AlertType.LOW_BATTERY) in kinds and ("AlertClear", AlertType.DEVICE_OFFLINE) in kinds
    catalogue, _ = used_ids()
    for v in verdicts:
        assert v.template in catalogue, v.template
        assert _english(v) == v.reason
        assert all(isinstance(value, str) for _, value in v.params)


def test_an_unknown_device_is_sent_as_the_word_device():
    h = Harness(devices=SENSORS)
    out = h.event(EventType.LOW_BATTERY, GW)  # gw1 is not among this resident's devices
    assert out[0].reason == "Low battery on Device gw1" and dict(out[0].params)["device"] == "device"


@pytest.mark.parametrize("alarm", sorted(COMMISSIONING_TESTABLE))
def test_an_installation_test_keeps_a_translated_template(alarm):
    event = {AlertType.HELP_BUTTON: EventType.HELP_BUTTON, AlertType.FALL: EventType.FALL}[alarm]
    trigger = next(t for t in Harness().event(event) if t.type is alarm)
    test = as_installation_test(trigger)
    assert test.template in INSTALLATION_TEST_TEMPLATES and test.params == trigger.params
    assert test.template.format(**dict(test.params)) == test.reason


def _task(purpose: CallPurpose, attempts: int) -> CallTask:
    return CallTask(7, "r1", purpose, CallMode.HUMAN, None, None, date(2026, 11, 22), T0, T0, 5, None,
                    TaskStatus.UNREACHED, attempts, 3, T0, "", "k", T0, T0)


def test_the_welfare_trigger_sends_the_purpose_as_a_vocabulary_word():
    trigger = welfare_trigger(_task(CallPurpose.FOLLOW_UP, 3), T0)
    assert trigger.reason == "follow up call unreached after 3 attempt(s)"
    assert trigger.template == "{purpose} call unreached after {attempts} attempt(s)"
    assert dict(trigger.params) == {"purpose": "follow_up", "attempts": "3"}


AT = datetime(2026, 7, 15, 3, 12, tzinfo=timezone.utc)


def test_an_alert_change_carries_the_template_and_params_as_an_object():
    alert = Alert(4, "r1", AlertType.LOW_BATTERY, Severity.TECHNICAL, AlertStatus.OPEN, AT, AT, AT, 1,
                  "Low battery on Pendant pd1", "pd1", reason_template="Low battery on {device} {device_id}{level}",
                  reason_params=(("device", "pendant"), ("device_id", "pd1"), ("level", "")))
    change = AlertChange(AlertChangeKind.RAISED, alert)
    assert change.to_dict()["alert"]["reason_params"] == {"device": "pendant", "device_id": "pd1", "level": ""}
    assert decode_alert_change(encode_alert_change(change)) == change


def test_an_old_verdict_without_a_template_still_decodes():
    old = b'{"resident_id":"r","type":"fall","severity":"critical","at":"2026-07-15T03:12:00+00:00",' \
          b'"reason":"Fall detected at 05:12","delayed":false,"verdict":"trigger"}'
    verdict = decode_verdict(old)
    assert verdict.template is None and verdict.params == () and encode_verdict(verdict) == old
