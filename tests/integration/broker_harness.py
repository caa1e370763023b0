"""Shared setup of the broker durability tests: a private mosquitto, a small fleet, ingest, counts."""
from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

import pytest

from demo.broker import EmbeddedBroker, free_port
from ingest.service import IngestService
from ingest.topics import device_topic
from telecare import metrics
from telecare.bus import EVENTS, InProcessBus
from telecare.clock import SystemClock
from telecare.events import Event
from telecare.people import Device, DeviceType
from telecare.store import Database
from tests.conftest import unavailable


@pytest.fixture
def broker(tmp_path: Path) -> Iterator[EmbeddedBroker]:
    """A mosquitto of this test alone (its own data dir), started with the platform's configuration."""
    b = EmbeddedBroker(tmp_path / "mqtt", free_port())
    b.start()
    if b.kind != "mosquitto":
        b.stop()
        unavailable("needs mosquitto (its on-disk persistence is what is tested)")
    yield b
    b.stop()


class Lookup:
    """`homes` gateways, each with one pendant; the registry as ingest sees it."""

    def __init__(self, homes: int) -> None:
        self.devices: dict[str, Device] = {}
        for i in range(homes):
            gw = f"gw-{i}"
            self.devices[gw] = Device(gw, DeviceType.GATEWAY, gw, f"r-{i}")
            self.devices[f"pd-{i}"] = Device(f"pd-{i}", DeviceType.PENDANT, gw, f"r-{i}")

    async def device(self, device_id: str) -> Device | None:
        return self.devices.get(device_id)


def message(msg_id: str, i: int, homes: int) -> tuple[str, bytes]:
    """Message number i: a gateway heartbeat, or a help press once in 100."""
    home = i % homes
    kind = ("pd", "help_button") if i % 100 == 0 else ("gw", "heartbeat")
    body = json.dumps({"msg_id": msg_id, "ts": datetime.now(timezone.utc).isoformat()}).encode()
    return device_topic(f"gw-{home}", f"{kind[0]}-{home}", kind[1]), body


def duplicates() -> float:
    """Messages ingest found already stored (redelivered copies, or the other process's copy)."""
    return metrics.REGISTRY.get_sample_value("telecare_ingest_messages_total", {"result": "duplicate"}) or 0.0


@dataclass
class Ingest:
    """k ingest "processes" (one client id each) on one bus; records what reaches the bus."""

    url: str
    db: Database
    processes: int
    homes: int = 20
    bus: InProcessBus = field(default_factory=lambda: InProcessBus(max_pending=100_000))
    on_bus: list[Event] = field(default_factory=list)
    password: str | None = None  # ingest's, with a broker that has accounts (each session logs in as its id)

    def __post_init__(self) -> None:
        self.bus.register(EVENTS, "test")
        lookup = Lookup(self.homes)
        self.services = [IngestService(self.url, self.db, self.bus, lookup, SystemClock(), client_id=f"telecare-ingest-{k}",
                                       batch_size=200, batch_ms=10, mqtt_password=self.password) for k in range(self.processes)]
        self._reader: asyncio.Task[None] | None = None

    async def _read(self) -> None:
        async for m in self.bus.subscribe(EVENTS, "test"):
            self.on_bus.append(m.value)

    async def start(self) -> None:
        self._reader = self._reader or asyncio.create_task(self._read())
        for svc in self.services:
            await svc.start()

    async def stop(self) -> None:
        for svc in self.services:
            await svc.stop()
        if self._reader is not None:
            self._reader.cancel()
            self._reader = None

    @property
    def connected(self) -> bool:
        return all(s.connected for s in self.services)

    async def stored(self) -> list[str]:
        return [r["msg_id"] for r in await self.db.fetch("SELECT msg_id FROM events")]


async def until(check, timeout: float, what: str) -> float:
    """Poll `check` (sync or async) until truthy; return the seconds it took; fail at the deadline."""
    start = time.monotonic()
    while True:
        value = check()
        if asyncio.iscoroutine(value):
            value = await value
        if value:
            return time.monotonic() - start
        if time.monotonic() - start > timeout:
            raise AssertionError(f"{what}: not within {timeout}s")
        await asyncio.sleep(0.01)
