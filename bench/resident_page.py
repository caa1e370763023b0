"""Benchmark: the resident page's data calls and the directory search over N residents (default 115,000).

    telecare bench resident-page [--residents N] [--sample S] [--background B] [--days D]

A scratch database (embedded PostgreSQL unless TELECARE_DATABASE_URL names a server) gets N residents by COPY;
S measured residents get `days` of synthetic life (events, rollups, calls, alerts with history, visits, notes,
care-plan edits) and B more get the rollups only, so the measured reads run against indexes holding other
residents' rows. The page's calls go through the real app (auth, policy, audit rows) in-process: card, care
plan, timeline's first page and every series. Target: a page's calls in 300 ms at p95.
"""
from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import sys
import time
from contextlib import AsyncExitStack
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

if __package__ in (None, ""):  # run as a script: make the repository importable
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench import resident_seed as seed  # noqa: E402
from bench.harness import scratch_database  # noqa: E402
from telecare.store import Database  # noqa: E402
from telecare.store.migrate import maintain  # noqa: E402

TARGET_MS = 300.0
SERIES = (("bed", 30), ("doors", 30), ("medication", 30), ("devices", 30), ("activity", 28), ("calls", 365))
SEARCHES = ("q=mont", "q=puig%20vila", "q=600001234", "q=mallorca", "team=Equip%2007", "flag=dementia&level=1",
            "open_alerts=true", "page=20", "q=res-004711")


def _ms(samples: list[float]) -> dict[str, float]:
    ordered = sorted(samples)
    p95 = ordered[min(len(ordered) - 1, round(0.95 * (len(ordered) - 1)))]
    return {"p50_ms": round(statistics.median(ordered), 1), "p95_ms": round(p95, 1), "max_ms": round(ordered[-1], 1),
            "n": len(ordered)}


async def _database(stack: AsyncExitStack) -> Database:
    db, _ = await scratch_database(stack, "bench_resident")
    return db


async def _seed(db: Database, n: int, sample: int, background: int, days: int, now: datetime) -> dict[str, Any]:
    started = time.perf_counter()
    for lo in range(0, n, 10_000):
        async with db.transaction() as tx:
            await tx.copy_rows("residents", seed.RESIDENT_COLUMNS, seed.resident_rows(lo, min(n, lo + 10_000)))
    residents_s = time.perf_counter() - started
    start = (now - timedelta(days=days)).replace(hour=0, minute=0, second=0, microsecond=0)
    for month in range(days // 28 + 2):
        await maintain(db, start + timedelta(days=28 * month))
    rows = 0
    step = max(1, n // max(1, sample + background))
    for k in range(sample + background):
        rid = seed.resident_id(k * step)
        events = seed.year_of_life(rid, start, days, seed=k)
        rows += await seed.store_life(db, rid, events, raw=k < sample)
        if k < sample:
            await seed.store_record(db, rid, start, days, seed=k)
    await db.execute("ANALYZE")
    return {"residents": n, "measured": sample, "background_with_rollups": background, "days": days,
            "rows_copied": rows, "seed_seconds": round(time.perf_counter() - started, 1),
            "residents_copy_seconds": round(residents_s, 1),
            "sample_ids": [seed.resident_id(k * step) for k in range(sample)]}


async def _clients(db: Database, now: datetime) -> tuple[Any, dict[str, str], dict[str, str]]:
    from alerts.store import AlertStore
    from dashboards.app import WebDeps, create_app
    from identity.model import Role
    from telecare.bus import InProcessBus
    from telecare.clock import FakeClock

    bus = InProcessBus()
    app = create_app(WebDeps(db=db, bus=bus, alerts=AlertStore(db, bus), clock=FakeClock(now)))
    identity = app.state.auth.identity
    await identity.create_user("bench-operator", [Role.OPERATOR])
    await identity.create_user("bench-carer", [Role.CARE_TEAM], ["Equip 07"])
    op = (await identity.issue_token("bench-operator", Role.OPERATOR, days=1, token_name="bench")).secret
    carer = (await identity.issue_token("bench-carer", Role.CARE_TEAM, days=1, token_name="bench")).secret
    return app, {"Authorization": f"Bearer {op}"}, {"Authorization": f"Bearer {carer}"}


def _page_urls(rid: str) -> list[str]:
    base = f"/api/residents/{rid}"
    return [base, base + "/care-plan", base + "/timeline"] + [f"{base}/series/{s}?days={d}" for s, d in SERIES]


async def _measure(app: Any, op: dict[str, str], carer: dict[str, str], ids: list[str], rounds: int) -> dict[str, Any]:
    import logging

    import httpx

    # One log line per request and audit row would be most of the measured work's output: keep them quiet.
    for name in ("httpx", "dashboards.audit"):
        logging.getLogger(name).setLevel(logging.WARNING)
    per_call: dict[str, list[float]] = {}
    sequential, parallel = [], []
    searches: dict[str, list[float]] = {q: [] for q in SEARCHES}
    scoped: dict[str, list[float]] = {q: [] for q in SEARCHES}
    async with app.router.lifespan_context(app), httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app), base_url="http://bench.test") as client:

        async def timed(url: str, headers: dict[str, str]) -> float:
            t0 = time.perf_counter()
            response = await client.get(url, headers=headers)
            if response.status_code != 200:
                raise RuntimeError(f"{url}: {response.status_code} {response.text[:200]}")
            return (time.perf_counter() - t0) * 1000

        for url in _page_urls(ids[0]):  # warm-up: connections, plans, caches
            await timed(url, op)
        for _ in range(rounds):
            for rid in ids:
                total = 0.0
                for url in _page_urls(rid):
                    ms = await timed(url, op)
                    key = url.split(rid)[1].split("?")[0] or "/card"
                    per_call.setdefault(key, []).append(ms)
                    total += ms
                sequential.append(total)
                t0 = time.perf_counter()  # as the browser asks: every call at once
                await asyncio.gather(*(timed(u, op) for u in _page_urls(rid)))
                parallel.append((time.perf_counter() - t0) * 1000)
            for q in SEARCHES:
                searches[q].append(await timed("/api/residents?" + q, op))
                scoped[q].append(await timed("/api/residents?" + q, carer))
    return {"page_sequential": _ms(sequential), "page_parallel": _ms(parallel),
            "per_call": {k: _ms(v) for k, v in sorted(per_call.items())},
            "directory_operator": _ms([x for v in searches.values() for x in v]),
            "directory_care_team": _ms([x for v in scoped.values() for x in v]),
            "directory_by_query_p50_ms": {q: [_ms(searches[q])["p50_ms"], _ms(scoped[q])["p50_ms"]] for q in SEARCHES}}


async def run_resident_page_bench(residents: int = 115_000, sample: int = 20, background: int = 200,
                                  days: int = 365, rounds: int = 3) -> dict[str, Any]:
    """Seed, measure, return the figures (JSON-ready)."""
    now = datetime.now(timezone.utc).replace(microsecond=0)
    async with AsyncExitStack() as stack:
        db = await _database(stack)
        seeded = await _seed(db, residents, sample, background, days, now)
        app, op, carer = await _clients(db, now)
        measured = await _measure(app, op, carer, seeded.pop("sample_ids"), rounds)
    p95 = measured["page_sequential"]["p95_ms"]
    return {"seed": seeded, **measured, "target_ms": TARGET_MS, "within_target": p95 <= TARGET_MS}


def parser() -> argparse.ArgumentParser:
    """The benchmark's options (also `telecare bench resident-page`)."""
    p = argparse.ArgumentParser(prog="telecare bench resident-page", description=__doc__.split("\n\n")[0])
    p.add_argument("--residents", type=int, default=115_000, help="residents in the directory (default 115000)")
    p.add_argument("--sample", type=int, default=20, help="measured residents, with a full year (default 20)")
    p.add_argument("--background", type=int, default=200, help="other residents with a year of rollups (default 200)")
    p.add_argument("--days", type=int, default=365, help="days of history (default 365)")
    p.add_argument("--rounds", type=int, default=3, help="times each measured page is read (default 3)")
    return p


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark and print its JSON."""
    a = parser().parse_args(argv)
    result = asyncio.run(run_resident_page_bench(a.residents, a.sample, a.background, a.days, a.rounds))
    print(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
