"""A graceful mosquitto restart loses nothing ingest has not stored, with one ingest process and with two.

Reproduces issue 6's loss first: mosquitto (2.0.11 here) does not write `$share` subscriptions to its
persistence file, so after a restart the session comes back (session_present) without them and what is
published before the subscriber re-subscribes matches nothing and is dropped.
"""
from __future__ import annotations

import asyncio
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest

from demo.broker import EmbeddedBroker, free_port
from devices.credentials import mosquitto_hash
from devices.mqtt_acl import IngestAccounts, write_broker_auth
from ingest.service import session_ids
from ingest.topics import PREFIX
from telecare.events import RawMessage
from telecare.mqtt import MqttPublisher, MqttSubscriber
from telecare.store import Database
from tests.conftest import unavailable
from tests.integration.broker_harness import Ingest, broker, duplicates, message, until  # noqa: F401

WINDOW = 100  # published after the broker is back, before the subscriber is
DRAIN_TIMEOUT_S = 30.0


@pytest.mark.parametrize(("topic_filter", "kept"), [("$share/g/t/#", 0), ("t/#", WINDOW)])
async def test_what_a_persistent_session_keeps_over_a_broker_restart(broker: EmbeddedBroker, topic_filter: str,
                                                                     kept: int) -> None:
    got: list[RawMessage] = []
    sub = MqttSubscriber(broker.url, "sub", [(topic_filter, 1)], got.append)
    await sub.start()
    pub = MqttPublisher(broker.url, "pub-1")
    await pub.connect()
    await pub.publish("t/x", b"queued")  # delivered, never acked: stays in the session
    await pub.disconnect()
    await sub.stop()
    broker.stop()  # graceful: mosquitto saves sessions, queues and (plain) subscriptions
    broker.start()
    pub = MqttPublisher(broker.url, "pub-2")
    await pub.connect()
    for i in range(WINDOW):
        pub.publish_nowait("t/x", f"w{i}".encode())
    await pub.wait_all_published(10)
    again: list[RawMessage] = []
    sub = MqttSubscriber(broker.url, "sub", [(topic_filter, 1)], again.append)
    await sub.start()  # session_present=True in both cases; subscribes again
    await pub.publish("t/x", b"sentinel")  # one session queue is FIFO: after it, nothing more is coming
    await until(lambda: b"sentinel" in {m.payload for m in again}, 10, "sentinel")
    window = [m for m in again if m.payload.startswith(b"w")]
    assert b"queued" in {m.payload for m in again}  # the session and its queue were restored...
    assert len(window) == kept  # ...but a $share subscription was not: the window is lost
    await sub.stop()
    await pub.disconnect()


@pytest.fixture
def acl_broker(tmp_path: Path) -> Iterator[EmbeddedBroker]:
    """The platform's broker with accounts on: ingest's (both processes') plus a writer for every home."""
    usernames = tuple(u for k in range(2) for u in session_ids(f"telecare-ingest-{k}"))
    files = write_broker_auth(tmp_path / "auth", IngestAccounts(usernames, INGEST_PASSWORD), [])
    with files.password_file.open("a") as f:
        f.write(f"{PUBLISHER[0]}:{mosquitto_hash(PUBLISHER[1])}\n")
    with files.acl_file.open("a") as f:
        f.write(f"\nuser {PUBLISHER[0]}\ntopic write {PREFIX}/#\n")
    b = EmbeddedBroker(tmp_path / "mqtt", free_port(), auth=(files.password_file, files.acl_file))
    b.start()
    if b.kind != "mosquitto":
        b.stop()
        unavailable("needs mosquitto (its on-disk persistence and accounts are what is tested)")
    yield b
    b.stop()


INGEST_PASSWORD = "ingest-password-for-tests"
PUBLISHER = ("fleet-writer", "fleet-writer-password")  # one account publishing for all 20 homes


@pytest.mark.parametrize("processes", [1, 2])
async def test_graceful_broker_restart_loses_nothing(broker: EmbeddedBroker, db: Database, processes: int) -> None:
    await _restart_loses_nothing(broker, db, processes)


async def test_graceful_broker_restart_loses_nothing_with_accounts(acl_broker: EmbeddedBroker, db: Database) -> None:
    """use_username_as_clientid on: ingest's sessions are keyed by their usernames and survive the restart."""
    await _restart_loses_nothing(acl_broker, db, 2, INGEST_PASSWORD, PUBLISHER)


async def _restart_loses_nothing(broker: EmbeddedBroker, db: Database, processes: int, password: str | None = None,
                                 publisher: tuple[str, str] | None = None) -> None:
    n = 300
    login = {"username": publisher[0], "password": publisher[1]} if publisher else {}
    ingest = Ingest(broker.url, db, processes, password=password)
    await ingest.start()
    sent: list[str] = []
    dups_before = duplicates()

    async def publish(pub: MqttPublisher, phase: str, count: int) -> None:
        for i in range(count):
            msg_id = f"{phase}-{i}"
            pub.publish_nowait(*message(msg_id, len(sent), ingest.homes))
            sent.append(msg_id)
        await pub.wait_all_published(10)

    pub = MqttPublisher(broker.url, f"pub-{uuid.uuid4().hex[:6]}", **login)
    await pub.connect()
    await publish(pub, "live", n)  # some are still in flight to ingest when the broker stops
    await pub.disconnect()
    broker.stop()
    broker.start()
    back_at = time.monotonic()
    pub = MqttPublisher(broker.url, f"pub-{uuid.uuid4().hex[:6]}", **login)
    await pub.connect()
    await publish(pub, "first", 1)
    assert not ingest.connected  # ingest's reconnect back-off (1 s first) has not brought it back yet
    await publish(pub, "away", n - 1)  # ingest down: only a persisted subscription can hold these
    reconnecting = 0
    while not ingest.connected:  # while it reconnects
        await publish(pub, f"reconnect{reconnecting}", 10)
        reconnecting += 1
        await asyncio.sleep(0.01)
        assert time.monotonic() - back_at < 10, "ingest did not reconnect"
    reconnect_s = time.monotonic() - back_at
    await publish(pub, "after", n)
    try:
        await until(lambda: len(ingest.on_bus) >= len(sent), DRAIN_TIMEOUT_S, "every message on the bus")
    except AssertionError:
        pass  # some are missing: counted and reported below
    stored = await ingest.stored()
    await ingest.stop()
    await pub.disconnect()

    on_bus = Counter(e.msg_id for e in ingest.on_bus)
    lost = set(sent) - set(stored)
    print(f"\n[restart, {processes} ingest{', accounts' if password else ''}] sent={len(sent)} stored={len(set(stored))} lost={len(lost)} "
          f"duplicate rows={len(stored) - len(set(stored))} on bus twice={sum(c > 1 for c in on_bus.values())} "
          f"copies absorbed by the key={duplicates() - dups_before:.0f} "
          f"published while reconnecting={reconnecting * 10} (back {reconnect_s:.2f}s after the broker)")
    assert not lost, f"{len(lost)} of {len(sent)} lost"
    assert sorted(stored) == sorted(sent)  # exactly once in the table
    assert sorted(on_bus) == sorted(sent) and max(on_bus.values()) == 1  # and once on the bus


async def test_a_misshapen_topic_under_the_prefix_is_dead_lettered(broker: EmbeddedBroker, db: Database) -> None:
    ingest = Ingest(broker.url, db, 1)
    await ingest.start()
    pub = MqttPublisher(broker.url, "misconfigured-gateway")
    await pub.connect()
    bad = [f"{PREFIX}/gw-0", f"{PREFIX}/gw-0/pd-0/help_button/extra", f"{PREFIX}/gw-0/pd-0"]
    for topic in bad:
        await pub.publish(topic, b'{"msg_id": "m", "ts": "2026-01-01T00:00:00Z"}')
    await until(lambda: _count(db, len(bad)), 10, "all dead letters")
    rows = await db.fetch("SELECT topic, reason FROM dead_letters ORDER BY id")
    assert sorted(r["topic"] for r in rows) == sorted(bad)
    assert {r["reason"] for r in rows} == {"bad_topic"}
    await pub.disconnect()
    await ingest.stop()


async def _count(db: Database, n: int) -> bool:
    return await db.fetchval("SELECT count(*) FROM dead_letters") >= n
