"""Pure pieces of the Kafka path: which bus a process is on, the parts only Kafka has, verdict keys."""
from __future__ import annotations

import uuid
from datetime import datetime, timedelta, timezone

import pytest

from alerts.triggers import verdict_ref
from entrypoints.kafka_parts import on_kafka, refuse_without_kafka
from telecare.alerts import AlertClear, AlertTrigger, AlertType, Severity
from telecare.errors import ConfigError
from telecare.settings import Settings

AT = datetime(2026, 12, 1, 9, 0, tzinfo=timezone.utc)


def test_the_bootstrap_alone_puts_a_process_on_kafka_unless_another_bus_is_named():
    assert on_kafka(Settings(kafka_bootstrap="127.0.0.1:9092"))
    assert on_kafka(Settings(bus="kafka", kafka_bootstrap="127.0.0.1:9092"))
    assert not on_kafka(Settings(bus="postgres", kafka_bootstrap="127.0.0.1:9092"))
    assert not on_kafka(Settings())


@pytest.mark.parametrize("part", ["store", "alerts"])
def test_the_kafka_only_parts_refuse_another_bus_naming_the_setting(part):
    with pytest.raises(ConfigError, match="TELECARE_KAFKA_BOOTSTRAP"):
        refuse_without_kafka(Settings(bus="postgres"), part)
    refuse_without_kafka(Settings(kafka_bootstrap="127.0.0.1:9092"), part)
    refuse_without_kafka(Settings(bus="postgres"), "ingest")  # the other parts run on every bus


def test_a_verdict_is_keyed_by_its_event_or_by_its_time():
    event_id = uuid.uuid4()
    by_event = AlertTrigger("r1", AlertType.FALL, Severity.CRITICAL, AT, "Fall", event_id=event_id)
    timer = AlertTrigger("r1", AlertType.INACTIVITY, Severity.HIGH, AT, "No movement")
    clear = AlertClear("r1", AlertType.DEVICE_OFFLINE, AT, "back")
    assert verdict_ref(by_event) == f"e:{event_id}"
    assert verdict_ref(by_event) == verdict_ref(AlertTrigger("r1", AlertType.FALL, Severity.CRITICAL,
                                                             AT + timedelta(seconds=1), "Fall", event_id=event_id))
    assert verdict_ref(timer) == f"t:{AT.isoformat()}|" != verdict_ref(
        AlertTrigger("r1", AlertType.INACTIVITY, Severity.HIGH, AT + timedelta(hours=1), "No movement"))
    assert verdict_ref(clear) == f"c:{AT.isoformat()}|"
