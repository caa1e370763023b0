"""`telecare run rules` with TELECARE_KAFKA_BOOTSTRAP runs the Kafka rules worker (real PostgreSQL and Kafka)."""
from __future__ import annotations

import asyncio
import uuid
from contextlib import AsyncExitStack
from datetime import datetime, timezone
from pathlib import Path

from entrypoints import bootstrap
from rules.kafka_host import KafkaRulesHost
from rules.verdicts import verdict_key
from telecare.alerts import AlertTrigger, AlertType
from telecare.bus import ALERT_TRIGGERS, EVENTS
from telecare.events import DeviceType, Event, EventType
from telecare.people import Device, Resident
from telecare.settings import load_settings
from tests.conftest import eventually, start_kafka


async def test_run_rules_on_kafka_is_a_worker_that_publishes_keyed_verdicts(db_url, tmp_root, tmp_path: Path) -> None:
    # Its own broker: the product's group `events.rules` must not resume behind other tests' events.
    broker = start_kafka(tmp_root / f"kafka-wiring-{uuid.uuid4().hex[:6]}")
    try:
        await _run_rules(db_url, broker.bootstrap, tmp_path)
    finally:
        broker.stop()


async def _run_rules(db_url: str, kafka_bootstrap: str, tmp_path: Path) -> None:
    settings = load_settings(database_url=db_url, kafka_bootstrap=kafka_bootstrap, data_dir=tmp_path)
    rid = f"w-{uuid.uuid4().hex[:8]}"
    async with AsyncExitStack() as stack:
        core = await bootstrap.open_core(settings, stack)
        await core.registry.write_batch([Resident(rid, "Test Resident")],
                                        [Device(f"{rid}-gw", DeviceType.GATEWAY, f"{rid}-gw", rid),
                                         Device(f"{rid}-pendant", DeviceType.PENDANT, f"{rid}-gw", rid)])
        assert isinstance(bootstrap.build_rules(core), KafkaRulesHost)
        reader = f"wiring-{uuid.uuid4().hex[:6]}"
        core.bus.register(ALERT_TRIGGERS, reader)
        running = await bootstrap.start_parts(core, {"rules"}, None)
        got: list = []

        async def read() -> None:
            async for message in core.bus.subscribe(ALERT_TRIGGERS, reader):
                if message.key == rid:
                    got.append(message.value)

        reading = asyncio.create_task(read())
        try:
            await eventually(lambda: {p.part: p.state.value for p in core.health.parts()}.get("rules") == "ok",
                             timeout=60)
            now = datetime.now(timezone.utc)
            press = Event(uuid.uuid4(), f"{rid}-gw", f"{rid}-pendant", rid, EventType.HELP_BUTTON, now, now, "m-1")
            await core.bus.publish(EVENTS, rid, press)
            [verdict] = await eventually(lambda: got, timeout=60)
        finally:
            reading.cancel()
            await asyncio.gather(reading, return_exceptions=True)
            await running.stop()
    assert isinstance(verdict, AlertTrigger) and verdict.type is AlertType.HELP_BUTTON
    assert verdict_key(verdict) == f"event|{rid}|help_button|{press.id}"
