"""Benchmark: a Kafka rules worker restarting with N residents' state in `rules-state`.

N residents of the demo fleet (6 devices each) get their armed state as of OUTAGE ago (every timer of a first tick
then), published to the compacted `rules-state` topic as the workers write it (6 partitions, a fresh embedded
broker unless TELECARE_KAFKA_BOOTSTRAP). Then a new worker *process* starts, as after a kill -9 that lasted the
outage: it imports, builds its registry view, joins the `events.rules` group, is assigned every partition and
reads `rules-state` to its end (states stay encoded until needed; each is scheduled by its next-due header), then
fires what came due during the outage (gateway supervision after 5 minutes), in budgets between batches.
Reported in seconds from the spawn:
- `registry`: the worker's registry view built (here from the fleet generator, not from PostgreSQL);
- `state_ready`: every state restored and the partitions owned (events are evaluated from here);
- `overdue_fired`: every timer that was due at `state_ready` fired (the timer lag after the outage, worst case);
- the worker's peak RSS and the timers it fired. Target (issue 9): state ready in <= 30 s for 1M residents,
  timer lag p99 <= 1 s; linear extrapolations shown.
Run: `telecare bench rules-restart [--residents N] [--outage-minutes M]` or `python bench/rules_restart.py [N] [M]`.
"""
from __future__ import annotations

import asyncio
import gc
import json
import logging
import os
import resource
import subprocess
import sys
import tempfile
import time
import uuid
from datetime import datetime, timedelta, timezone
from pathlib import Path

if __package__ in (None, ""):  # run as a script: make the repository importable
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.harness import kafka_broker  # noqa: E402
from demo.fleet import barcelona_fleet  # noqa: E402
from rules.directory import Directory  # noqa: E402
from rules.engine import new_state, tick  # noqa: E402
from rules.kafka_host import KafkaRulesHost  # noqa: E402
from rules.catalog import SUPERVISION  # noqa: E402
from rules.packed import pack_state  # noqa: E402
from telecare.clock import SystemClock  # noqa: E402
from telecare.events import DeviceType  # noqa: E402
from telecare.fakes import InMemoryResidents  # noqa: E402
from telecare.kafkabus import RULES_STATE, KafkaBus  # noqa: E402
from telecare.metrics import REGISTRY  # noqa: E402

MILLION = 1_000_000
TARGET_S = 30.0
CHUNK = 5_000
GATEWAY_SUPERVISION = SUPERVISION[DeviceType.GATEWAY]


def _fleet(n: int) -> InMemoryResidents:
    residents, devices = barcelona_fleet(n, seed=7, today=datetime.now(timezone.utc).date())
    return InMemoryResidents(residents, devices)


async def _publish_states(bus: KafkaBus, fleet: InMemoryResidents, outage: timedelta,
                          spread: timedelta = timedelta(0)) -> float:
    """Every resident's state onto rules-state, as a worker saves it; seconds.

    Armed `outage` ago (every gateway due at once, 5 minutes later), or with `spread`: resident i of n armed so
    that its gateway's supervision is due at now - outage + (i + 0.5) / n * (outage + spread), due times spread
    evenly from the outage's start to `spread` from now (bench/timer_lag.py)."""
    directory = Directory(fleet)
    await directory.refresh_all()
    start, started = datetime.now(timezone.utc) - outage, time.perf_counter()
    residents = list(directory.residents.values())
    span = outage + spread
    for k in range(0, len(residents), CHUNK):
        chunk = residents[k:k + CHUNK]
        items = []
        for i, r in enumerate(chunk, k):
            armed = start if not spread else start + span * ((i + 0.5) / len(residents)) - GATEWAY_SUPERVISION
            items.append((r.id, pack_state(tick(r, directory.devices(r.id), new_state(r.id), armed)[0])))
        await bus.publish_many(RULES_STATE, items)
    return time.perf_counter() - started


async def _worker(spec_path: str) -> None:
    """The restarted worker: writes its milestones (seconds since its spawn, given in the spec) to a status file."""
    spec = json.loads(Path(spec_path).read_text())
    status, spawned, n = Path(spec["status"]), spec["spawned"], spec["residents"]
    marks: dict[str, float] = {}

    def mark(name: str) -> None:
        marks[name] = round(time.time() - spawned, 2)
        marks["rss_gib"] = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20, 2)
        status.with_suffix(".tmp").write_text(json.dumps(marks))
        status.with_suffix(".tmp").replace(status)

    logging.basicConfig(level=logging.WARNING)
    logging.getLogger("rules.kafka_host").setLevel(logging.INFO)  # its restore line splits read / decode
    mark("imported")
    fleet = _fleet(n)
    bus = KafkaBus(spec["bootstrap"])
    host = KafkaRulesHost(bus, fleet, SystemClock(), tick_seconds=0.5, group=spec["group"])
    await host.start()
    # As the service does once start-up has loaded the registry view (entrypoints/bootstrap.py): the collector's
    # full passes otherwise rescan 1M residents and 6M devices, over and over while the timers fire.
    gc.collect()
    gc.freeze()
    mark("registry")
    task = asyncio.create_task(host.run())
    try:
        while host.restored < n or host.owned != set(range(bus.partitions(RULES_STATE))):
            if task.done():
                task.result()
            await asyncio.sleep(0.05)
        mark("state_ready")
        ready_at = datetime.now(timezone.utc)
        while (due := host.next_due_at()) is not None and due <= ready_at:  # what the outage made due
            if task.done():
                task.result()
            await asyncio.sleep(0.02)
        mark("overdue_fired")
        while time.time() < spec.get("until", 0):  # bench/timer_lag.py: go on firing what comes due
            if task.done():
                task.result()
            await asyncio.sleep(0.1)
        marks["timers_fired"] = round(sum(s.value for m in REGISTRY.collect()
                                          if m.name == "telecare_rules_timers_fired" for s in m.samples
                                          if s.name.endswith("_total")))
        marks["residents_ticked"] = host.ticked
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        await bus.close()
    mark("done")


async def _restart(bootstrap: str, n: int, work: Path, until: float = 0.0) -> dict:
    """Spawn the worker process and wait for it; its milestones. `until`: it runs on to that epoch second."""
    status = work / "worker.status"
    spec = work / "worker.json"
    spawned = time.time()
    spec.write_text(json.dumps({"bootstrap": bootstrap, "group": f"bench-restart-{uuid.uuid4().hex[:6]}",
                                "status": str(status), "spawned": spawned, "residents": n, "until": until}))
    proc = subprocess.Popen([sys.executable, str(Path(__file__).resolve()), "--worker", str(spec)],
                            env={**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1])})
    try:
        while proc.poll() is None:
            await asyncio.sleep(0.2)
        if proc.returncode != 0:
            raise RuntimeError(f"the restarted worker exited {proc.returncode}")
        return json.loads(status.read_text())
    finally:
        if proc.poll() is None:
            proc.kill()


async def run_rules_restart_bench(n: int = 100_000, outage_minutes: float = 10.0) -> dict:
    """Publish N states armed `outage_minutes` ago, restart a worker process over them; its milestones, at 1M."""
    with tempfile.TemporaryDirectory(prefix="telecare-bench-restart-") as tmp, kafka_broker(Path(tmp)) as bootstrap:
        bus = KafkaBus(bootstrap)
        try:
            await bus.start()
            publish_s = await _publish_states(bus, _fleet(n), timedelta(minutes=outage_minutes))
        finally:
            await bus.close()
        marks = await _restart(bootstrap, n, Path(tmp))
    restore = marks["state_ready"] - marks["registry"]
    firing = marks["overdue_fired"] - marks["state_ready"]
    return {"residents": n, "outage_minutes": outage_minutes, "states_published_s": round(publish_s, 1),
            "worker": marks, "restore_s": round(restore, 2),
            "restore_s_at_1m": round(restore * MILLION / n, 1),
            "overdue_firing_s": round(firing, 2), "overdue_firing_s_at_1m": round(firing * MILLION / n, 1),
            "target_state_ready_s": TARGET_S, "target_timer_lag_p99_s": 1.0,
            "meets_restore_target": restore * MILLION / n <= TARGET_S}


def main(argv: list[str] | None = None) -> int:
    """`python bench/rules_restart.py [N]`; `--worker SPEC` is the restarted worker."""
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["--worker"]:
        asyncio.run(_worker(argv[1]))
        return 0
    n, outage = (int(argv[0]) if argv else 100_000), (float(argv[1]) if len(argv) > 1 else 10.0)
    print(json.dumps(asyncio.run(run_rules_restart_bench(n, outage)), indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
