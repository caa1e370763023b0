"""The home simulator against a real MQTT broker, driven by a FakeClock: protocol-valid messages, demo incidents."""
from __future__ import annotations

import asyncio
import json
import re
import uuid
from datetime import date, datetime, timedelta, timezone

import pytest

from demo.fleet import barcelona_fleet
from demo.simulator import Simulator, status_topic
from telecare.clock import FakeClock
from telecare.events import DEVICE_EVENT_TYPES, RawMessage
from telecare.mqtt import MqttPublisher, MqttSubscriber
from tests.conftest import eventually

TOPIC = re.compile(r"^telecare/v1/(?P<gw>[^/]+)/(?P<dev>[^/]+)/(?P<type>[a-z_]+)$")
START = datetime(2026, 11, 22, 10, 0, tzinfo=timezone.utc)  # 11:00 in Barcelona


def check_protocol(msg: RawMessage, devices: dict[str, object]) -> dict:
    """Every device message must be what docs/protocol.md promises."""
    m = TOPIC.match(msg.topic)
    assert m, msg.topic
    assert m["type"] in {t.value for t in DEVICE_EVENT_TYPES}
    device = devices[m["dev"]]
    assert device.gateway_id == m["gw"]
    body = json.loads(msg.payload)
    assert set(body) <= {"msg_id", "ts", "battery", "value"} and isinstance(body["msg_id"], str)
    ts = datetime.fromisoformat(body["ts"])
    assert ts.utcoffset() is not None and re.search(r"[+-]\d\d:\d\d$", body["ts"])
    if "battery" in body:
        assert isinstance(body["battery"], int) and 0 <= body["battery"] <= 100
    return {**body, "gw": m["gw"], "dev": m["dev"], "type": m["type"], "ts": ts}


@pytest.fixture
async def received(mqtt_url: str):
    messages: list[RawMessage] = []
    sub: MqttSubscriber | None = None

    def on_message(raw: RawMessage) -> None:
        messages.append(raw)
        sub.ack(raw.ack_token)

    sub = MqttSubscriber(mqtt_url, f"sim-test-{uuid.uuid4().hex[:8]}", [("telecare/v1/#", 1)], on_message,
                         persistent=False)
    await sub.start()
    yield messages
    await sub.stop()


async def _clear_retained(mqtt_url: str, gateways: list[str]) -> None:
    """Leave the shared test broker as we found it (an empty retained payload deletes the status)."""
    pub = MqttPublisher(mqtt_url, f"sim-clean-{uuid.uuid4().hex[:8]}")
    await pub.connect()
    for gw in gateways:
        await pub.publish(status_topic(gw), b"", retain=True)
    await pub.disconnect()


async def test_simulated_homes_publish_valid_messages_and_demo_incidents(mqtt_url: str, received) -> None:
    residents, devices = barcelona_fleet(3, seed=7, today=date(2026, 11, 22))
    by_id = {d.id: d for d in devices}
    gateways = sorted({d.gateway_id for d in devices})
    clock = FakeClock(START)
    sim = Simulator(mqtt_url, residents, devices, clock, seed=7, poll_seconds=0.01,
                    client_prefix=f"sim-{uuid.uuid4().hex[:6]}")
    task = asyncio.create_task(sim.run())

    def ours() -> list[RawMessage]:  # the broker is shared: ignore other tests' (retained) messages
        return [m for m in received if (m.topic.split("/") + ["", "", ""])[2] in gateways]

    def statuses() -> list[tuple[str, bytes]]:
        return [(m.topic.split("/")[2], m.payload) for m in ours() if m.topic.endswith("/status") and m.payload]

    def events() -> list[dict]:
        return [check_protocol(m, by_id) for m in ours() if not m.topic.endswith("/status")]

    try:
        await eventually(lambda: {gw for gw, p in statuses() if p == b"online"} == set(gateways))
        clock.advance(200)  # the simulator publishes, in time order, everything due by now
        seen = await eventually(lambda: (lambda ev: ev if {"help_button", "fall", "bed_exit", "medication_missed",
                                                            "low_battery"} <= {e["type"] for e in ev} else None)(events()))
        offline = await eventually(lambda: [gw for gw, p in statuses() if p == b"offline"])
        assert len(offline) == 1  # the will, published by the broker when the gateway dropped
        beats = [e for e in seen if e["type"] == "heartbeat" and e["dev"] == e["gw"]]
        assert {e["gw"] for e in beats} == set(gateways)  # every gateway beats (device_id == gateway_id)
        low = next(e for e in seen if e["type"] == "low_battery")
        assert low["battery"] < 20
        assert all(START <= e["ts"] <= START + timedelta(seconds=200) for e in seen)

        # Back online after the outage: the will is replaced by "online", buffered events arrive late.
        before = len(events())
        clock.advance(timedelta(minutes=5))
        await eventually(lambda: statuses()[-1] == (offline[0], b"online"))
        late = await eventually(lambda: [e for e in events()[before:] if e["gw"] == offline[0]
                                         and e["ts"] < clock.now() - timedelta(minutes=2)])
        assert late  # the gateway kept them while offline; their ts tell the truth
        ids = [(e["gw"], e["msg_id"]) for e in events()]
        assert len(ids) == len(set(ids))  # msg_id unique per gateway
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        await _clear_retained(mqtt_url, gateways)


def test_two_runs_of_the_same_fleet_get_different_client_ids() -> None:
    residents, devices = barcelona_fleet(2, seed=7, today=date(2026, 11, 22))
    clock = FakeClock(START)
    first, second = (Simulator("mqtt://127.0.0.1:1", residents, devices, clock) for _ in range(2))
    assert first.client_prefix != second.client_prefix
    assert first.client_prefix.startswith("sim-") and second.client_prefix.startswith("sim-")


async def test_a_second_simulator_of_the_same_fleet_takes_over_no_connection(mqtt_url: str, received) -> None:
    """`telecare simulate` beside the demo's own simulator: both stay connected, no will says "offline"."""
    residents, devices = barcelona_fleet(3, seed=7, today=date(2026, 11, 22))
    gateways = sorted({d.gateway_id for d in devices})
    clock = FakeClock(START)
    sims = [Simulator(mqtt_url, residents, devices, clock, seed=7, poll_seconds=0.01, demo=False)
            for _ in range(2)]
    ours = lambda: [m for m in received  # noqa: E731 - the broker is shared: only our gateways' live statuses
                    if m.topic.endswith("/status") and m.topic.split("/")[2] in gateways and m.payload]
    tasks = []
    try:
        for n, sim in enumerate(sims, start=1):
            tasks.append(asyncio.create_task(sim.run()))
            # Each run announces every gateway once: 3 "online" after the first, 6 after the second.
            await eventually(lambda: sum(m.payload == b"online" for m in ours()) >= n * len(gateways))
        # A takeover would have made the broker publish the first run's will before the second's "online".
        assert [m.payload for m in ours()].count(b"offline") == 0
        assert all(gw._pub is not None for sim in sims for gw in sim.gateways.values())
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        await _clear_retained(mqtt_url, gateways)
