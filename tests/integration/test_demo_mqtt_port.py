"""A taken MQTT port stops the demo at once (exit 2, the port and the option named), never a foreign broker."""
from __future__ import annotations

import os
import socket
import subprocess
import sys
import time

import pytest

from demo.broker import ensure_port_free, free_port
from telecare.errors import BrokerError


def test_ensure_port_free_names_the_port_and_the_option():
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        port = taken.getsockname()[1]
        with pytest.raises(BrokerError) as err:
            ensure_port_free(port)
    assert f"MQTT port {port}" in str(err.value)
    assert "--mqtt-port" in str(err.value) and "TELECARE_MQTT_PORT" in str(err.value)
    ensure_port_free(port)  # released: free again
    ensure_port_free(0)  # "any port" is never taken


@pytest.mark.parametrize("listening", [False, True])
def test_demo_on_a_taken_mqtt_port_stops_at_once(tmp_path, listening):
    env = {k: v for k, v in os.environ.items() if not k.startswith("TELECARE_")}
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        if listening:
            taken.listen()  # like Debian's mosquitto service on 1883
        port = taken.getsockname()[1]
        started = time.monotonic()
        proc = subprocess.run(
            [sys.executable, "-m", "entrypoints.cli", "demo", "--mqtt-port", str(port),
             "--http-port", str(free_port()), "--data-dir", str(tmp_path / "demo")],
            capture_output=True, text=True, env=env, timeout=120)
        took = time.monotonic() - started
    assert proc.returncode == 2, proc.stderr[-2000:]
    assert f"MQTT port {port} is already in use" in proc.stderr and "--mqtt-port" in proc.stderr
    assert "TELECARE_MQTT_PORT" in proc.stderr and "embedded mosquitto on" not in proc.stderr
    assert "Traceback" not in proc.stderr
    assert not (tmp_path / "demo" / "pg").exists()  # stopped before the database was even started
    assert took < 30, took


def test_run_ingest_on_a_taken_mqtt_port_stops_too(tmp_path):
    env = {k: v for k, v in os.environ.items() if not k.startswith("TELECARE_")}
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        env["TELECARE_MQTT_PORT"] = str(port)
        proc = subprocess.run([sys.executable, "-m", "entrypoints.cli", "run", "ingest", "--data-dir", str(tmp_path)],
                              capture_output=True, text=True, env=env, timeout=120)
    assert proc.returncode == 2 and f"MQTT port {port}" in proc.stderr, proc.stderr[-2000:]
