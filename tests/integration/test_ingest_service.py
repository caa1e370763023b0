"""IngestService against real mosquitto and PostgreSQL: store, dedup, dead letters, restarts, outages."""
from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import AsyncIterator
from datetime import datetime, timedelta, timezone

import pytest

from ingest.service import IngestService, session_ids
from ingest.topics import device_topic, status_topic
from telecare import metrics
from telecare.bus import EVENTS, InProcessBus
from telecare.clock import SystemClock
from telecare.events import Event, EventType
from telecare.health import Health
from telecare.mqtt import MqttPublisher, end_session
from telecare.people import Device, DeviceType
from telecare.store import Database
from tests.conftest import eventually


class DictLookup:
    """The registry as ingest sees it, backed by a dict."""

    def __init__(self, devices: list[Device]) -> None:
        self.devices = {d.id: d for d in devices}

    async def device(self, device_id: str) -> Device | None:
        return self.devices.get(device_id)


def fleet(tag: str, homes: int) -> list[Device]:
    devices = []
    for i in range(homes):
        gw = f"gw-{tag}-{i}"
        devices += [Device(gw, DeviceType.GATEWAY, gw, f"r-{tag}-{i}"),
                    Device(f"pd-{tag}-{i}", DeviceType.PENDANT, gw, f"r-{tag}-{i}")]
    return devices


def payload(msg_id: str, ts: datetime | None = None, **extra: object) -> bytes:
    ts = ts or datetime.now(timezone.utc)
    return json.dumps({"msg_id": msg_id, "ts": ts.isoformat(), **extra}).encode()


def counter(result: str) -> float:
    return metrics.REGISTRY.get_sample_value("telecare_ingest_messages_total", {"result": result}) or 0.0


def rejections(reason: str) -> float:
    return metrics.REGISTRY.get_sample_value("telecare_ingest_rejections_total", {"reason": reason}) or 0.0


class Harness:
    def __init__(self, mqtt_url: str, db: Database) -> None:
        self.tag = uuid.uuid4().hex[:8]
        self.mqtt_url, self.db = mqtt_url, db
        self.lookup = DictLookup(fleet(self.tag, 3))
        self.bus = InProcessBus()
        self.bus.register(EVENTS, "test")
        self.seen: list[Event] = []
        self.services: list[IngestService] = []
        self.client_ids: set[str] = set()

    def service(self, **kw: object) -> IngestService:
        client_id = str(kw.pop("client_id", f"ingest-{self.tag}"))
        svc = IngestService(self.mqtt_url, self.db, self.bus, self.lookup, SystemClock(), client_id=client_id, **kw)
        self.services.append(svc)
        self.client_ids.add(client_id)
        return svc

    async def drain_bus(self) -> None:
        async for m in self.bus.subscribe(EVENTS, "test"):
            assert m.key == m.value.resident_id
            self.seen.append(m.value)

    async def count(self, sql: str) -> int:
        return await self.db.fetchval(sql)


@pytest.fixture
async def h(mqtt_url: str, db: Database) -> AsyncIterator[Harness]:
    harness = Harness(mqtt_url, db)
    reader = asyncio.create_task(harness.drain_bus())
    pub = MqttPublisher(mqtt_url, f"pub-{harness.tag}")
    await pub.connect()
    harness.pub = pub  # type: ignore[attr-defined]
    yield harness
    reader.cancel()
    await pub.disconnect()
    for svc in harness.services:
        if svc._task is not None and not svc._task.done():  # noqa: SLF001 - teardown of a failed test
            await svc.stop()
    for client_id in harness.client_ids:  # the shared broker must not queue later tests' messages for us
        for session in session_ids(client_id):
            await end_session(mqtt_url, session)


async def test_good_bad_and_duplicate_messages(h: Harness) -> None:
    svc = h.service(batch_size=50, batch_ms=20)
    await svc.start()
    before = {r: counter(r) for r in ("accepted", "rejected", "duplicate")}
    unknown_before = rejections("unknown_device")
    gw, pd = f"gw-{h.tag}-0", f"pd-{h.tag}-0"
    late = datetime.now(timezone.utc) - timedelta(hours=3)
    await h.pub.publish(device_topic(gw, pd, "help_button"), payload("m1", battery=80))
    await h.pub.publish(device_topic(gw, pd, "help_button"), payload("m1", battery=80))  # redelivered copy
    await h.pub.publish(device_topic(gw, gw, "heartbeat"), payload("m2"))
    await h.pub.publish(device_topic(gw, pd, "fall"), payload("m3", ts=late))
    await h.pub.publish(device_topic(gw, "pd-nobody", "fall"), payload("m4"))
    await h.pub.publish(device_topic(gw, pd, "fall"), b"\xff not utf-8")
    await h.pub.publish(status_topic(gw), b"offline", retain=True)

    await eventually(lambda: len(h.seen) == 4)
    assert await h.count("SELECT count(*) FROM events") == 4
    assert await h.count("SELECT count(*) FROM events WHERE msg_id = 'm1'") == 1
    assert await h.count("SELECT count(*) FROM dead_letters") == 2
    reasons = {r["reason"] for r in await h.db.fetch("SELECT reason FROM dead_letters")}
    assert reasons == {"unknown_device", "invalid_utf8"}
    by_type = {e.type: e for e in h.seen}
    assert by_type[EventType.FALL].delayed and not by_type[EventType.HELP_BUTTON].delayed
    assert by_type[EventType.GATEWAY_OFFLINE].device_id == gw
    assert counter("accepted") - before["accepted"] == 4
    assert counter("rejected") - before["rejected"] == 2
    assert counter("duplicate") - before["duplicate"] == 1
    assert rejections("unknown_device") - unknown_before == 1
    row = await h.db.fetchrow("SELECT battery, resident_id, ts FROM events WHERE msg_id = 'm1'")
    assert row["battery"] == 80 and row["resident_id"] == f"r-{h.tag}-0"
    await h.pub.publish(status_topic(gw), b"", retain=True)  # clear the retained status
    await svc.stop()


async def test_restart_with_queued_messages_loses_nothing(h: Harness) -> None:
    svc = h.service(batch_size=100, batch_ms=10)
    await svc.start()
    await svc.stop()  # the persistent session stays at the broker
    n = 600
    gw, pd = f"gw-{h.tag}-1", f"pd-{h.tag}-1"
    for i in range(n):
        h.pub.publish_nowait(device_topic(gw, pd, "motion"), payload(f"q{i}"))
    await h.pub.wait_all_published(10)
    restarted = h.service(batch_size=100, batch_ms=10)
    await restarted.start()
    await eventually(lambda: len(h.seen) == n)
    assert await h.count("SELECT count(DISTINCT msg_id) FROM events") == n
    assert await h.count("SELECT count(*) FROM events") == n
    await restarted.stop()


async def test_database_outage_delays_but_loses_nothing(h: Harness) -> None:
    svc = h.service(batch_size=20, batch_ms=10)
    await svc.start()
    gw, pd = f"gw-{h.tag}-2", f"pd-{h.tag}-2"
    retries = metrics.INGEST_STORE_RETRIES._value.get()  # noqa: SLF001
    await h.db.execute("ALTER TABLE event_keys RENAME TO event_keys_away")
    for i in range(30):
        await h.pub.publish(device_topic(gw, pd, "motion"), payload(f"o{i}"))
    await eventually(lambda: metrics.INGEST_STORE_RETRIES._value.get() >= retries + 3)  # noqa: SLF001
    assert not h.seen and await h.count("SELECT count(*) FROM events") == 0
    await h.db.execute("ALTER TABLE event_keys_away RENAME TO event_keys")
    await eventually(lambda: len(h.seen) == 30)
    assert await h.count("SELECT count(*) FROM events") == 30
    await svc.stop()


async def test_a_row_the_database_refuses_is_parked_and_the_rest_stored(h: Harness) -> None:
    svc = h.service(batch_size=50, batch_ms=30)
    await svc.start()
    await h.db.execute("ALTER TABLE events ADD CONSTRAINT no_poison CHECK (msg_id <> 'poison')")
    gw, pd = f"gw-{h.tag}-0", f"pd-{h.tag}-0"
    for msg_id in ("ok1", "poison", "ok2"):
        h.pub.publish_nowait(device_topic(gw, pd, "motion"), payload(msg_id))
    await h.pub.wait_all_published(5)
    await eventually(lambda: len(h.seen) == 2)
    assert {e.msg_id for e in h.seen} == {"ok1", "ok2"}
    await eventually(lambda: h.count("SELECT count(*) FROM dead_letters WHERE reason = 'unstorable'"))
    await svc.stop()


async def test_two_ingest_processes_each_receive_everything_and_store_it_once(h: Harness) -> None:
    # Non-shared sessions (a $share subscription does not survive a mosquitto restart): both processes
    # get every message; the (gateway_id, msg_id) key stores it once and the bus carries it once.
    first = h.service(batch_size=50, batch_ms=10)
    second = h.service(client_id=f"ingest-{h.tag}-b", batch_size=50, batch_ms=10)
    await first.start()
    await second.start()
    before = {r: counter(r) for r in ("accepted", "duplicate")}
    gw, pd = f"gw-{h.tag}-1", f"pd-{h.tag}-1"
    for i in range(400):
        h.pub.publish_nowait(device_topic(gw, pd, "help_button" if i % 100 == 0 else "motion"), payload(f"s{i}"))
    await h.pub.wait_all_published(10)
    # Each process handles each message once (its main session skips the alarms its alarm session has).
    await eventually(lambda: counter("duplicate") - before["duplicate"] == 400)
    assert await h.count("SELECT count(*) FROM events") == 400
    assert counter("accepted") - before["accepted"] == 400
    assert sorted(e.msg_id for e in h.seen) == sorted(f"s{i}" for i in range(400))
    await first.stop()
    await second.stop()


async def test_retained_status_is_not_replayed_on_restart(h: Harness) -> None:
    gw = f"gw-{h.tag}-2"
    await h.pub.publish(status_topic(gw), b"online", retain=True)
    svc = h.service(batch_ms=10)
    await svc.start()  # a new subscription: the retained status is delivered once
    await eventually(lambda: [e.type for e in h.seen] == [EventType.GATEWAY_ONLINE])
    await svc.stop()
    again = h.service(batch_ms=10)
    await again.start()
    await h.pub.publish(device_topic(gw, gw, "heartbeat"), payload("after-restart"))
    await eventually(lambda: len(h.seen) == 2)
    assert [e.type for e in h.seen] == [EventType.GATEWAY_ONLINE, EventType.HEARTBEAT]
    await h.pub.publish(status_topic(gw), b"", retain=True)
    await again.stop()


async def test_an_alarm_does_not_wait_for_the_batch_to_fill(h: Harness) -> None:
    svc = h.service(batch_size=500, batch_ms=8000)
    await svc.start()
    gw, pd = f"gw-{h.tag}-0", f"pd-{h.tag}-0"
    await h.pub.publish(device_topic(gw, pd, "motion"), payload("routine"))
    await h.pub.publish(device_topic(gw, pd, "help_button"), payload("alarm"))
    # The alarm has its own session and lane: stored at once, while the routine event waits its 8 s batch.
    await eventually(lambda: "alarm" in {e.msg_id for e in h.seen}, timeout=3)
    assert [e.msg_id for e in h.seen] == ["alarm"]
    await svc.stop()  # finishes the batch in hand
    await eventually(lambda: {e.msg_id for e in h.seen} == {"routine", "alarm"}, timeout=3)


def poisoned(real, marker: bytes, exc: type[Exception]):
    """A stand-in that raises for the one message (or batch) carrying `marker`, else calls `real`."""
    def wrapper(raw, *args):
        if marker in getattr(raw, "payload", b""):
            raise exc("poison")
        return real(raw, *args)
    return wrapper


async def test_a_message_the_normaliser_chokes_on_is_dead_lettered_acked_and_the_rest_flow(
        h: Harness, monkeypatch: pytest.MonkeyPatch) -> None:
    import ingest.pipeline as service_module

    monkeypatch.setattr(service_module, "normalize", poisoned(service_module.normalize, b'"poison"', RuntimeError))
    health = Health()
    svc = h.service(batch_size=50, batch_ms=30, health=health)
    await svc.start()
    before = rejections("internal_error:RuntimeError")
    gw, pd = f"gw-{h.tag}-0", f"pd-{h.tag}-0"
    for msg_id in ("ok1", "poison", "ok2"):
        h.pub.publish_nowait(device_topic(gw, pd, "motion"), payload(msg_id))
    await h.pub.wait_all_published(5)
    await eventually(lambda: len(h.seen) == 2)
    await h.pub.publish(device_topic(gw, pd, "motion"), payload("ok3"))  # a later batch still flows
    await eventually(lambda: len(h.seen) == 3)
    assert {e.msg_id for e in h.seen} == {"ok1", "ok2", "ok3"}
    [row] = await h.db.fetch("SELECT reason, gateway_id, device_id, payload FROM dead_letters")
    assert (row["reason"], row["gateway_id"], row["device_id"]) == ("internal_error:RuntimeError", gw, pd)
    assert b'"poison"' in row["payload"]
    assert rejections("internal_error:RuntimeError") - before == 1
    assert health.ok and not svc.loop_task.done()
    await svc.stop()

    # It was acked: a restart with the same persistent session does not get it again.
    again = h.service(batch_size=50, batch_ms=30)
    await again.start()
    await h.pub.publish(device_topic(gw, pd, "motion"), payload("after-restart"))
    await eventually(lambda: len(h.seen) == 4)
    assert await h.count("SELECT count(*) FROM dead_letters") == 1
    await again.stop()


async def test_an_event_the_store_chokes_on_is_dead_lettered_and_the_batch_stored(
        h: Harness, monkeypatch: pytest.MonkeyPatch) -> None:
    svc = h.service(batch_size=50, batch_ms=30)
    real_store = svc._sink.store  # noqa: SLF001 - inject a bug for one event

    async def store(events, rejects):
        if any(e.msg_id == "poison" for e in events):
            raise TypeError("poison")
        return await real_store(events, rejects)

    monkeypatch.setattr(svc._sink, "store", store)  # noqa: SLF001
    await svc.start()
    gw, pd = f"gw-{h.tag}-1", f"pd-{h.tag}-1"
    for msg_id in ("a", "poison", "b"):
        h.pub.publish_nowait(device_topic(gw, pd, "motion"), payload(msg_id))
    h.pub.publish_nowait(device_topic(gw, pd, "motion"), b"junk")  # a plain reject in the same batch
    await h.pub.wait_all_published(5)
    await eventually(lambda: len(h.seen) == 2)
    assert {e.msg_id for e in h.seen} == {"a", "b"}
    reasons = await eventually(lambda: h.db.fetch("SELECT reason FROM dead_letters ORDER BY reason"))
    assert [r["reason"] for r in reasons] == ["internal_error:TypeError", "invalid_json"]
    await h.pub.publish(device_topic(gw, pd, "motion"), payload("c"))
    await eventually(lambda: len(h.seen) == 3)
    await svc.stop()


async def test_a_bad_topic_under_the_prefix_is_dead_lettered(h: Harness) -> None:
    svc = h.service(batch_ms=10)
    await svc.start()
    # The subscription filter decides what reaches ingest (a NUL the broker itself refuses); whatever
    # does, the normaliser classifies.
    gw = f"gw-{h.tag}-0"
    await h.pub.publish(device_topic(gw, "pd with spaces", "motion"), payload("spaces"))
    await h.pub.publish(device_topic(gw, "p" * 65, "motion"), payload("long"))
    await h.pub.publish(device_topic(gw, f"pd-{h.tag}-0", "motion"), payload("fine"))
    await eventually(lambda: len(h.seen) == 1)
    rows = await eventually(lambda: h.db.fetch("SELECT reason FROM dead_letters"))
    assert [r["reason"] for r in rows] == ["bad_topic", "bad_topic"]
    await svc.stop()


async def test_a_dead_processing_loop_reports_failed(h: Harness, monkeypatch: pytest.MonkeyPatch) -> None:
    health = Health()
    svc = h.service(batch_ms=10, health=health)

    async def broken(batch, results=None):
        raise RuntimeError("a bug outside any one message")

    monkeypatch.setattr(svc, "_handle", broken)
    await svc.start()
    assert health.ok
    await h.pub.publish(device_topic(f"gw-{h.tag}-0", f"pd-{h.tag}-0", "motion"), payload("x"))
    await eventually(lambda: svc.loop_task.done())  # at once, not at the next message
    [part] = health.failed()
    assert part.part == "ingest" and "RuntimeError" in part.detail
    await svc.stop()  # still disconnects cleanly
