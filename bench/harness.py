"""Shared benchmark plumbing: scratch database and broker, windowed publishing, percentiles, py-spy."""
from __future__ import annotations

import asyncio
import os
import signal
import statistics
import subprocess
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import AsyncExitStack, contextmanager
from datetime import datetime, timezone
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

from telecare.mqtt import MqttPublisher
from telecare.store import Database
from telecare.store.migrate import maintain, upgrade

# Message ids are 16-bit: paho refuses a publish once 65,535 are unacknowledged ("Message queue full").
PUBLISH_WINDOW = 20_000


async def publish_windowed(pub: MqttPublisher, messages, window: int = PUBLISH_WINDOW) -> int:
    """QoS 1 publishes in windows of `window`, each acknowledged before the next (paho caps unacked at 65,535)."""
    sent = 0
    for topic, body in messages:
        pub.publish_nowait(topic, body)
        sent += 1
        if sent % window == 0:
            await pub.wait_all_published(600)
    await pub.wait_all_published(600)
    return sent


def percentiles(ms: list[float]) -> dict[str, float]:
    return {"p50": round(statistics.median(ms), 1), "p99": round(statistics.quantiles(ms, n=100)[98], 1)}


async def until(check, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise TimeoutError("benchmark stalled")
        await asyncio.sleep(0.005)


async def start_profiler() -> subprocess.Popen | None:
    """With TELECARE_BENCH_PYSPY=<file>: py-spy samples this process (all threads) during the drain only."""
    out = os.environ.get("TELECARE_BENCH_PYSPY")
    if not out:
        return None
    proc = subprocess.Popen(["py-spy", "record", "-r", "200", "-f", "raw", "-o", out, "--pid", str(os.getpid())],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    await asyncio.sleep(1.0)  # py-spy attaches
    return proc


async def stop_profiler(proc: subprocess.Popen | None) -> None:
    if proc is not None:
        proc.send_signal(signal.SIGINT)  # py-spy writes its file on SIGINT
        await asyncio.to_thread(proc.wait, 30)


async def scratch_database(stack: AsyncExitStack, prefix: str = "bench") -> tuple[Database, str]:
    """A scratch migrated database (embedded PostgreSQL unless TELECARE_DATABASE_URL) and the server's URL."""
    tmp = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="telecare-bench-")))
    server = os.environ.get("TELECARE_DATABASE_URL")
    if not server:
        from telecare.store.embedded import EmbeddedPostgres

        pg = EmbeddedPostgres(tmp / "pg")
        server = await asyncio.to_thread(pg.start)
        stack.callback(pg.stop)
    admin = await Database.connect(server, min_size=1, max_size=1)
    stack.push_async_callback(admin.close)
    name = f"{prefix}_{uuid.uuid4().hex[:8]}"
    await admin.execute(f'CREATE DATABASE "{name}"')
    stack.push_async_callback(admin.execute, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    url = urlunsplit(urlsplit(server)._replace(path=f"/{name}"))
    db = await Database.connect(url, min_size=2, max_size=10)
    stack.push_async_callback(db.close)
    await upgrade(db)
    await maintain(db, datetime.now(timezone.utc))
    return db, url


async def services(stack: AsyncExitStack) -> tuple[Database, str]:
    """A scratch migrated database and a broker URL (embedded unless configured)."""
    db, _ = await scratch_database(stack, "bench_ingest")
    mqtt_url = os.environ.get("TELECARE_MQTT_URL")
    if not mqtt_url:
        from demo.broker import EmbeddedBroker, free_port

        tmp = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="telecare-bench-mqtt-")))
        broker = EmbeddedBroker(tmp / "mqtt", free_port())
        mqtt_url = broker.start()
        stack.callback(broker.stop)
    return db, mqtt_url


@contextmanager
def kafka_broker(work: Path) -> Iterator[str]:
    """TELECARE_KAFKA_BOOTSTRAP, or an embedded Kafka broker in `work` for the block (stopped after it)."""
    bootstrap = os.environ.get("TELECARE_KAFKA_BOOTSTRAP")
    if bootstrap:
        yield bootstrap
        return
    from demo.kafka_broker import EmbeddedKafka

    broker = EmbeddedKafka(work / "kafka", 0)
    try:
        yield broker.start()
    finally:
        broker.stop()
