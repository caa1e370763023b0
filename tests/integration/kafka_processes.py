"""Fault tests of the Kafka path with real processes: `telecare run <part>` subprocesses, a steady load, counts.

The load: heartbeats over MQTT (QoS 1, each msg_id counted when the broker acknowledged it) and help triggers
on `alert-triggers` (each counted when Kafka acknowledged it), at a steady rate while a fault is injected.
At the end every sent msg_id must be in the events table once, and the alerts' counts must add up to the
triggers sent (one alert per resident: a replayed trigger attaches nothing).
"""
from __future__ import annotations

import asyncio
import os
import signal
import sys
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path

from alerts.bus_sink import BusVerdictSink
from telecare.errors import BusError
from telecare.kafkabus import KafkaBus
from telecare.mqtt import MqttPublisher
from telecare.store import Database
from tests.conftest import eventually
from tests.integration.kafka_harness import heartbeat, stored_msg_ids, tally, trigger

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
HOMES = 20
RATE = 100  # heartbeats per second
TRIGGER_EVERY = 20  # one help trigger per this many heartbeats


@dataclass
class Parts:
    """`telecare run <part>` processes of one test, with their logs."""

    tmp: Path
    env: dict[str, str]
    procs: dict[str, asyncio.subprocess.Process] = field(default_factory=dict)
    exits: dict[str, int] = field(default_factory=dict)

    async def start(self, part: str, name: str | None = None) -> None:
        name = name or part
        with open(self.tmp / f"{name}.log", "a") as log_file:
            self.procs[name] = await asyncio.create_subprocess_exec(
                sys.executable, "-m", "entrypoints.cli", "run", part, env=self.env, cwd=ROOT,
                stdout=log_file, stderr=log_file)

    def kill9(self, name: str) -> None:
        self.procs[name].send_signal(signal.SIGKILL)

    def alive(self) -> dict[str, bool]:
        return {n: p.returncode is None for n, p in self.procs.items()}

    async def stop(self) -> dict[str, int]:
        for p in self.procs.values():
            if p.returncode is None:
                p.terminate()
        for name, p in self.procs.items():
            self.exits[name] = await asyncio.wait_for(p.wait(), 20)
        return self.exits

    def log(self, name: str) -> str:
        return (self.tmp / f"{name}.log").read_text()


def part_env(tmp: Path, database_url: str, mqtt_url: str, bootstrap: str, tag: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("TELECARE_")}
    env.update(PYTHONPATH=ROOT, TELECARE_DATABASE_URL=database_url, TELECARE_MQTT_URL=mqtt_url,
               TELECARE_KAFKA_BOOTSTRAP=bootstrap, TELECARE_KAFKA_PARTITIONS="3", TELECARE_DATA_DIR=str(tmp / "data"),
               TELECARE_MQTT_CLIENT_ID=f"telecare-ingest-{tag}", TELECARE_INGEST_BATCH_MS="20",
               TELECARE_DB_POOL_SIZE="3", TELECARE_LOG_LEVEL="INFO")
    return env


class Load:
    """Steady heartbeats over MQTT and help triggers on Kafka; what was acknowledged is counted as sent."""

    def __init__(self, mqtt_url: str, bootstrap: str, tag: str) -> None:
        self.tag, self.sent, self.triggers = tag, [], []
        self._pub = MqttPublisher(mqtt_url, f"load-{tag}")
        self._bus = KafkaBus(bootstrap)
        self._sink = BusVerdictSink(self._bus)
        self._stop = asyncio.Event()
        self._tasks: list[asyncio.Task] = []
        self._pending_triggers: asyncio.Queue = asyncio.Queue()

    async def ready(self, db: Database) -> float:
        """Connect, then probe until ingest -> Kafka -> store writer answers (a probe heartbeat is stored)."""
        await self._pub.connect()
        start, n = time.monotonic(), 0

        async def probe() -> bool:
            nonlocal n
            n += 1
            self._pub.publish_nowait(*heartbeat(self.tag, 0, HOMES, f"probe-{n}"))
            await asyncio.sleep(0.2)  # probe pacing: the load is not running yet
            return any(m.startswith("probe-") for m in await stored_msg_ids(db, self.tag))

        await eventually(probe, timeout=60, interval=0.3)
        return time.monotonic() - start

    def start(self) -> None:
        self._tasks = [asyncio.create_task(self._heartbeats()), asyncio.create_task(self._send_triggers())]

    async def _heartbeats(self) -> None:
        i, started = 0, time.monotonic()
        while not self._stop.is_set():
            due = int((time.monotonic() - started) * RATE)
            for _ in range(due - i):
                msg_id = f"hb-{i}"
                self._pub.publish_nowait(*heartbeat(self.tag, i, HOMES, msg_id))
                self.sent.append(msg_id)  # acknowledged by the broker: checked by wait_all_published at the end
                if i % TRIGGER_EVERY == 0:
                    self._pending_triggers.put_nowait(trigger(f"r-{self.tag}-{(i // TRIGGER_EVERY) % HOMES}"))
                i += 1
            await asyncio.sleep(0.01)  # the load's own pacing

    async def _send_triggers(self) -> None:
        while True:
            t = await self._pending_triggers.get()
            try:
                await self._sink.raise_or_attach(t, t.at)  # returns once Kafka acknowledged it
                self.triggers.append(t)
            except BusError:
                pass  # not acknowledged: not counted as sent (a fault test run longer than the bus timeout)

    async def run_for(self, messages: int) -> None:
        """Let the load run until `messages` more heartbeats were sent."""
        target = len(self.sent) + messages
        await eventually(lambda: len(self.sent) >= target, timeout=60, interval=0.05)

    async def finish(self) -> None:
        """Stop the load; wait until the broker acknowledged every heartbeat and Kafka every trigger."""
        self._stop.set()
        await self._tasks[0]
        await self._pub.wait_all_published(30)
        await eventually(lambda: self._pending_triggers.empty(), timeout=70)
        await eventually(lambda: len(self.triggers) >= 1, timeout=5)
        self._tasks[1].cancel()
        await asyncio.gather(self._tasks[1], return_exceptions=True)

    async def close(self) -> None:
        self._stop.set()
        for t in self._tasks:
            t.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        await self._pub.disconnect()
        await self._bus.close()


async def settled(db: Database, load: Load, timeout: float = 40) -> dict[str, int]:
    """Wait until every sent heartbeat is stored and every trigger counted in an alert; the tally."""
    tag = load.tag

    async def done() -> dict[str, int] | None:
        counts = tally(load.sent, await stored_msg_ids(db, tag))
        alerts = await db.fetch("SELECT resident_id, count FROM alerts WHERE resident_id LIKE %s", (f"r-{tag}-%",))
        counts.update(triggers=len(load.triggers), alerts=len(alerts), attached=sum(a["count"] for a in alerts),
                      alert_residents=len({a["resident_id"] for a in alerts}))
        return counts if counts["lost"] == 0 and counts["attached"] >= counts["triggers"] else None

    try:
        return await eventually(done, timeout=timeout, interval=0.3)
    except AssertionError:
        counts = tally(load.sent, await stored_msg_ids(db, tag))
        raise AssertionError(f"not settled: {counts}, triggers {len(load.triggers)}") from None


def expected_alerts(load: Load) -> int:
    return len({t.resident_id for t in load.triggers})


def new_tag() -> str:
    return uuid.uuid4().hex[:6]
