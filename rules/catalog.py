"""The alert rules as data: what each rule raises, how urgent, its operator text and its threshold."""
from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from string import Formatter

from telecare.alerts import N_, AlertType, ReasonParams, Severity, reason_params
from telecare.events import DeviceType, EventType


@dataclass(frozen=True, slots=True)
class RuleSpec:
    """One rule: the alert it raises and where its threshold comes from."""

    alert_type: AlertType
    severity: Severity
    when: str  # human description, shown in docs and the admin page
    text: str  # str.format template for AlertTrigger.reason and its .template (times are resident-local HH:MM)
    parameter: str | None = None  # CarePlan attribute holding the threshold, None for instant rules


RULES: dict[AlertType, RuleSpec] = {
    spec.alert_type: spec
    for spec in (
        RuleSpec(AlertType.HELP_BUTTON, Severity.CRITICAL, "pendant press",
                 N_("Help button pressed at {time}")),
        RuleSpec(AlertType.FALL, Severity.CRITICAL, "fall event",
                 N_("Fall detected at {time}")),
        RuleSpec(AlertType.BED_EXIT_NO_RETURN, Severity.HIGH,
                 "bed exit in the night window and no bed return within N minutes",
                 N_("Bed exit at {time}, no return after {minutes} min"), "bed_return_minutes"),
        RuleSpec(AlertType.MEDICATION_MISSED, Severity.MEDIUM,
                 "dispenser reports a missed dose, or no dose taken within N minutes of a dose time",
                 N_("Dose due at {time} not taken within {minutes} min"), "dose_window_minutes"),
        RuleSpec(AlertType.INACTIVITY, Severity.HIGH,
                 "no motion, bed or door event for N hours while at home",
                 N_("No activity for {hours} h (last at {time})"), "inactivity_hours"),
        RuleSpec(AlertType.DEVICE_OFFLINE, Severity.TECHNICAL,
                 "device silent past its supervision interval, or gateway reports offline",
                 N_("{device} {device_id} silent since {time}"), None),
        RuleSpec(AlertType.LOW_BATTERY, Severity.TECHNICAL,
                 "low_battery event or battery below the care plan threshold",
                 N_("Low battery on {device} {device_id}{level}"), "low_battery_percent"),
    )
}

# Event-driven texts that differ from the rule's main template.
DISPENSER_MISSED_TEXT = N_("Dispenser reported a missed dose at {time}")
GATEWAY_OFFLINE_TEXT = N_("Gateway {device_id} reported offline at {time}")
# Why a technical alert closed itself (its history line).
BACK_ONLINE_TEXT = N_("{device} {device_id} back online at {time}")
BATTERY_RECOVERED_TEXT = N_("{device} {device_id} battery at {level}% at {time}")

# Events that raise an alert on their own, without a timer.
INSTANT_ALERTS: dict[EventType, AlertType] = {
    EventType.HELP_BUTTON: AlertType.HELP_BUTTON,
    EventType.FALL: AlertType.FALL,
    EventType.MEDICATION_MISSED: AlertType.MEDICATION_MISSED,
}

# How long a device may stay silent before it counts as offline (alarm receivers' levels).
SUPERVISION: dict[DeviceType, timedelta] = {
    DeviceType.GATEWAY: timedelta(minutes=5),
    DeviceType.PENDANT: timedelta(hours=25),
    DeviceType.FALL_SENSOR: timedelta(hours=25),
    DeviceType.BED_SENSOR: timedelta(hours=25),
    DeviceType.MEDICATION_DISPENSER: timedelta(hours=25),
    DeviceType.MOTION_SENSOR: timedelta(hours=25),
    DeviceType.DOOR_SENSOR: timedelta(hours=25),
}

DEVICE_LABELS: dict[DeviceType, str] = {
    DeviceType.GATEWAY: "Gateway",
    DeviceType.PENDANT: "Pendant",
    DeviceType.FALL_SENSOR: "Fall sensor",
    DeviceType.BED_SENSOR: "Bed sensor",
    DeviceType.MEDICATION_DISPENSER: "Medication dispenser",
    DeviceType.MOTION_SENSOR: "Motion sensor",
    DeviceType.DOOR_SENSOR: "Door sensor",
}



def worded(template: str, **values: object) -> tuple[str, str, ReasonParams]:
    """(English reason, template, params) of a rule text. A `device` value is a DeviceType (None: unknown):
    the English line says its label, the params carry its type value for the page's term()."""
    used = {name for _, name, _, _ in Formatter().parse(template) if name}
    values = {k: v for k, v in values.items() if k in used}  # the timer rules share one set of values
    english = dict(values)
    if "device" in values:
        kind = values["device"]
        english["device"] = DEVICE_LABELS.get(kind, "Device")  # type: ignore[arg-type]
        values["device"] = kind.value if isinstance(kind, DeviceType) else "device"
    return template.format(**english), template, reason_params(**values)


# Dose timers are planned this far ahead, so an early dose finds its timer and a 25-hour DST day
# still has the next dose planned before the last timer fires.
DOSE_PLAN_AHEAD = timedelta(hours=48)
