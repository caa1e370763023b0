"""Each gateway only itself, against the real mosquitto with the password file and ACL `telecare devices
mqtt-acl` writes, ingest and PostgreSQL: what the broker really does with each attempt."""
from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

import pytest

from demo.broker import EmbeddedBroker, free_port
from devices.credentials import GatewayCredentials, IssuedCredentials
from devices.mqtt_acl import IngestAccounts, write_broker_auth
from devices.registry import Registry
from ingest.service import IngestService, session_ids
from ingest.topics import device_topic, status_topic
from telecare.bus import InProcessBus
from telecare.clock import SystemClock
from telecare.errors import BrokerError
from telecare.events import RawMessage
from telecare.mqtt import MqttPublisher, MqttSubscriber
from telecare.people import Device, DeviceType, Resident
from telecare.store import Database
from tests.conftest import eventually, unavailable

INGEST_IDS = ("telecare-ingest-acl", "telecare-ingest-acl-2")  # two ingest processes: two accounts each
INGEST = IngestAccounts(tuple(u for i in INGEST_IDS for u in session_ids(i)), "ingest-password-for-tests")


@dataclass
class World:
    url: str
    db: Database
    logins: dict[str, IssuedCredentials]
    broker: EmbeddedBroker

    async def gateway(self, gw: str, *, v311: bool = False, password: str | None = None) -> MqttPublisher:
        login = self.logins[gw]
        url = self.url + ("?protocol=3.1.1" if v311 else "")
        pub = MqttPublisher(url, f"{gw}-{uuid.uuid4().hex[:6]}", will=(status_topic(gw), b"offline", True),
                            username=login.username, password=password or login.password)
        await pub.connect()
        return pub

    async def stored(self, msg_id: str) -> int:
        return await self.db.fetchval("SELECT count(*) FROM events WHERE msg_id = %s", (msg_id,))


def payload(msg_id: str) -> bytes:
    return json.dumps({"msg_id": msg_id, "ts": datetime.now(timezone.utc).isoformat()}).encode()


@pytest.fixture
async def world(db: Database, tmp_path: Path) -> AsyncIterator[World]:
    registry = Registry(db)
    logins: dict[str, IssuedCredentials] = {}
    for home in ("a", "b"):
        await registry.upsert_resident(Resident(id=f"r-{home}", name=f"Resident {home}"))
        done = await registry.register(Device(f"gw-{home}", DeviceType.GATEWAY, f"gw-{home}", f"r-{home}"))
        assert done.created and done.credentials is not None
        logins[f"gw-{home}"] = done.credentials
        await registry.register(Device(f"pd-{home}", DeviceType.PENDANT, f"gw-{home}", f"r-{home}"))
    files = write_broker_auth(tmp_path / "auth", INGEST, await GatewayCredentials(db).all())
    broker = EmbeddedBroker(tmp_path / "mqtt", free_port(), auth=(files.password_file, files.acl_file))
    try:
        url = broker.start()
    except Exception as err:  # noqa: BLE001
        unavailable(f"embedded MQTT broker failed to start: {err}")
    if broker.kind != "mosquitto":
        broker.stop()
        unavailable("mosquitto is not installed (the amqtt fallback enforces no ACL)")
    ingest = IngestService(url, db, InProcessBus(), registry, SystemClock(), client_id=INGEST_IDS[0],
                           batch_ms=10, mqtt_password=INGEST.password)
    await ingest.start()
    yield World(url, db, logins, broker)
    await ingest.stop()
    broker.stop()


async def test_a_gateway_publishes_for_itself_only(world: World) -> None:
    gw_a = await world.gateway("gw-a")
    # MQTT 5: mosquitto refuses the publish under another gateway's subtree with PUBACK 0x87 Not authorized.
    with pytest.raises(BrokerError, match="Not authorized"):
        await gw_a.publish(device_topic("gw-b", "pd-b", "help_button"), payload("forged-5"))
    with pytest.raises(BrokerError, match="Not authorized"):
        await gw_a.publish(status_topic("gw-b"), b"offline", retain=True)  # a forged "gateway offline"
    await gw_a.publish(device_topic("gw-a", "pd-a", "help_button"), payload("own-5"))
    await gw_a.publish(status_topic("gw-a"), b"online", retain=True)
    await gw_a.disconnect()
    # MQTT 3.1.1 has no reason code: mosquitto answers PUBACK "success" and drops the message.
    old = await world.gateway("gw-a", v311=True)
    await old.publish(device_topic("gw-b", "pd-b", "fall"), payload("forged-311"))
    await old.publish(device_topic("gw-a", "pd-a", "fall"), payload("own-311"))
    await old.disconnect()

    await eventually(lambda: world.stored("own-311"))  # published after the forged ones, on the same session
    assert await world.stored("own-5") == 1
    assert await world.stored("forged-5") == 0 and await world.stored("forged-311") == 0
    assert await world.db.fetchval("SELECT count(*) FROM events WHERE gateway_id = 'gw-b'") == 0
    assert await world.db.fetchval("SELECT count(*) FROM dead_letters") == 0  # refused at the broker, not here
    # The status comes through ingest's main session, whose batches may trail the alarm lane: wait for it.
    online_query = "SELECT gateway_id FROM events WHERE type = 'gateway_online'"
    online = await eventually(lambda: world.db.fetch(online_query))
    assert [r["gateway_id"] for r in online] == ["gw-a"]


async def test_anonymous_and_wrong_passwords_are_refused(world: World) -> None:
    anonymous = MqttPublisher(world.url, f"anon-{uuid.uuid4().hex[:6]}")
    with pytest.raises(BrokerError, match="refused the connection"):
        await anonymous.connect()
    with pytest.raises(BrokerError, match="refused the connection"):
        await world.gateway("gw-a", password="not-the-password")
    with pytest.raises(BrokerError, match="refused the connection"):  # one gateway's password is not another's
        await world.gateway("gw-a", password=world.logins["gw-b"].password)


async def test_a_gateway_reads_nothing(world: World) -> None:
    """mosquitto 2.0.11 grants the SUBSCRIBE (its acl_file does not check subscriptions) but delivers nothing
    a user may not read: ingest's subtree and a `$share` group both stay silent for a gateway account."""
    got: list[RawMessage] = []
    login = world.logins["gw-b"]
    spies = [MqttSubscriber(world.url, f"spy-{i}-{uuid.uuid4().hex[:6]}", [(f, 1)], got.append,
                            persistent=False, username=login.username, password=login.password)
             for i, f in enumerate(("telecare/v1/#", "$share/telecare-ingest/telecare/v1/#", "#"))]
    for spy in spies:
        await spy.start()  # SUBACK granted
    gw_a = await world.gateway("gw-a")
    for n in range(5):
        await gw_a.publish(device_topic("gw-a", "pd-a", "heartbeat"), payload(f"read-{n}"))
    await gw_a.disconnect()
    await eventually(lambda: world.stored("read-4"))  # ingest's account reads them...
    await asyncio.gather(*(spy.stop() for spy in spies))
    assert got == []  # ...the gateway's account nothing (it would have had all 5, and $share some)


async def test_ingests_queue_survives_a_broker_restart_with_accounts(world: World) -> None:
    """The ACL is checked against a restored session's username: messages for an ingest that is away
    across a broker restart are still queued for it, not dropped as "not authorised"."""
    later = IngestService(world.url, world.db, InProcessBus(), Registry(world.db), SystemClock(),
                          client_id=INGEST_IDS[1], batch_ms=10, mqtt_password=INGEST.password)
    await later.start()
    await later.stop()  # its two persistent sessions stay at the broker
    world.broker.stop()
    world.broker.start()
    gw_a = await world.gateway("gw-a")
    await gw_a.publish(device_topic("gw-a", "pd-a", "fall"), payload("while-away"))
    await gw_a.disconnect()
    await eventually(lambda: world.stored("while-away"))  # the fixture's ingest (reconnected) stores it once
    got: list[RawMessage] = []
    alarms_id = session_ids(INGEST_IDS[1])[0]
    again = MqttSubscriber(world.url, alarms_id, [("telecare/v1/+/+/fall", 1)], got.append,
                           username=alarms_id, password=INGEST.password)
    await again.start()
    await eventually(lambda: [m.topic for m in got] == [device_topic("gw-a", "pd-a", "fall")])
    await again.stop()


def ingest_session(world: World, client_id: str, got: list[RawMessage]) -> MqttSubscriber:
    """A persistent session of ingest's, logged in as its own account (username = client id), acking all."""
    def on(m: RawMessage) -> None:
        got.append(m)
        sub.ack(m.ack_token)
    sub = MqttSubscriber(world.url, client_id, [("telecare/v1/#", 1)], on, username=client_id,
                         password=INGEST.password)
    return sub


def thief_of(world: World, client_id: str, gw: str, got: list[RawMessage]) -> MqttSubscriber:
    """Gateway `gw`'s valid login asking for ingest's client id `client_id` and a persistent session."""
    login = world.logins[gw]
    return MqttSubscriber(world.url, client_id, [("telecare/v1/#", 1)], got.append, username=login.username,
                          password=login.password)


def ids(got: list[RawMessage]) -> list[str]:
    return [json.loads(m.payload)["msg_id"] for m in got if m.topic.endswith("/heartbeat")]


async def test_a_gateway_account_asking_for_ingests_client_id_gets_its_own(world: World) -> None:
    """use_username_as_clientid: the broker replaces the thief's chosen id by its username, gw-b. Ingest's live
    session is not kicked and receives everything; the thief receives nothing; the one it did kick is gw-b."""
    got: list[RawMessage] = []
    stolen: list[RawMessage] = []
    victim_id = session_ids(INGEST_IDS[1])[1]
    await (live := ingest_session(world, victim_id, got)).start()
    gw_b = await world.gateway("gw-b")  # the real gw-b, connected with its will
    await (thief := thief_of(world, victim_id, "gw-b", stolen)).start()  # accepted: a valid login
    # The thief's session is gw-b's: the real gateway's connection is the one taken over.
    await eventually(lambda: not gw_b.connected or gw_b.generation > 1)
    gw_a = await world.gateway("gw-a")
    sent = [f"live-{n}" for n in range(20)]
    for msg_id in sent:
        await gw_a.publish(device_topic("gw-a", "pd-a", "heartbeat"), payload(msg_id))
    await eventually(lambda: len(ids(got)) >= len(sent))
    await asyncio.gather(thief.stop(), gw_b.disconnect(), gw_a.disconnect())
    assert live.connected and live.generation == 1  # never disconnected by the thief
    await live.stop()
    assert ids(got) == sent and stolen == []


async def test_a_gateway_account_cannot_take_over_ingests_queue(world: World) -> None:
    """Ingest away, messages queued for it; a gateway connects with ingest's client id and a persistent session
    (before: it took the session over and the queue was lost). Now ingest gets every queued message back."""
    got: list[RawMessage] = []
    stolen: list[RawMessage] = []
    victim_id = session_ids(INGEST_IDS[1])[1]
    await (first := ingest_session(world, victim_id, got)).start()
    await first.stop()  # away; its persistent session queues for it
    gw_a = await world.gateway("gw-a")
    queued = [f"queued-{n}" for n in range(10)]
    for msg_id in queued:
        await gw_a.publish(device_topic("gw-a", "pd-a", "heartbeat"), payload(msg_id))
    await (thief := thief_of(world, victim_id, "gw-b", stolen)).start()
    await thief.stop()
    await (back := ingest_session(world, victim_id, got)).start()
    await gw_a.publish(device_topic("gw-a", "pd-a", "heartbeat"), payload("after"))
    await eventually(lambda: "after" in ids(got))
    await back.stop()
    await gw_a.disconnect()
    assert ids(got) == [*queued, "after"] and stolen == []  # nothing lost, nothing twice, nothing to the thief
