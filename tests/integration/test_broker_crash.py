"""kill -9 of a broker holding a backlog loses nothing it acknowledged; a help press overtakes the backlog."""
from __future__ import annotations

import asyncio
import json
import time
import uuid
from datetime import datetime, timezone

from alerts.store import AlertStore
from demo.broker import EmbeddedBroker
from demo.fleet import barcelona_fleet, device_id, resident_id
from devices.registry import Registry
from ingest.service import IngestService
from ingest.topics import device_topic
from rules.runner import RulesRunner
from rules.stores import pg_rule_stores
from telecare import metrics
from telecare.bus import ALERTS, InProcessBus
from telecare.clock import SystemClock
from telecare.events import DeviceType
from telecare.mqtt import MqttPublisher
from telecare.store import Database
from tests.integration.broker_harness import Ingest, broker, message, until  # noqa: F401

BACKLOG = 20_000


async def _queue_backlog(pub: MqttPublisher, messages: list[tuple[str, bytes]]) -> None:
    for i, (topic, body) in enumerate(messages):
        pub.publish_nowait(topic, body)
        if i % 2000 == 1999:
            await asyncio.sleep(0)  # let paho's acknowledgements through
    await pub.wait_all_published(60)


async def test_kill_9_of_the_broker_keeps_every_acknowledged_message(broker: EmbeddedBroker, db: Database) -> None:
    ingest = Ingest(broker.url, db, 1)
    await ingest.start()  # creates the persistent sessions, then goes away: the broker holds the backlog
    await ingest.stop()
    sent = [f"b{i}" for i in range(BACKLOG)]
    pub = MqttPublisher(broker.url, "gateways")
    await pub.connect()
    await _queue_backlog(pub, [message(m, i, ingest.homes) for i, m in enumerate(sent)])
    acked_at = time.time_ns()  # every PUBACK is in
    store = broker.data_dir / "mosquitto.db"
    # mosquitto is single-threaded: a save that ends after the last PUBACK began after it, so it holds
    # every acknowledged message.
    saved_s = await until(lambda: store.exists() and store.stat().st_mtime_ns > acked_at, 1.0, "store saved")
    await pub.drop()
    broker.kill()
    broker.start()
    ingest = Ingest(broker.url, db, 1)
    await ingest.start()
    await until(lambda: len(ingest.on_bus) >= BACKLOG, 45, "backlog drained after the crash")
    stored = await ingest.stored()
    await ingest.stop()
    helps = [m for i, m in enumerate(sent) if i % 100 == 0]
    print(f"\n[kill -9] sent+acked={len(sent)} saved {saved_s:.2f}s after the last PUBACK; "
          f"stored={len(set(stored))} lost={len(set(sent) - set(stored))} duplicate rows={len(stored) - len(set(stored))}")
    assert sorted(stored) == sorted(sent)
    assert {e.msg_id for e in ingest.on_bus if e.type.value == "help_button"} == set(helps)


def _accepted() -> float:
    return metrics.REGISTRY.get_sample_value("telecare_ingest_messages_total", {"result": "accepted"}) or 0.0


async def test_a_help_press_reaches_the_operators_within_1s_under_a_20k_backlog(broker: EmbeddedBroker,
                                                                              db: Database) -> None:
    homes, clock = 50, SystemClock()
    residents, devices = barcelona_fleet(homes, seed=7, today=clock.now().date())
    registry = Registry(db)
    await registry.write_batch(residents, devices)
    bus = InProcessBus(max_pending=100_000)
    bus.register(ALERTS, "operators")
    tag = uuid.uuid4().hex[:6]
    ingest = IngestService(broker.url, db, bus, registry, clock, client_id=f"ingest-{tag}")
    await ingest.start()
    await ingest.stop()
    now = datetime.now(timezone.utc).isoformat()
    telemetry = []
    for i in range(BACKLOG):
        gw = device_id(DeviceType.GATEWAY, i % homes + 1)
        telemetry.append((device_topic(gw, gw, "heartbeat"), json.dumps({"msg_id": f"t{i}", "ts": now}).encode()))
    pub = MqttPublisher(broker.url, f"gateways-{tag}")
    await pub.connect()
    await _queue_backlog(pub, telemetry)

    runner = RulesRunner(pg_rule_stores(db), bus, registry, AlertStore(db, bus), clock)
    await runner.start()
    rules = asyncio.create_task(runner.run())
    before = _accepted()
    await ingest.start()  # the main session starts draining 20,000 queued heartbeats
    home = homes // 2
    pressed = time.perf_counter()
    await pub.publish(device_topic(device_id(DeviceType.GATEWAY, home), device_id(DeviceType.PENDANT, home),
                                   "help_button"), json.dumps({"msg_id": "help", "ts": now}).encode())

    async def help_alert() -> float:
        async for change in bus.subscribe(ALERTS, "operators"):
            alert = change.value.alert
            if alert.resident_id == resident_id(home) and alert.type.value == "help_button":
                return time.perf_counter() - pressed
        raise AssertionError("the bus closed")

    raised_s = await asyncio.wait_for(help_alert(), 10)
    drained_then = _accepted() - before
    row = await db.fetchrow("SELECT status FROM alerts WHERE resident_id = %s AND type = 'help_button'",
                            (resident_id(home),))
    await until(lambda: _accepted() - before >= BACKLOG + 1, 45, "backlog drained")
    await ingest.stop()
    rules.cancel()
    await asyncio.gather(rules, return_exceptions=True)
    await pub.disconnect()
    print(f"\n[alarm under backlog] help press -> alert on the operators' queue in {raised_s * 1000:.0f} ms; "
          f"{drained_then} of {BACKLOG} queued heartbeats stored by then")
    assert row is not None  # the AlertStore row, not only the bus change
    assert raised_s < 1.0
    assert drained_then < BACKLOG  # it did overtake the backlog
