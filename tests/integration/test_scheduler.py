"""OutreachScheduler against real PostgreSQL: one leader among replicas, missed work picked up on restart."""
from __future__ import annotations

import uuid
from datetime import datetime, timezone

from outreach.scheduler import OutreachScheduler
from telecare.clock import FakeClock
from telecare.people import Resident
from telecare.store import Database
from tests.conftest import eventually

RESIDENTS = [Resident("r1", "Name"), Resident("r2", "Name")]


def make(db: Database, clock: FakeClock, calls: list[str], tag: str, name: str) -> OutreachScheduler:
    async def dispatch() -> None:
        calls.append(tag)

    return OutreachScheduler(db, RESIDENTS, clock, dispatch=dispatch, name=name, dispatch_seconds=0.05,
                             lease_seconds=0.05)


async def add_rows(db: Database) -> None:
    for r in RESIDENTS:
        await db.execute("INSERT INTO residents (id, name) VALUES (%s, 'Name')", (r.id,))


async def test_only_one_of_two_instances_leads_and_the_standby_takes_over(db: Database) -> None:
    await add_rows(db)
    clock, calls, name = FakeClock(datetime(2026, 11, 23, 8, tzinfo=timezone.utc)), [], f"s{uuid.uuid4().hex[:6]}"
    a, b = make(db, clock, calls, "a", name), make(db, clock, calls, "b", name)
    await a.start()
    await b.start()
    try:
        assert a.is_leader and not b.is_leader
        await eventually(lambda: calls.count("a") >= 3)
        assert "b" not in calls
        # The leader's catch-up pass planned today's calls.
        await eventually(lambda: a.job_runs["catch_up"] == 1)
        assert await db.fetchval("SELECT count(*) FROM call_tasks") == 2
        await a.stop()
        assert not a.is_leader
        await eventually(lambda: b.is_leader)
        await eventually(lambda: calls.count("b") >= 2)
        # The new leader's catch-up creates nothing twice.
        await eventually(lambda: b.job_runs["catch_up"] == 1)
        assert await db.fetchval("SELECT count(*) FROM call_tasks") == 2
    finally:
        await a.stop()
        await b.stop()


async def test_daily_planning_missed_during_downtime_is_caught_up_when_the_next_leader_starts(db: Database) -> None:
    await add_rows(db)
    clock, calls, name = FakeClock(datetime(2026, 11, 23, 8, tzinfo=timezone.utc)), [], f"s{uuid.uuid4().hex[:6]}"
    first = make(db, clock, calls, "first", name)
    await first.start()
    planned_at = first.next_run("daily_planning")
    assert planned_at is not None and planned_at.astimezone(timezone.utc).hour in (5, 6)  # 07:00 Madrid
    await eventually(lambda: first.job_runs["catch_up"] == 1)
    await first.stop()
    await db.execute("DELETE FROM call_tasks")  # as if the 07:00 run of a later day had never happened

    second = make(db, clock, calls, "second", name)
    await second.start()
    try:
        await eventually(lambda: second.job_runs["catch_up"] == 1)
        assert second.next_run("daily_planning") > datetime.now(timezone.utc)
        assert await db.fetchval("SELECT count(*) FROM call_tasks") == 2
        assert await db.fetchval("SELECT to_regclass('outreach_scheduler_jobs')") is None
    finally:
        await second.stop()


async def test_a_failing_dispatch_does_not_stop_the_ticks(db: Database) -> None:
    clock, attempts = FakeClock(datetime(2026, 11, 23, 8, tzinfo=timezone.utc)), []

    async def broken() -> None:
        attempts.append(1)
        raise RuntimeError("dialer bug")

    s = OutreachScheduler(db, [], clock, dispatch=broken, name=f"s{uuid.uuid4().hex[:6]}", dispatch_seconds=0.05,
                          lease_seconds=0.05)
    await s.start()
    try:
        await eventually(lambda: len(attempts) >= 3)
        assert s.is_leader
    finally:
        await s.stop()


async def test_weather_feed_polling_follows_atom_links_to_cap(db: Database) -> None:
    import http.server
    import threading
    from pathlib import Path
    from zoneinfo import ZoneInfo

    root = Path(__file__).resolve().parents[2]
    files = {"/heat.xml": (root / "outreach/samples/barcelona_heat_warning.xml").read_bytes(),
             "/bad.xml": (root / "tests/data/cap/open_polygon.xml").read_bytes(),
             "/feed": b"""<?xml version="1.0" encoding="UTF-8"?>
<feed xmlns="http://www.w3.org/2005/Atom"><title>warnings</title>
 <entry><title>heat</title><link type="application/cap+xml" href="/heat.xml"/></entry>
 <entry><title>broken</title><link type="application/cap+xml" href="bad.xml"/></entry>
</feed>"""}

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802
            body = files.get(self.path)
            self.send_response(200 if body else 404)
            self.end_headers()
            self.wfile.write(body or b"")

        def log_message(self, *args: object) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    located = [Resident("bcn", "Name", latitude=41.3888, longitude=2.159)]
    await db.execute("INSERT INTO residents (id, name) VALUES ('bcn', 'Name')")

    async def idle() -> None:
        pass

    clock = FakeClock(datetime(2027, 7, 14, 9, tzinfo=ZoneInfo("Europe/Madrid")))
    s = OutreachScheduler(db, located, clock, dispatch=idle, name=f"s{uuid.uuid4().hex[:6]}",
                          weather_feed_url=f"http://127.0.0.1:{server.server_address[1]}/feed", lease_seconds=0.05)
    await s.start()
    try:
        await eventually(lambda: s.job_runs["weather_feed"] == 1)
        rows = await db.fetch("SELECT kind, source_id FROM campaigns")
        assert [(r["kind"], r["source_id"].rsplit(".", 1)[-1]) for r in rows] == [("weather", "sample-bcn-heat-orange")]
        assert await db.fetchval("SELECT count(*) FROM call_tasks WHERE purpose = 'weather'") == 1
    finally:
        await s.stop()
        server.shutdown()
        server.server_close()
