"""The commissioning checklist, its prompts and the rejection sentences (pure)."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone

from devices.commissioning_plan import (PROMPTS, REJECTION_REASONS, InstalledDevice, checklist, missing, plain_reason,
                                        reason_field, installation_test_reason)
from insights.quality import ALARM_TYPES
from outreach.escalation import ESCALATE
from telecare.alerts import AlertType, Severity
from telecare.events import DeviceType, EventType

T0 = datetime(2026, 11, 22, 10, tzinfo=timezone.utc)
HOME = [InstalledDevice("pd-1", DeviceType.PENDANT, "Bedroom"), InstalledDevice("gw-1", DeviceType.GATEWAY),
        InstalledDevice("mo-1", DeviceType.MOTION_SENSOR, "Hall"), InstalledDevice("dr-1", DeviceType.DOOR_SENSOR)]


def test_every_device_type_has_one_prompt_and_every_ingest_reason_a_sentence():
    assert set(PROMPTS) == set(DeviceType)
    assert all(p.text and p.accepts for p in PROMPTS.values())
    for code in ("bad_topic", "oversized", "invalid_utf8", "invalid_json", "not_an_object", "unknown_event_type",
                 "unknown_gateway", "unknown_device", "device_not_on_gateway", "bad_status", "unstorable"):
        assert code in REJECTION_REASONS
    assert plain_reason("bad_field:battery") == "A field of the message had the wrong type, range or format"
    assert (reason_field("bad_field:battery"), reason_field("missing_field:ts")) == ("battery", "ts")
    assert reason_field("internal_error:KeyError") is None and reason_field("invalid_json") is None
    assert plain_reason("internal_error:KeyError") == REJECTION_REASONS["internal_error"]
    assert plain_reason("something_new") == "The message was rejected"


def test_a_device_is_ticked_at_its_first_test_event_only_and_the_gateway_comes_first():
    reports = {("pd-1", EventType.HELP_BUTTON): T0 + timedelta(seconds=9),
               ("gw-1", EventType.HEARTBEAT): T0 + timedelta(seconds=5),
               ("gw-1", EventType.GATEWAY_ONLINE): T0 + timedelta(seconds=2),
               ("dr-1", EventType.HEARTBEAT): T0 + timedelta(seconds=3)}  # a heartbeat is not the door's test
    checks = checklist(HOME, reports)
    assert [(c.device_id, c.reported_at) for c in checks] == [
        ("gw-1", T0 + timedelta(seconds=2)), ("dr-1", None), ("mo-1", None), ("pd-1", T0 + timedelta(seconds=9))]
    assert [c.device_id for c in missing(checks)] == ["dr-1", "mo-1"]
    assert installation_test_reason("gw-1", checks) == (
        "Installation test of gateway gw-1: 2 of 4 devices; not reported: dr-1, mo-1",
        "Installation test of gateway {gateway_id}: {reported} of {devices} devices; not reported: {missing}",
        (("devices", "4"), ("gateway_id", "gw-1"), ("missing", "dr-1, mo-1"), ("reported", "2")))
    every = [c for c in checks if c.reported_at is not None]
    assert installation_test_reason("gw-1", every)[1:] == (
        "Installation test of gateway {gateway_id}: {reported} of {devices} devices; every device reported",
        (("devices", "2"), ("gateway_id", "gw-1"), ("reported", "2")))
    assert checks[3].to_dict()["prompt"] == "Press the pendant's button now" and checks[3].to_dict()["room"] == "Bedroom"


def test_the_installation_test_alert_is_never_escalated_nor_counted_as_an_alarm():
    assert AlertType.INSTALLATION_TEST not in ALARM_TYPES and Severity.TECHNICAL not in ESCALATE
