"""The alert-triggers wire format: every verdict the rules make survives encode → decode unchanged."""
from datetime import datetime, timezone
from uuid import uuid4

import pytest

from telecare.alerts import AlertClear, AlertTrigger, AlertType, Severity, decode_verdict, encode_verdict

AT = datetime(2026, 7, 15, 3, 12, 5, 250000, tzinfo=timezone.utc)


@pytest.mark.parametrize("verdict", [
    AlertTrigger("r-1", AlertType.FALL, Severity.CRITICAL, AT, "Fall detected in the bathroom", "d-1", False, uuid4()),
    AlertTrigger("r-2", AlertType.INACTIVITY, Severity.HIGH, AT, "No movement for 4 h", delayed=True),
    AlertTrigger("r-6", AlertType.FALL, Severity.CRITICAL, AT, "Caiguda detectada — Núria, cuina \u2028 \"x\"", "d-2"),
    AlertClear("r-3", AlertType.DEVICE_OFFLINE, AT, "Gateway gw-1 back online at 05:12", "gw-1"),
    AlertTrigger("r-4", AlertType.LOW_BATTERY, Severity.TECHNICAL, AT, "Low battery on Pendant pd-1 (9%)", "pd-1",
                 template="Low battery on {device} {device_id}{level}",
                 params=(("device", "pendant"), ("device_id", "pd-1"), ("level", " (9%)"))),
    AlertClear("r-5", AlertType.LOW_BATTERY, AT, "Pendant pd-1 battery at 80% at 05:12", "pd-1",
               "{device} {device_id} battery at {level}% at {time}",
               (("time", "05:12"), ("device", "pendant"), ("level", "80"), ("device_id", "pd-1"))),  # any order
])
def test_round_trip(verdict):
    assert decode_verdict(encode_verdict(verdict)) == verdict


def test_unknown_verdict_is_refused():
    with pytest.raises(ValueError):
        decode_verdict(b'{"verdict":"maybe","resident_id":"r","type":"fall","at":"2026-07-15T03:12:05+00:00"}')
