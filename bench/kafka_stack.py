"""Plumbing of `bench/kafka_latency.py`: the parts as `telecare run <part>` processes, and two alert watchers.

The watchers record when each resident's help_button alert was first raised, in wall-clock seconds
(time.time), so they compare with press times taken in another process (bench/live_publisher.py).
"""
from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from bench.sse import sse_frames
from telecare.alerts import AlertTrigger
from telecare.bus import ALERT_TRIGGERS, ALERTS
from telecare.kafkabus import KafkaBus

ROOT = Path(__file__).resolve().parents[1]
PARTS = ("store", "alerts", "rules", "ingest", "web")  # the start order of `run all`


@dataclass
class PartProcesses:
    """`python -m entrypoints.cli run <part>` processes with their logs in `work`."""

    work: Path
    env: dict[str, str]
    procs: dict[str, subprocess.Popen] = field(default_factory=dict)

    def start(self, part: str, name: str | None = None, **extra: str) -> None:
        """Start `run <part>` as `name` (default: the part; a second rules worker needs its own name)."""
        with open(self.work / f"{name or part}.log", "ab") as log:
            self.procs[name or part] = subprocess.Popen([sys.executable, "-m", "entrypoints.cli", "run", part],
                                                env={**self.env, **extra}, cwd=str(ROOT), stdout=log,
                                                stderr=subprocess.STDOUT)

    def stop_part(self, part: str) -> None:
        """SIGTERM one part and wait for it (ingest: its persistent MQTT sessions queue meanwhile)."""
        self.procs[part].terminate()
        self.procs[part].wait(30)

    def check(self) -> None:
        """Raise if a part exited (with the tail of its log)."""
        for part, proc in self.procs.items():
            if proc.poll() is not None:
                tail = (self.work / f"{part}.log").read_text(errors="replace")[-2000:]
                raise RuntimeError(f"part {part} exited with {proc.returncode}:\n{tail}")

    def stop(self) -> dict[str, int]:
        """SIGTERM every part, wait; their exit codes."""
        for proc in self.procs.values():
            if proc.poll() is None:
                proc.terminate()
        codes = {}
        for part, proc in self.procs.items():
            try:
                codes[part] = proc.wait(20)
            except subprocess.TimeoutExpired:
                proc.kill()
                codes[part] = proc.wait(10)
        return codes


def part_env(work: Path, database_url: str, mqtt_url: str, bootstrap: str, tag: str) -> dict[str, str]:
    """The environment of every part: this run's database, broker and Kafka; nothing from the caller's TELECARE_*."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("TELECARE_")}
    env.update(PYTHONPATH=str(ROOT), TELECARE_DATABASE_URL=database_url, TELECARE_MQTT_URL=mqtt_url,
               TELECARE_KAFKA_BOOTSTRAP=bootstrap, TELECARE_DATA_DIR=str(work / "data"),
               TELECARE_MQTT_CLIENT_ID=f"telecare-ingest-kl{tag}", TELECARE_DB_POOL_SIZE="4",
               TELECARE_LOG_LEVEL="WARNING")
    for knob in ("TELECARE_INGEST_BATCH_MS", "TELECARE_INGEST_BATCH_SIZE", "TELECARE_KAFKA_PARTITIONS",
                 "TELECARE_TICK_SECONDS"):  # the knobs a latency run may want to vary
        if knob in os.environ:
            env[knob] = os.environ[knob]
    return env


class StreamWatcher:
    """Reads the web's live stream (SSE) as the operator page does; first `raised` help alert per resident."""

    def __init__(self, base: str, token: str) -> None:
        self.base, self.headers = base, {"Authorization": f"Bearer {token}"}
        self.arrived: dict[str, float] = {}
        self.live = False
        self._task: asyncio.Task | None = None

    def start(self) -> None:
        self._task = asyncio.create_task(self._read())

    async def _read(self) -> None:
        async with httpx.AsyncClient(base_url=self.base, timeout=httpx.Timeout(10, read=None),
                                     headers=self.headers) as client:
            async with client.stream("GET", "/api/alerts/stream") as response:
                response.raise_for_status()
                async for event, data in sse_frames(response):
                    self._frame(event, data, time.time())

    def _frame(self, event: str, data: dict, at: float) -> None:
        if event in ("snapshot", "status"):
            self.live = bool(data.get("live"))
        elif event == "change" and data.get("kind") == "raised" and data["alert"]["type"] == "help_button":
            self.arrived.setdefault(data["alert"]["resident_id"], at)

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)

    def failed(self) -> BaseException | None:
        """The reader's exception, if it ended."""
        return self._task.exception() if self._task is not None and self._task.done() else None


def _help(topic: str, value) -> str | None:
    """The resident of a help press (events), its trigger (alert-triggers) or its raised alert (alerts)."""
    if topic == ALERTS:
        ok = value.kind.value == "raised" and value.alert.type.value == "help_button"
        return value.alert.resident_id if ok else None
    if topic == ALERT_TRIGGERS:
        return value.resident_id if isinstance(value, AlertTrigger) and value.type.value == "help_button" else None
    return value.resident_id if value.type.value == "help_button" else None


class TopicWatcher:
    """A consumer group of its own on one topic of the path: the hop-by-hop measure (no web in between)."""

    def __init__(self, bootstrap: str, topic: str, group: str) -> None:
        self.bus, self.topic, self.group = KafkaBus(bootstrap), topic, group
        self.arrived: dict[str, float] = {}
        self._task: asyncio.Task | None = None

    async def start(self) -> None:
        self.bus.register(self.topic, self.group)
        await self.bus.anchor(self.topic, self.group)
        self._task = asyncio.create_task(self._read())

    async def _read(self) -> None:
        async for message in self.bus.subscribe(self.topic, self.group):
            rid = _help(self.topic, message.value)
            if rid is not None:
                self.arrived.setdefault(rid, time.time())

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
        await self.bus.close()
