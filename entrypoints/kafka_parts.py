"""The parts that exist only on the Kafka path (store writer, alerts part) and Kafka wiring of the others.

TELECARE_KAFKA_BOOTSTRAP set (and TELECARE_BUS not naming another bus) puts a process on Kafka: ingest
publishes to `events` instead of storing, the store writer stores, the rules send verdicts to
`alert-triggers` and the alerts part applies them (docs/kafka.md).
"""
from __future__ import annotations

from typing import Any

from telecare.errors import ConfigError
from telecare.settings import Settings

KAFKA_ONLY_PARTS = frozenset({"store", "alerts"})


def on_kafka(settings: Settings) -> bool:
    """True when this process's bus is Kafka."""
    return settings.bus == "kafka" or (settings.bus is None and bool(settings.kafka_bootstrap))


def refuse_without_kafka(settings: Settings, part: str) -> None:
    """`telecare run store|alerts` needs the Kafka bus: without it ingest stores and rules raise alerts themselves."""
    if part in KAFKA_ONLY_PARTS and not on_kafka(settings):
        raise ConfigError(f"`telecare run {part}` is a part of the Kafka path: set TELECARE_KAFKA_BOOTSTRAP "
                          "(without Kafka, ingest stores the events and the rules raise the alerts themselves)")


def kafka_ingest_sink(core: Any) -> Any:
    """Ingest's sink on Kafka: events to the `events` topic (acked before MQTT), dead letters to PostgreSQL."""
    from ingest.kafka_sink import KafkaEventSink
    from ingest.sink import EventSink

    return KafkaEventSink(core.bus, EventSink(core.db))


def build_store_writer(core: Any) -> Any:
    """The store writer: `events` -> PostgreSQL (events, event_keys)."""
    from ingest.store_writer import StoreWriter

    return StoreWriter(core.bus, core.db, core.health)


def build_alerts_part(core: Any) -> Any:
    """The alerts part: `alert-triggers` -> the alert store (once per verdict) -> `alerts`."""
    from alerts.trigger_consumer import TriggerConsumer
    from alerts.triggers import TriggerApplier

    return TriggerConsumer(core.bus, TriggerApplier(core.db, core.alerts), core.clock, core.health)


def alerts_via_bus(core: Any) -> Any:
    """The alert store as outreach sees it on Kafka: its welfare raises go through `alert-triggers`."""
    from alerts.bus_sink import AlertsViaBus, BusVerdictSink

    return AlertsViaBus(core.alerts, BusVerdictSink(core.bus))
