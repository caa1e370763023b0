"""Choosing the Kafka bus from settings: TELECARE_KAFKA_BOOTSTRAP alone means Kafka, for every part."""
from __future__ import annotations

import pytest

from entrypoints.bootstrap import PER_PROCESS_GROUPS, make_bus
from telecare.errors import ConfigError
from telecare.settings import bus_for, load_settings


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch):
    for name in ("TELECARE_BUS", "TELECARE_KAFKA_BOOTSTRAP", "TELECARE_KAFKA_PARTITIONS"):
        monkeypatch.delenv(name, raising=False)


def test_a_bootstrap_chooses_kafka_for_every_part():
    s = load_settings(kafka_bootstrap="k1:9092,k2:9092")
    assert {bus_for(s, p) for p in ("all", "web", "rules", "ingest", "outreach")} == {"kafka"}
    assert bus_for(load_settings(kafka_bootstrap="k1:9092", bus="postgres"), "web") == "postgres"  # explicit wins


def test_kafka_without_a_bootstrap_is_refused_by_name():
    with pytest.raises(ConfigError) as err:
        bus_for(load_settings(bus="kafka"), "rules")
    assert "TELECARE_KAFKA_BOOTSTRAP" in str(err.value)
    with pytest.raises(ConfigError):
        make_bus(load_settings(bus="kafka"), db=None)


@pytest.mark.parametrize("bad", ["localhost", "k1:x", "k1:9092,:9093", "k1:70000"])
def test_a_malformed_bootstrap_is_a_config_error(bad):
    with pytest.raises(ConfigError) as err:
        load_settings(kafka_bootstrap=bad)
    assert "TELECARE_KAFKA_BOOTSTRAP" in str(err.value)


def test_make_bus_builds_the_kafka_bus_with_per_process_web_groups(monkeypatch):
    monkeypatch.setenv("TELECARE_KAFKA_PARTITIONS", "12")
    bus = make_bus(load_settings(kafka_bootstrap="127.0.0.1:9092"), db=None)
    assert type(bus).__name__ == "KafkaBus" and bus.keeps_from_register
    assert bus._partitions == 12  # noqa: SLF001
    assert "web" in PER_PROCESS_GROUPS
    web, rules = bus.group_id("alerts", "web"), bus.group_id("events", "rules")
    other = make_bus(load_settings(kafka_bootstrap="127.0.0.1:9092"), db=None)
    assert web.startswith("alerts.web-") and web != other.group_id("alerts", "web")
    assert rules == other.group_id("events", "rules") == "events.rules"  # shared: rules processes split partitions
