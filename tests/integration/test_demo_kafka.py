"""`telecare demo --kafka` as a user starts it: every part on a local Kafka broker, a help press over MQTT becomes
one alert (ingest -> events -> rules -> alert-triggers -> alerts part -> alerts -> the live stream)."""
from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import time

import httpx
import pytest

from demo.broker import free_port
from tests.conftest import eventually, unavailable
from tests.e2e.test_demo_end_to_end import SIGNED, _as_gateway, _payload, _sign_in_demo_logins, who


@pytest.fixture(scope="module")
def kafka_demo(tmp_path_factory: pytest.TempPathFactory, kafka_bootstrap):  # kafka_bootstrap: skip without Java
    data_dir = tmp_path_factory.mktemp("demo-kafka")
    http_port, mqtt_port = free_port(), free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("TELECARE_")}
    env["TELECARE_LOG_LEVEL"] = "WARNING"
    log_path = data_dir / "demo.log"
    with open(log_path, "wb") as log:
        proc = subprocess.Popen(
            [sys.executable, "-m", "entrypoints.cli", "demo", "--kafka", "--no-simulator", "--residents", "6",
             "--http-port", str(http_port), "--mqtt-port", str(mqtt_port), "--data-dir", str(data_dir)],
            stdout=log, stderr=subprocess.STDOUT, env=env)
    base = f"http://127.0.0.1:{http_port}"
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            text = log_path.read_text()
            if "rules on Kafka: not built" in text:  # this branch without the rules host (another helper's)
                pytest.skip("rules on Kafka: not built (rules/kafka_host.py comes with the rules host)")
            pytest.fail(f"telecare demo --kafka exited with {proc.returncode}:\n{text[-4000:]}")
        try:
            if httpx.get(f"{base}/healthz", timeout=1).status_code == 200:
                break
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    else:
        proc.kill()
        unavailable(f"telecare demo --kafka did not become healthy:\n{log_path.read_text()[-4000:]}")
    _sign_in_demo_logins(base, data_dir)
    yield {"base": base, "mqtt": f"mqtt://127.0.0.1:{mqtt_port}", "proc": proc, "log": log_path,
           "data_dir": data_dir}
    if proc.poll() is None:
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            proc.kill()
    SIGNED.pop(base, None)


async def test_demo_on_kafka_prints_the_logins_and_turns_a_help_press_into_one_live_alert(kafka_demo):
    base, printed = kafka_demo["base"], kafka_demo["log"].read_text()
    assert "Kafka broker         : 127.0.0.1:" in printed and "operator" in printed
    assert (kafka_demo["data_dir"] / "kafka" / "server.properties").exists()  # its node lives in the data dir
    async with httpx.AsyncClient(base_url=base, **who(base)) as client:
        health = (await client.get("/healthz")).json()
    async with httpx.AsyncClient(base_url=base, **who(base, "admin")) as client:
        pendant = next(d for d in (await client.get("/api/devices")).json() if d["type"] == "pendant")
    seen: list[dict] = []

    async def read_stream() -> None:
        async with httpx.AsyncClient(base_url=base, timeout=None, **who(base)) as client:
            async with client.stream("GET", "/api/alerts/stream") as resp:
                async for line in resp.aiter_lines():
                    if line.startswith("data:"):
                        seen.append(json.loads(line[5:]))

    reader = asyncio.create_task(read_stream())
    publisher = _as_gateway(kafka_demo, pendant["gateway_id"], "kafka-demo-gateway")
    await publisher.connect()
    try:
        # The gateway says it is online first, as a real one does on connecting: a presence event has no dedupe
        # key and once killed the store writer (and the demo with it) with the simulator running.
        await publisher.publish(f"telecare/v1/{pendant['gateway_id']}/status", b"online")
        topic = f"telecare/v1/{pendant['gateway_id']}/{pendant['id']}/help_button"
        await publisher.publish(topic, _payload("kafka-help-1"))
        await publisher.publish(topic, _payload("kafka-help-1"))  # a redelivery: stored once, one incident

        async def help_alerts():
            async with httpx.AsyncClient(base_url=base, **who(base)) as client:
                alerts = (await client.get("/api/alerts", params={"status": "open"})).json()
            return [a for a in alerts if a["resident_id"] == pendant["resident_id"] and a["type"] == "help_button"]

        found = await eventually(help_alerts, timeout=30, interval=0.3)
        await eventually(lambda: [m for m in seen if m.get("alert", m).get("id") == found[0]["id"]], timeout=20)
    finally:
        reader.cancel()
        await asyncio.gather(reader, return_exceptions=True)
        await publisher.disconnect()
    assert len(found) == 1 and found[0]["count"] == 1
    async with httpx.AsyncClient(base_url=base, **who(base)) as client:
        after = await client.get("/healthz")
    assert after.status_code == 200 and after.json()["parts"]["store"]["state"] == "ok"
    assert kafka_demo["proc"].poll() is None
    print(f"\n[demo --kafka] healthz {health}; help press -> alert {found[0]['id']} on the API and the live stream")
