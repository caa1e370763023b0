"""Benchmark: the Kafka path as separate processes, publish -> alert visible on the live stream.

`telecare run store|alerts|rules|ingest|web` each in its own process, on an embedded Kafka broker, an embedded
PostgreSQL and mosquitto (or TELECARE_KAFKA_BOOTSTRAP / TELECARE_DATABASE_URL / TELECARE_MQTT_URL when set).
(a) drain: N telemetry messages published to MQTT as fast as the broker takes them; the time until the store
    writer has stored them all, then until a help press published after that reaches the alerts topic
    (the rules have caught up): the path's maximum rate;
(b) live: steady telemetry at half that rate from another process (bench/live_publisher.py) with help presses at
    a known rate, each from a different resident (each raises a new alert); publish -> the `raised` change on
    the web's live stream (SSE, an operator's API token) and on the `alerts` topic (a group of its own):
    p50/p95/p99 (target p99 <= 250 ms).
Run: `telecare bench kafka-latency [--events N] [--live-seconds S]` or `python bench/kafka_latency.py [N]`.
TELECARE_BENCH_PYSPY=<file> with TELECARE_BENCH_PYSPY_PART=<part> records that part with py-spy during (b).
"""
from __future__ import annotations

import asyncio
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from contextlib import AsyncExitStack
from pathlib import Path

if __package__ in (None, ""):  # run as a script: make the repository importable
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import httpx  # noqa: E402

from bench.harness import publish_windowed, scratch_database, until  # noqa: E402
from bench.ingest import _drain_message, _payload  # noqa: E402
from bench.kafka_stack import PARTS, ROOT, PartProcesses, StreamWatcher, TopicWatcher, part_env  # noqa: E402
from demo.fleet import barcelona_fleet, device_id, resident_id  # noqa: E402
from devices.registry import Registry  # noqa: E402
from identity.model import Role  # noqa: E402
from identity.service import Identity  # noqa: E402
from ingest.topics import device_topic  # noqa: E402
from telecare.bus import ALERT_TRIGGERS, ALERTS, EVENTS  # noqa: E402
from telecare.clock import SystemClock  # noqa: E402
from telecare.events import DeviceType  # noqa: E402
from telecare.mqtt import MqttPublisher  # noqa: E402

P99_TARGET_MS = 250.0
MARKERS = 12  # help presses after the drain: on distinct residents, so (almost surely) on every partition


def _pcts(ms: list[float]) -> dict[str, float]:
    q = statistics.quantiles(ms, n=100, method="inclusive") if len(ms) > 1 else ms * 99
    return {"p50": round(statistics.median(ms), 1), "p95": round(q[94], 1), "p99": round(q[98], 1),
            "max": round(max(ms), 1)}


def _press(home: int, msg_id: str) -> tuple[str, bytes]:
    return (device_topic(device_id(DeviceType.GATEWAY, home), device_id(DeviceType.PENDANT, home), "help_button"),
            _payload(msg_id))


async def _services(stack: AsyncExitStack, work: Path) -> tuple[object, str, str, str]:
    """(db, database URL, MQTT URL, Kafka bootstrap): embedded unless configured."""
    db, url = await scratch_database(stack, "bench_kl")
    mqtt_url = os.environ.get("TELECARE_MQTT_URL")
    if not mqtt_url:
        from demo.broker import EmbeddedBroker, free_port

        broker = EmbeddedBroker(work / "mqtt", free_port())
        mqtt_url = broker.start()
        stack.callback(broker.stop)
    bootstrap = os.environ.get("TELECARE_KAFKA_BOOTSTRAP")
    if not bootstrap:
        from demo.kafka_broker import EmbeddedKafka

        kafka = EmbeddedKafka(work / "kafka", 0)
        bootstrap = await asyncio.to_thread(kafka.start)
        stack.callback(kafka.stop)
    return db, url, mqtt_url, bootstrap


async def _operator_token(db) -> str:
    identity = Identity(db, SystemClock())
    await identity.create_user("bench-operator", [Role.OPERATOR])
    return (await identity.issue_token("bench-operator", Role.OPERATOR, days=1, token_name="bench")).secret


async def _healthy(base: str, parts: PartProcesses, timeout: float = 120) -> None:
    async with httpx.AsyncClient(base_url=base, timeout=2) as client:
        deadline = time.monotonic() + timeout
        while True:
            parts.check()
            try:
                if (await client.get("/healthz")).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline:
                raise TimeoutError("web did not become healthy")
            await asyncio.sleep(0.2)


async def _drain(db, pub: MqttPublisher, parts: PartProcesses, n: int, homes: int, watch: TopicWatcher) -> dict:
    """(a): n messages queued while ingest is stopped, then ingest started: the store writer's and the rules' rate."""
    parts.stop_part("ingest")
    t0 = time.perf_counter()
    await publish_windowed(pub, (_drain_message(i, homes) for i in range(n)))
    published = time.perf_counter() - t0
    parts.start("ingest")
    launched, first, first_count, stored = time.perf_counter(), None, 0, 0
    deadline = time.monotonic() + 600
    while stored < n:
        if time.monotonic() > deadline:
            raise TimeoutError(f"the store writer stored {stored} of {n}")
        parts.check()
        stored = await db.fetchval("SELECT count(*) FROM events WHERE msg_id LIKE %s", ("d%",))
        if first is None and stored:
            first, first_count = time.perf_counter(), stored
        await asyncio.sleep(0.05)
    stored_at = time.perf_counter()
    # Presses after the last row is stored: an alert for each means the rules have evaluated the backlog too.
    markers = [resident_id(homes - 1 - k) for k in range(MARKERS)]
    for k in range(MARKERS):
        pub.publish_nowait(*_press(homes - 1 - k, f"m{k}"))
    await until(lambda: all(r in watch.arrived for r in markers), 300)
    caught_up = time.perf_counter()
    drained = max(n - first_count, 1)
    return {"events": n, "publish_s": round(published, 2), "ingest_start_to_first_row_s": round(first - launched, 2),
            "store_s": round(stored_at - first, 2), "store_events_per_s": round(drained / max(stored_at - first, 1e-3)),
            "rules_caught_up_s": round(caught_up - first, 2),
            "path_events_per_s": round(drained / max(caught_up - first, 1e-3))}


async def _live(mqtt_url: str, rate: float, seconds: float, homes: int, press_rate: float,
                stream: StreamWatcher, topics: dict[str, TopicWatcher], parts: PartProcesses) -> dict:
    """(b): steady load from another process; publish -> alert on the stream and on the topic."""
    every = max(1, round(rate / press_rate))
    profiler = None
    if os.environ.get("TELECARE_BENCH_PYSPY") and os.environ.get("TELECARE_BENCH_PYSPY_PART") in parts.procs:
        pid = parts.procs[os.environ["TELECARE_BENCH_PYSPY_PART"]].pid
        profiler = subprocess.Popen(["py-spy", "record", "-r", "100", "-f", "raw", "-o",
                                     os.environ["TELECARE_BENCH_PYSPY"], "-d", str(int(seconds) + 2), "--pid",
                                     str(pid)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    load0 = os.getloadavg()
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "bench.live_publisher", mqtt_url, str(rate), str(seconds), str(homes), str(every),
        stdout=asyncio.subprocess.PIPE, cwd=str(ROOT), env={**os.environ, "PYTHONPATH": str(ROOT)})
    out, _ = await proc.communicate()
    if proc.returncode != 0:
        raise RuntimeError(f"live publisher exited with {proc.returncode}")
    report = json.loads(out)
    sent: dict[str, float] = report["sent"]
    try:
        await until(lambda: all(r in stream.arrived and all(r in t.arrived for t in topics.values())
                                for r in sent), 120)
    except TimeoutError:
        pass  # reported below as presses that did not arrive
    if profiler is not None:
        await asyncio.to_thread(profiler.wait, 60)
    parts.check()
    on_stream = [(stream.arrived[r] - at) * 1000 for r, at in sent.items() if r in stream.arrived]
    on_topic = [(topics[ALERTS].arrived[r] - at) * 1000 for r, at in sent.items() if r in topics[ALERTS].arrived]
    stream_ms = _pcts(on_stream) if on_stream else None
    hops = {name: _pcts([(t.arrived[r] - at) * 1000 for r, at in sent.items() if r in t.arrived] or [0.0])
            for name, t in topics.items()}
    return {"rate_per_s": round(rate), "achieved_publish_per_s": round(report["published"] / report["seconds"]),
            "seconds": seconds, "press_rate_per_s": round(rate / every, 1), "presses": len(sent),
            "arrived_on_stream": len(on_stream), "arrived_on_topic": len(on_topic),
            "publish_to_stream_ms": stream_ms, "publish_to_alerts_topic_ms": _pcts(on_topic) if on_topic else None,
            "publish_to_topic_ms": hops,
            "target_p99_ms": P99_TARGET_MS,
            "meets_target": bool(stream_ms and len(on_stream) == len(sent) and stream_ms["p99"] <= P99_TARGET_MS),
            "loadavg_before": [round(x, 2) for x in load0], "loadavg_after": [round(x, 2) for x in os.getloadavg()]}


async def run_kafka_latency_bench(n: int = 20_000, *, homes: int = 2_000, live_seconds: float = 20.0,
                                  press_rate: float = 10.0, rate: float | None = None, rules_workers: int = 1) -> dict:
    """Start the parts as processes; (a) the drain rate, (b) publish -> alert at half of it (or at `rate`)."""
    from demo.broker import free_port

    tag = uuid.uuid4().hex[:6]
    async with AsyncExitStack() as stack:
        work = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="telecare-bench-kl-")))
        db, url, mqtt_url, bootstrap = await _services(stack, work)
        residents, devices = barcelona_fleet(homes, seed=7, today=SystemClock().now().date())
        await Registry(db).write_batch(residents, devices)
        token = await _operator_token(db)
        parts = PartProcesses(work, part_env(work, url, mqtt_url, bootstrap, tag))
        exits: dict[str, int] = {}
        stack.callback(lambda: exits.update(parts.stop()))  # before the database and brokers go
        port = free_port()
        for part in PARTS:
            parts.start(part, **({"TELECARE_HTTP_PORT": str(port)} if part == "web" else {}))
        for k in range(2, rules_workers + 1):  # more members of the group `events.rules`
            parts.start("rules", f"rules-{k}")
        base = f"http://127.0.0.1:{port}"
        started = time.perf_counter()
        await _healthy(base, parts)
        stream = StreamWatcher(base, token)
        stream.start()
        stack.push_async_callback(stream.close)
        topics = {t: TopicWatcher(bootstrap, t, f"bench-kl-{tag}") for t in (EVENTS, ALERT_TRIGGERS, ALERTS)}
        for watcher in topics.values():
            await watcher.start()
            stack.push_async_callback(watcher.close)
        pub = MqttPublisher(mqtt_url, f"bench-kl-pub-{tag}")
        await pub.connect()
        stack.push_async_callback(pub.disconnect)
        # Warm-up: one press through the whole path (every group joined, the web's stream live).
        pub.publish_nowait(*_press(homes, "warm"))
        await until(lambda: stream.failed() is None and resident_id(homes) in stream.arrived
                    and all(resident_id(homes) in t.arrived for t in topics.values()), 180)
        ready_s = time.perf_counter() - started
        drain = await _drain(db, pub, parts, n, homes, topics[ALERTS])
        live = await _live(mqtt_url, rate or drain["path_events_per_s"] / 2, live_seconds, homes, press_rate,
                           stream, topics, parts) if live_seconds > 0 else None
    return {"events": n, "residents": homes, "cores": os.cpu_count(), "parts": list(exits),
            "rules_workers": rules_workers,
            "ready_s": round(ready_s, 1), "drain": drain, "live": live, "exits": exits}


def main(argv: list[str] | None = None) -> int:
    """`python bench/kafka_latency.py [N] [LIVE_SECONDS] [RATE|half] [RULES_WORKERS]`: JSON; exit 1 if p99 misses."""
    argv = sys.argv[1:] if argv is None else argv
    n = int(argv[0]) if argv else 20_000
    seconds = float(argv[1]) if len(argv) > 1 else 20.0
    rate = float(argv[2]) if len(argv) > 2 and argv[2] != "half" else None
    workers = int(argv[3]) if len(argv) > 3 else 1
    result = asyncio.run(run_kafka_latency_bench(n, live_seconds=seconds, rate=rate, rules_workers=workers))
    print(json.dumps(result, indent=2))
    return 0 if result["live"] is None or result["live"]["meets_target"] else 1


if __name__ == "__main__":
    sys.exit(main())
