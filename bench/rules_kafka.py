"""Benchmark: the Kafka rules worker draining a pre-loaded `events` backlog.

(a) a plain consumer-group member (telecare/kafkafeed.py GroupMember: getmany, commit per batch) that decodes each
    event and runs the engine on an in-memory dict of states: no state topic, no verdicts published;
(b) one KafkaRulesHost (state to rules-state, verdicts to alert-triggers, commit after both are acked); ratio b/a
    (target >= 0.5);
(c) the same drain by two worker processes / by one worker process: how the rules scale over processes (cores);
    `--scaling [N] [REPEATS]` runs only (c), REPEATS times (default 3), with the load average before each pair,
    and reports the range (the issue asks two / one >= 1.8 on separate cores).
Run: `telecare bench rules-kafka [--events N]` or `python bench/rules_kafka.py [N]`. Uses TELECARE_KAFKA_BOOTSTRAP
when set, else an embedded Kafka broker in a temporary directory.
"""
from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import tempfile
import time
import uuid
from datetime import datetime, timezone
from pathlib import Path

if __package__ in (None, ""):  # run as a script: make the repository importable
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.harness import kafka_broker  # noqa: E402
from rules.engine import evaluate, new_state  # noqa: E402
from rules.kafka_host import KafkaRulesHost  # noqa: E402
from telecare.bus import EVENTS  # noqa: E402
from telecare.clock import SystemClock  # noqa: E402
from telecare.events import DeviceType, Event, EventType, decode_event  # noqa: E402
from telecare.fakes import InMemoryResidents  # noqa: E402
from telecare.kafkabus import KafkaBus  # noqa: E402
from telecare.people import Device, Resident  # noqa: E402

TARGET_RATIO = 0.5
HOMES = 1000
KINDS = ((DeviceType.PENDANT, EventType.HEARTBEAT), (DeviceType.MOTION_SENSOR, EventType.MOTION),
         (DeviceType.BED_SENSOR, EventType.BED_RETURN))


def residents() -> InMemoryResidents:
    """HOMES residents with a pendant, a motion sensor, a bed sensor and a fall sensor each."""
    rids = [f"bk-{i}" for i in range(HOMES)]
    kinds = [k for k, _ in KINDS] + [DeviceType.FALL_SENSOR]
    return InMemoryResidents([Resident(r, "Bench Resident") for r in rids],
                             [Device(f"{r}-{k.value}", k, f"{r}-gw", r) for r in rids for k in kinds])


def _event(i: int) -> Event:
    rid, now = f"bk-{i % HOMES}", datetime.now(timezone.utc)
    kind, etype = (DeviceType.FALL_SENSOR, EventType.FALL) if i % 200 == 0 else KINDS[i % len(KINDS)]
    return Event(uuid.uuid4(), f"{rid}-gw", f"{rid}-{kind.value}", rid, etype, now, now, f"m{i}", 90)


async def _load(bus: KafkaBus, groups: list[str], n: int) -> None:
    for group in groups:  # anchored before the load: the backlog is theirs
        bus.register(EVENTS, group)
        await bus.anchor(EVENTS, group)
    for start in range(0, n, 5000):
        await bus.publish_many(EVENTS, [(e.resident_id, e) for e in map(_event, range(start, min(n, start + 5000)))])


async def _plain(bus: KafkaBus, group: str, n: int) -> float:
    """(a): decode + engine per event, dict state, commit per batch; events/s."""
    lookup, clock = residents(), SystemClock()
    people = {r.id: r for r in lookup.residents}
    devices: dict[str, list[Device]] = {}
    for d in lookup.devices:
        devices.setdefault(d.resident_id, []).append(d)
    states: dict = {}

    async def nothing(_: set[int]) -> None:
        return None

    member = bus.member(EVENTS, group, nothing, nothing)
    await member.start(bus.registered_at(EVENTS, group))
    done, started = 0, None
    try:
        while done < n:
            _, batch = await member.fetch(500)
            started = started or time.perf_counter()
            offsets = {}
            for partition, records in batch.items():
                for offset, _key, raw in records:
                    event = decode_event(raw)
                    rid = event.resident_id
                    offsets[partition] = offset + 1
                    if rid not in people:  # another producer's event on a shared broker (anchoring keeps 1 s before)
                        continue
                    states[rid], _ = evaluate(event, people[rid], devices[rid], states.get(rid) or new_state(rid),
                                              clock.now())
                    offsets[partition] = offset + 1
                    done += 1
            await member.commit(offsets)
    finally:
        await member.stop()
    return n / (time.perf_counter() - started)


async def _hosted(bus: KafkaBus, group: str, n: int) -> float:
    """(b): one KafkaRulesHost in this process; events/s from its first evaluated event."""
    host = KafkaRulesHost(bus, residents(), SystemClock(), tick_seconds=0.5, group=group)
    task = asyncio.create_task(host.run())
    started, launched = None, time.perf_counter()
    try:
        while host.evaluated < n:
            if task.done():
                task.result()
            if started is None and host.evaluated:
                started = time.perf_counter()
            await asyncio.sleep(0.01)
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
    return n / (time.perf_counter() - (started or launched))  # a tiny N can be done before the first poll


def _spawn(bootstrap: str, group: str, status: Path) -> subprocess.Popen:
    spec = status.with_suffix(".json")
    spec.write_text(json.dumps({"bootstrap": bootstrap, "group": group, "status": str(status)}))
    return subprocess.Popen([sys.executable, str(Path(__file__).resolve()), "--worker", str(spec)],
                            env={**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1])})


def _evaluated(paths: list[Path]) -> int:
    total = 0
    for p in paths:
        try:
            total += json.loads(p.read_text())["evaluated"]
        except (OSError, ValueError):
            pass
    return total


async def _processes(bootstrap: str, group: str, n: int, count: int, work: Path) -> float:
    """(c): `count` worker processes drain the backlog; events/s from the first evaluated event."""
    paths = [work / f"{group}-{i}.status" for i in range(count)]
    procs = [_spawn(bootstrap, group, p) for p in paths]
    started, launched = None, time.perf_counter()
    try:
        while _evaluated(paths) < n:
            if any(p.poll() is not None for p in procs):
                raise RuntimeError("a rules worker process exited")
            if started is None and _evaluated(paths):
                started = time.perf_counter()
            await asyncio.sleep(0.02)
        return n / (time.perf_counter() - (started or launched))
    finally:
        for p in procs:
            p.terminate()
        for p in procs:
            p.wait(timeout=30)


async def _worker(spec_path: str) -> None:
    """A worker process of (c): a KafkaRulesHost writing its evaluated count to a status file."""
    spec = json.loads(Path(spec_path).read_text())
    bus = KafkaBus(spec["bootstrap"])
    host = KafkaRulesHost(bus, residents(), SystemClock(), tick_seconds=0.5, group=spec["group"])
    task, status = asyncio.create_task(host.run()), Path(spec["status"])
    try:
        while not task.done():
            status.with_suffix(".tmp").write_text(json.dumps({"evaluated": host.evaluated}))
            status.with_suffix(".tmp").replace(status)
            await asyncio.sleep(0.05)
        task.result()
    finally:
        task.cancel()
        await bus.close()


async def run_rules_kafka_bench(n: int = 50_000) -> dict:
    """Run (a), (b), (c) on a fresh backlog each; return the numbers."""
    with tempfile.TemporaryDirectory(prefix="telecare-bench-rk-") as tmp, kafka_broker(Path(tmp)) as bootstrap:
        bus = KafkaBus(bootstrap)
        try:
            tag = uuid.uuid4().hex[:6]
            groups = {k: f"bench-{k}-{tag}" for k in ("plain", "host", "one", "two")}
            await _load(bus, list(groups.values()), n)  # one backlog, each group drains all of it
            plain = await _plain(bus, groups["plain"], n)
            hosted = await _hosted(bus, groups["host"], n)
            one = await _processes(bootstrap, groups["one"], n, 1, Path(tmp))
            two = await _processes(bootstrap, groups["two"], n, 2, Path(tmp))
        finally:
            await bus.close()
    return {"events": n, "residents": HOMES, "cores": os.cpu_count(),
            "plain_consumer_events_per_s": round(plain), "rules_worker_events_per_s": round(hosted),
            "ratio_worker_vs_plain": round(hosted / plain, 2), "target_ratio": TARGET_RATIO,
            "one_process_events_per_s": round(one), "two_processes_events_per_s": round(two),
            "ratio_two_vs_one": round(two / one, 2)}


async def run_rules_scaling_bench(n: int = 50_000, repeats: int = 3) -> dict:
    """(c) alone, `repeats` times on one backlog (a group per run): each two / one ratio and the load average."""
    runs = []
    with tempfile.TemporaryDirectory(prefix="telecare-bench-rk-") as tmp, kafka_broker(Path(tmp)) as bootstrap:
        bus = KafkaBus(bootstrap)
        try:
            tag = uuid.uuid4().hex[:6]
            groups = [(f"bench-one-{tag}-{i}", f"bench-two-{tag}-{i}") for i in range(repeats)]
            await _load(bus, [g for pair in groups for g in pair], n)
            for one_group, two_group in groups:
                load = os.getloadavg()[0]
                one = await _processes(bootstrap, one_group, n, 1, Path(tmp))
                two = await _processes(bootstrap, two_group, n, 2, Path(tmp))
                runs.append({"loadavg_1m_before": round(load, 2), "one_process_events_per_s": round(one),
                             "two_processes_events_per_s": round(two), "ratio_two_vs_one": round(two / one, 2)})
        finally:
            await bus.close()
    ratios = [r["ratio_two_vs_one"] for r in runs]
    return {"events": n, "cores": os.cpu_count(), "runs": runs, "ratio_two_vs_one_range": [min(ratios), max(ratios)],
            "target_ratio_two_vs_one": 1.8}


def main(argv: list[str] | None = None) -> int:
    """`python bench/rules_kafka.py [N]`; `--scaling [N] [REPEATS]`; `--worker SPEC` runs one worker of (c)."""
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["--worker"]:
        asyncio.run(_worker(argv[1]))
        return 0
    if argv[:1] == ["--scaling"]:
        n, repeats = (int(argv[1]) if len(argv) > 1 else 50_000), (int(argv[2]) if len(argv) > 2 else 3)
        print(json.dumps(asyncio.run(run_rules_scaling_bench(n, repeats)), indent=2))
        return 0
    result = asyncio.run(run_rules_kafka_bench(int(argv[0]) if argv else 50_000))
    print(json.dumps(result, indent=2))
    return 0 if result["ratio_worker_vs_plain"] >= TARGET_RATIO else 1


if __name__ == "__main__":
    sys.exit(main())
