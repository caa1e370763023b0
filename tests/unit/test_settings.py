"""Bad configuration stops a process with a message naming the variable."""
from __future__ import annotations

import subprocess
import sys

import pytest

from telecare.errors import ConfigError
from telecare.settings import load_settings, mqtt_address


def test_defaults_need_no_environment(monkeypatch):
    for var in ("TELECARE_DATABASE_URL", "TELECARE_MQTT_URL", "TELECARE_HTTP_PORT"):
        monkeypatch.delenv(var, raising=False)
    s = load_settings()
    assert s.database_url is None and s.mqtt_url is None and s.http_port == 8000


@pytest.mark.parametrize(
    ("var", "value", "expected"),
    [
        ("TELECARE_HTTP_PORT", "eighty", "TELECARE_HTTP_PORT"),
        ("TELECARE_DATABASE_URL", "mysql://x", "postgresql://"),
        ("TELECARE_MQTT_URL", "http://broker", "mqtt://"),
        ("TELECARE_BUS", "carrier-pigeon", "TELECARE_BUS"),
    ],
)
def test_bad_values_are_named(monkeypatch, var, value, expected):
    monkeypatch.setenv(var, value)
    with pytest.raises(ConfigError) as err:
        load_settings()
    assert expected in str(err.value)


def test_mqtt_address_parts():
    assert mqtt_address("mqtt://u:p@broker.local:1884") == ("broker.local", 1884, "u", "p")
    assert mqtt_address("mqtt://broker") == ("broker", 1883, None, None)


def test_cli_reports_bad_config_and_exits_2():
    env = {"TELECARE_HTTP_PORT": "not-a-port", "PATH": "/usr/bin:/bin"}
    proc = subprocess.run([sys.executable, "-m", "entrypoints.cli", "db", "upgrade"], env=env,
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 2
    assert "TELECARE_HTTP_PORT" in proc.stderr and "Traceback" not in proc.stderr


def test_a_part_alone_defaults_to_the_postgres_bus_and_refuses_the_in_process_one(monkeypatch):
    from telecare.settings import bus_for

    monkeypatch.delenv("TELECARE_BUS", raising=False)
    s = load_settings()
    assert bus_for(s, "all") == "inprocess"
    assert {bus_for(s, p) for p in ("web", "rules", "ingest", "outreach")} == {"postgres"}
    assert bus_for(load_settings(bus="postgres"), "all") == "postgres"
    with pytest.raises(ConfigError) as err:
        bus_for(load_settings(bus="inprocess"), "web")
    assert "TELECARE_BUS=postgres" in str(err.value) and "telecare run web" in str(err.value)
