"""The embedded broker's pure-Python fallback (amqtt, MQTT 3.1.1) works with telecare.mqtt and ingest."""
from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from datetime import datetime, timezone
from pathlib import Path

import pytest

from demo.broker import EmbeddedBroker, free_port
from ingest.service import IngestService
from ingest.topics import device_topic
from telecare.bus import EVENTS, InProcessBus
from telecare.clock import SystemClock
from telecare.events import RawMessage
from telecare.mqtt import MqttPublisher, MqttSubscriber
from telecare.people import Device, DeviceType
from telecare.store import Database
from tests.conftest import eventually


@pytest.fixture(scope="module")
def amqtt_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    broker = EmbeddedBroker(Path(tmp_path_factory.mktemp("amqtt")), free_port(), mosquitto=False)
    url = broker.start()
    assert broker.kind == "amqtt" and url.endswith("?protocol=3.1.1")
    yield url
    broker.stop()


async def test_fallback_broker_queues_messages_for_an_offline_persistent_session(amqtt_url: str) -> None:
    # amqtt 0.12 does not resend a message left unacked by the previous connection (mosquitto
    # does, see test_ingest_mqtt); it does queue what is published while the session is offline.
    tag = uuid.uuid4().hex[:8]
    first: list[RawMessage] = []
    sub = MqttSubscriber(amqtt_url, f"s-{tag}", [(f"$share/g/t/{tag}/#", 1)], first.append)
    await sub.start()
    pub = MqttPublisher(amqtt_url, f"p-{tag}")
    await pub.connect()
    await pub.publish(f"t/{tag}/a", b"1")
    await eventually(lambda: len(first) == 1)
    sub.ack(first[0].ack_token)
    await sub.stop()
    await pub.publish(f"t/{tag}/a", b"2")
    second: list[RawMessage] = []

    def receive(m: RawMessage) -> None:
        # amqtt waits for the ack of the queued message before it answers our SUBSCRIBE
        second.append(m)
        sub2.ack(m.ack_token)

    sub2 = MqttSubscriber(amqtt_url, f"s-{tag}", [(f"$share/g/t/{tag}/#", 1)], receive)
    await sub2.start()
    await eventually(lambda: b"2" in {m.payload for m in second})
    await sub2.stop()
    await pub.disconnect()


async def test_fallback_broker_sends_the_will_of_a_dropped_gateway(amqtt_url: str) -> None:
    tag = uuid.uuid4().hex[:8]
    got: list[RawMessage] = []
    sub = MqttSubscriber(amqtt_url, f"s-{tag}", [(f"w/{tag}/+/status", 1)], got.append, persistent=False)
    await sub.start()
    gw = MqttPublisher(amqtt_url, f"gw-{tag}", will=(f"w/{tag}/g/status", b"offline", True))
    await gw.connect()
    await gw.drop()
    await eventually(lambda: [m.payload for m in got] == [b"offline"])
    await sub.stop()


async def test_ingest_runs_on_the_fallback_broker(amqtt_url: str, db: Database) -> None:
    tag = uuid.uuid4().hex[:8]
    gw, pd = f"gw-{tag}", f"pd-{tag}"

    class Lookup:
        async def device(self, device_id: str) -> Device | None:
            return {gw: Device(gw, DeviceType.GATEWAY, gw, "r"), pd: Device(pd, DeviceType.PENDANT, gw, "r")}.get(device_id)

    bus = InProcessBus()
    bus.register(EVENTS, "t")
    svc = IngestService(amqtt_url, db, bus, Lookup(), SystemClock(), client_id=f"ingest-{tag}", batch_ms=10)
    await svc.start()
    pub = MqttPublisher(amqtt_url, f"p-{tag}")
    await pub.connect()
    body = {"msg_id": "x1", "ts": datetime.now(timezone.utc).isoformat()}
    await pub.publish(device_topic(gw, pd, "help_button"), json.dumps(body).encode())
    await eventually(lambda: bus.pending(EVENTS) == 1)
    assert await db.fetchval("SELECT count(*) FROM events WHERE msg_id = 'x1'") == 1
    await pub.disconnect()
    await svc.stop()


async def test_subscriber_reconnects_after_a_broker_restart(tmp_path: Path) -> None:
    broker = EmbeddedBroker(tmp_path / "mq", free_port())
    url = broker.start()
    if broker.kind != "mosquitto":
        pytest.skip("needs mosquitto's on-disk persistence")
    got: list[RawMessage] = []
    sub = MqttSubscriber(url, "reconnecting", [("r/#", 1)], got.append)
    try:
        await sub.start()
        broker.stop()  # mosquitto saves the session (and its subscription) on the way out
        broker.start()
        pub = MqttPublisher(url, "after-restart")
        await pub.connect()
        await pub.publish("r/x", b"after")
        await eventually(lambda: [m.payload for m in got] == [b"after"], timeout=15)
        sub.ack(got[0].ack_token)
        await pub.disconnect()
    finally:
        await sub.stop()
        broker.stop()
