"""Benchmark: draining a persistent MQTT session, bare subscriber vs the whole pipeline; live alert latency.

(a) a bare MqttSubscriber that only acks drains N queued messages: msgs/s.
(b) ingest -> store -> bus -> rules -> alerts drains the same N queued events: events/s; ratio b/a (target >= 0.7).
(c) live: help_button events published one by one at a modest rate; publish -> alert (bus `alerts`) p50/p99.
(d) live load: steady telemetry at half the drain rate with a help press every 100 messages, published from
    another process (bench/live_publisher.py, so its CPU is not the pipeline's), for a while
    (default 20 s, the periodic rule-state saves included): publish -> alert p50/p99 (target p99 <= 250 ms).
Run: `python bench/ingest.py [N]` or `telecare bench ingest`. Uses TELECARE_DATABASE_URL / TELECARE_MQTT_URL when
set (a scratch database is created), else an embedded PostgreSQL and broker.
"""
from __future__ import annotations

import asyncio
import gc
import json
import os
import sys
import time
import uuid
from contextlib import AsyncExitStack
from datetime import datetime, timezone
from pathlib import Path

if __package__ in (None, ""):  # run as a script: make the repository importable
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from demo.fleet import barcelona_fleet, device_id, resident_id  # noqa: E402
from devices.registry import Registry  # noqa: E402
from ingest.service import IngestService  # noqa: E402
from ingest.topics import DEVICE_FILTER, device_topic, shared  # noqa: E402
from alerts.store import AlertStore  # noqa: E402
from bench.harness import (  # noqa: E402
    percentiles, publish_windowed, services, start_profiler, stop_profiler, until,
)
from rules.runner import RulesRunner  # noqa: E402
from rules.stores import pg_rule_stores  # noqa: E402
from telecare import metrics  # noqa: E402
from telecare.bus import ALERTS, EVENTS, InProcessBus  # noqa: E402
from telecare.clock import SystemClock  # noqa: E402
from telecare.events import DeviceType, RawMessage  # noqa: E402
from telecare.mqtt import MqttPublisher, MqttSubscriber  # noqa: E402

TARGET_RATIO = 0.7
LIVE_P99_TARGET_MS = 250.0
# Drain mix: everyday sensor traffic; one message in 200 is a fall (raises an alert).
MIX = ((DeviceType.MOTION_SENSOR, "motion"), (DeviceType.GATEWAY, "heartbeat"),
       (DeviceType.BED_SENSOR, "bed_return"), (DeviceType.MEDICATION_DISPENSER, "medication_taken"))


def _payload(msg_id: str) -> bytes:
    return json.dumps({"msg_id": msg_id, "ts": datetime.now(timezone.utc).isoformat(), "battery": 90}).encode()


def _drain_message(i: int, homes: int) -> tuple[str, bytes]:
    home = i % homes + 1
    kind, event = (DeviceType.FALL_SENSOR, "fall") if i % 200 == 0 else MIX[i % len(MIX)]
    gw = device_id(DeviceType.GATEWAY, home)
    return device_topic(gw, device_id(kind, home), event), _payload(f"d{i}")


def _accepted() -> float:
    return metrics.REGISTRY.get_sample_value("telecare_ingest_messages_total", {"result": "accepted"}) or 0.0


def _rules_processed() -> float:
    return sum(s.value for m in metrics.EVENTS_PROCESSED.collect() for s in m.samples if s.name.endswith("_total"))


async def _baseline(mqtt_url: str, client_id: str, n: int) -> tuple[float, float]:
    """Wall and CPU seconds a bare subscriber takes to drain (receive + ack) n queued messages."""
    got = 0
    sub: MqttSubscriber

    def on_message(raw: RawMessage) -> None:
        nonlocal got
        got += 1
        sub.ack(raw.ack_token)

    sub = MqttSubscriber(mqtt_url, client_id, [(shared("bench-bare", DEVICE_FILTER), 1)], on_message)
    started, cpu = time.perf_counter(), time.process_time()
    await sub.start()
    await until(lambda: got >= n, 600)
    elapsed, cpu = time.perf_counter() - started, time.process_time() - cpu
    await sub.stop()
    return elapsed, cpu


async def _latency(pub: MqttPublisher, bus: InProcessBus, homes: int, count: int, rate: float,
                   alerts: bool) -> tuple[list[float], list[float], asyncio.Task[None]]:
    """Publish -> event on the bus and -> AlertChange, in ms, for `count` help_button presses on distinct homes."""
    bus.register(EVENTS, "bench-live")  # only now: the drain's events are not queued for us
    sent: dict[str, float] = {}
    to_bus: list[float] = []
    to_alert: list[float] = []

    async def watch_events() -> None:
        async for message in bus.subscribe(EVENTS, "bench-live"):
            if message.key in sent and message.value.type.value == "help_button":
                to_bus.append((time.perf_counter() - sent[message.key]) * 1000)

    async def watch_alerts() -> None:
        async for message in bus.subscribe(ALERTS, "bench"):
            rid = message.value.alert.resident_id
            if rid in sent and message.value.alert.type.value == "help_button":
                to_alert.append((time.perf_counter() - sent[rid]) * 1000)

    watchers = [asyncio.create_task(watch_events()), asyncio.create_task(watch_alerts())]
    for k in range(count):
        home = homes - k  # the drain phase pressed no help button anywhere
        sent[resident_id(home)] = time.perf_counter()
        pub.publish_nowait(device_topic(device_id(DeviceType.GATEWAY, home), device_id(DeviceType.PENDANT, home),
                                        "help_button"), _payload(f"h{k}"))
        await asyncio.sleep(1 / rate)
    await until(lambda: len(to_bus) >= count and (not alerts or len(to_alert) >= count), 60)
    watchers[1].cancel()
    # The events watcher keeps reading (and ignoring): a registered group nobody reads would pile up every
    # later event in memory, and the garbage collector's passes over them would stall the live phase.
    return to_bus, to_alert, watchers[0]


async def _live_load(mqtt_url: str, bus: InProcessBus, homes: int, rate: float, seconds: float) -> dict:
    """Steady load from another process (bench/live_publisher.py) with help presses: publish -> alert."""
    arrived: dict[str, float] = {}

    async def watch_alerts() -> None:
        async for message in bus.subscribe(ALERTS, "bench"):
            if message.value.alert.type.value == "help_button":
                arrived.setdefault(message.value.alert.resident_id, time.time())

    pauses: list[float] = []  # garbage-collector pauses of this process meanwhile (a stalled loop's usual suspect)
    began: list[float] = []

    def on_gc(phase: str, info: dict) -> None:
        if phase == "start":
            began[:] = [time.perf_counter()]
        elif began:
            pauses.append((time.perf_counter() - began[0]) * 1000)

    gc.callbacks.append(on_gc)
    watcher = asyncio.create_task(watch_alerts())
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "bench.live_publisher", mqtt_url, str(rate), str(seconds), str(homes),
        stdout=asyncio.subprocess.PIPE, cwd=str(Path(__file__).resolve().parents[1]))
    out, _ = await proc.communicate()
    if proc.returncode != 0:
        raise RuntimeError(f"live publisher exited with {proc.returncode}")
    report = json.loads(out)
    sent: dict[str, float] = report["sent"]
    await until(lambda: all(rid in arrived for rid in sent), 120)
    watcher.cancel()
    gc.callbacks.remove(on_gc)
    ms = percentiles([(arrived[rid] - at) * 1000 for rid, at in sent.items()])
    return {"rate_per_s": round(rate), "achieved_publish_per_s": round(report["published"] / report["seconds"]),
            "seconds": seconds, "presses": len(sent), "publish_to_alert_ms": ms,
            "target_p99_ms": LIVE_P99_TARGET_MS, "meets_target": ms["p99"] <= LIVE_P99_TARGET_MS,
            "gc_pauses": len(pauses), "gc_pause_max_ms": round(max(pauses, default=0.0), 1),
            "gc_pause_total_ms": round(sum(pauses), 1)}


async def run_ingest_bench(n: int = 20_000, *, homes: int = 2_000, live_events: int = 200,
                           live_rate: float = 50.0, batch_size: int = 500, batch_ms: int = 50,
                           with_rules: bool = True, live_load_s: float = 0.0,
                           live_load_rate: float | None = None) -> dict:
    """Drain N queued messages bare and through the pipeline; measure live help_button -> alert latency."""
    async with AsyncExitStack() as stack:
        db, mqtt_url = await services(stack)
        clock = SystemClock()
        residents, devices = barcelona_fleet(homes, seed=7, today=clock.now().date())
        registry = Registry(db)
        await registry.write_batch(residents, devices)
        bus = InProcessBus(max_pending=100_000)
        bus.register(ALERTS, "bench")
        tag = uuid.uuid4().hex[:6]
        ingest = IngestService(mqtt_url, db, bus, registry, clock,
                               client_id=f"bench-ingest-{tag}", batch_size=batch_size, batch_ms=batch_ms)
        bare_id = f"bench-bare-{tag}"
        # Create both persistent sessions, then queue N messages for each while they are away.
        await ingest.start()
        await ingest.stop()
        bare = MqttSubscriber(mqtt_url, bare_id, [(shared("bench-bare", DEVICE_FILTER), 1)], lambda m: None)
        await bare.start()
        await bare.stop()
        pub = MqttPublisher(mqtt_url, f"bench-pub-{tag}")
        await pub.connect()
        stack.push_async_callback(pub.disconnect)
        t0 = time.perf_counter()
        await publish_windowed(pub, (_drain_message(i, homes) for i in range(n)))
        publish_s = time.perf_counter() - t0

        bare_s, bare_cpu = await _baseline(mqtt_url, bare_id, n)

        runner = RulesRunner(pg_rule_stores(db), bus, registry, AlertStore(db, bus), clock, tick_seconds=1.0)
        await runner.start()  # registry and state load is not part of the drain
        # As the composition root does once the parts started (entrypoints/bootstrap.py start_parts);
        # TELECARE_BENCH_GC_FREEZE=0 measures without it.
        if os.environ.get("TELECARE_BENCH_GC_FREEZE", "1") != "0":
            gc.collect()
            gc.freeze()
        rules_task = asyncio.create_task(runner.run() if with_rules else asyncio.sleep(3600))
        before, stored_before = _rules_processed(), _accepted()
        profiler = await start_profiler()
        t1, cpu1 = time.perf_counter(), time.process_time()
        await ingest.start()
        await until(lambda: _accepted() - stored_before >= n, 600)
        ingest_s = time.perf_counter() - t1
        await until(lambda: not with_rules or _rules_processed() - before >= n, 600)
        pipeline_s, pipeline_cpu = time.perf_counter() - t1, time.process_time() - cpu1
        await stop_profiler(profiler)
        stored = await db.fetchval("SELECT count(*) FROM events")

        to_bus, latencies, reader = await _latency(pub, bus, homes, min(live_events, homes // 2), live_rate,
                                                   with_rules)
        # Live mode: a steady load at half the drain rate just measured, the periodic state save included.
        live = (await _live_load(mqtt_url, bus, homes, live_load_rate or n / pipeline_s / 2, live_load_s)
                if live_load_s and with_rules else None)
        await ingest.stop()
        reader.cancel()
        rules_task.cancel()
        await asyncio.gather(rules_task, return_exceptions=True)
        alerts = await db.fetchval("SELECT count(*) FROM alerts")
    bare_rate, pipe_rate = n / bare_s, n / pipeline_s
    return {
        "messages": n, "homes": homes, "publish_msgs_per_s": round(n / publish_s),
        "bare_drain_msgs_per_s": round(bare_rate), "pipeline_drain_events_per_s": round(pipe_rate),
        "ingest_stored_events_per_s": round(n / ingest_s),
        "bare_cpu_us_per_msg": round(bare_cpu / n * 1e6, 1), "pipeline_cpu_us_per_event": round(pipeline_cpu / n * 1e6, 1), "pipeline_wall_s": round(pipeline_s, 2),
        "ratio": round(pipe_rate / bare_rate, 3), "target_ratio": TARGET_RATIO,
        # CPU per message bare / per event through the pipeline: steadier than wall rates on a shared machine.
        "cpu_ratio": round(bare_cpu / pipeline_cpu, 3),
        "meets_target": pipe_rate / bare_rate >= TARGET_RATIO, "events_stored": stored, "alerts": alerts,
        "live_events": len(latencies), "live_rate_per_s": live_rate,
        "publish_to_bus_ms": percentiles(to_bus), "publish_to_alert_ms": percentiles(latencies) if with_rules else None,
        "batch_size": batch_size, "batch_ms": batch_ms, "live_load": live,
    }


if __name__ == "__main__":
    # [N] [live seconds]: the live mode runs at half the measured drain rate (0 skips it).
    result = asyncio.run(run_ingest_bench(int(sys.argv[1]) if len(sys.argv) > 1 else 20_000,
                                          live_load_s=float(sys.argv[2]) if len(sys.argv) > 2 else 20.0))
    print(json.dumps(result, indent=2))
