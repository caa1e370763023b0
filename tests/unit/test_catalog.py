"""The rule catalogue is complete and consistent with the care plan and device types."""
from __future__ import annotations

import string
from datetime import timedelta

from rules.catalog import INSTANT_ALERTS, RULES, SUPERVISION
from telecare.alerts import AlertType, Severity
from telecare.events import DeviceType, EventType
from telecare.people import CarePlan

EXPECTED_SEVERITY = {
    AlertType.HELP_BUTTON: Severity.CRITICAL,
    AlertType.FALL: Severity.CRITICAL,
    AlertType.BED_EXIT_NO_RETURN: Severity.HIGH,
    AlertType.MEDICATION_MISSED: Severity.MEDIUM,
    AlertType.INACTIVITY: Severity.HIGH,
    AlertType.DEVICE_OFFLINE: Severity.TECHNICAL,
    AlertType.LOW_BATTERY: Severity.TECHNICAL,
}


def test_every_rule_alert_type_has_its_severity():
    assert {t: spec.severity for t, spec in RULES.items()} == EXPECTED_SEVERITY
    assert all(spec.alert_type is t for t, spec in RULES.items())


def test_parameters_name_care_plan_fields():
    plan = CarePlan()
    for spec in RULES.values():
        if spec.parameter is not None:
            assert hasattr(plan, spec.parameter), spec.parameter


def test_templates_only_use_known_fields():
    allowed = {"time", "minutes", "hours", "device", "device_id", "level"}
    for spec in RULES.values():
        fields = {name for _, name, _, _ in string.Formatter().parse(spec.text) if name}
        assert fields and fields <= allowed, spec.alert_type


def test_every_device_type_is_supervised_gateway_tightest():
    assert set(SUPERVISION) == set(DeviceType)
    assert SUPERVISION[DeviceType.GATEWAY] == timedelta(minutes=5)
    assert all(v == timedelta(hours=25) for k, v in SUPERVISION.items() if k is not DeviceType.GATEWAY)


def test_instant_alerts_map_device_events_to_rules():
    assert INSTANT_ALERTS == {EventType.HELP_BUTTON: AlertType.HELP_BUTTON, EventType.FALL: AlertType.FALL,
                              EventType.MEDICATION_MISSED: AlertType.MEDICATION_MISSED}
