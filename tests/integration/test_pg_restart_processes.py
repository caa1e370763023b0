"""PostgreSQL restarts under `telecare run rules` (a real process) and a web app on the PostgreSQL bus.

The rules process logs in as its own role; the test refuses that role while the server comes back, so
an event is committed "during the gap" (server up, the rules' LISTEN not yet reconnected) on purpose.
"""
from __future__ import annotations

import asyncio
import os
import sys
import time
from collections import Counter
from datetime import datetime, timezone
from uuid import uuid4

import httpx
import pytest

from alerts.store import AlertStore
from dashboards.app import WebDeps, create_app
from telecare.bus import EVENTS
from telecare.clock import SystemClock
from telecare.errors import StoreError
from telecare.events import Event, EventType
from telecare.health import Health
from telecare.pgbus import PostgresBus
from telecare.store import Database
from telecare.store.migrate import upgrade
from tests.conftest import eventually
from tests.e2e.browser import serve
from tests.web_helpers import bearer
from tests.integration.pgfault import OwnPostgres, new_name
from bench.sse import sse_frames

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
RESIDENTS = ("r0", "r1", "r2")


class Browser:
    """Reads the live stream like operator.js: reconnects after `reload` or an error, keeps every frame."""

    def __init__(self, base: str, headers: dict[str, str]) -> None:
        self.base, self.frames, self.connections, self.headers = base, [], 0, headers
        self.task = asyncio.create_task(self._run())

    async def _run(self) -> None:
        async with httpx.AsyncClient(base_url=self.base, timeout=30, headers=self.headers) as client:
            while True:
                try:
                    async with client.stream("GET", "/api/alerts/stream") as response:
                        self.connections += 1
                        async for event, data in sse_frames(response):
                            self.frames.append((event, data))
                            if event in ("reload", "error"):
                                break
                except httpx.HTTPError:
                    pass
                await asyncio.sleep(0.2)  # EventSource's retry pacing, not a wait for the behaviour under test

    def since(self, mark: int) -> list[tuple[str, dict]]:
        return self.frames[mark:]

    async def close(self) -> None:
        self.task.cancel()
        await asyncio.gather(self.task, return_exceptions=True)


async def _seed(db: Database) -> None:
    for rid in RESIDENTS:
        await db.execute("INSERT INTO residents (id, name) VALUES (%s, %s)", (rid, f"Resident {rid}"))
        await db.execute("INSERT INTO devices (id, type, gateway_id, resident_id) VALUES (%s, 'pendant', %s, %s)",
                         (f"{rid}-pendant", f"{rid}-gw", rid))


async def _press(db: Database, bus: PostgresBus, rid: str) -> Event:
    """What ingest does with a help press: store it, then publish it (retrying while the pool comes back)."""
    now = datetime.now(timezone.utc)
    e = Event(uuid4(), f"{rid}-gw", f"{rid}-pendant", rid, EventType.HELP_BUTTON, now, now, uuid4().hex, 90)

    async def stored() -> bool:
        try:
            await db.execute(
                "INSERT INTO events (id, ts, received_at, gateway_id, device_id, resident_id, type, msg_id, battery)"
                " VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s) ON CONFLICT DO NOTHING",
                (e.id, e.ts, e.received_at, e.gateway_id, e.device_id, e.resident_id, e.type.value, e.msg_id,
                 e.battery))
            await bus.publish(EVENTS, rid, e)
            return True
        except StoreError:
            return False

    await eventually(stored, timeout=15, interval=0.1)
    return e


async def _help_alerts(db: Database) -> dict[str, list[int]]:
    rows = await db.fetch("SELECT resident_id, count FROM alerts WHERE type = 'help_button' ORDER BY id")
    out: dict[str, list[int]] = {}
    for r in rows:
        out.setdefault(r["resident_id"], []).append(r["count"])
    return out


async def _health_is(client: httpx.AsyncClient, seen: Counter, wanted: int) -> bool:
    """Ask /healthz once, count the answer."""
    try:
        status = (await client.get("/healthz")).status_code
    except httpx.HTTPError:
        status = 0
    seen[status] += 1
    return status == wanted


@pytest.fixture
def own_pg(tmp_root):
    server = OwnPostgres(tmp_root / f"own-pg-{uuid4().hex[:8]}")
    yield server
    server.close()


@pytest.mark.parametrize("mode", ["fast", "immediate"])
async def test_rules_process_and_live_stream_survive_a_postgres_restart(own_pg, tmp_path, mode):
    started = time.monotonic()
    name, role = new_name("fault"), new_name("rules")
    admin = await Database.connect(own_pg.url, min_size=1, max_size=1)
    await admin.execute(f'CREATE DATABASE "{name}"')
    await admin.execute(f'CREATE ROLE "{role}" LOGIN SUPERUSER')
    await admin.close()
    db = await Database.connect(own_pg.database_url(name), min_size=1, max_size=4, acquire_timeout=2.0)
    await upgrade(db)
    await _seed(db)

    health = Health()
    web_bus = PostgresBus(db, health)
    app = create_app(WebDeps(db=db, bus=web_bus, alerts=AlertStore(db, web_bus), clock=SystemClock(),
                             health=health))
    publisher = PostgresBus(db)
    log_path = tmp_path / "rules.log"
    env = {k: v for k, v in os.environ.items() if not k.startswith("TELECARE_")}
    env.update(PYTHONPATH=ROOT, TELECARE_BUS="postgres", TELECARE_DATABASE_URL=own_pg.database_url(name, role),
               TELECARE_DATA_DIR=str(tmp_path / "data"), TELECARE_TICK_SECONDS="0.2", TELECARE_LOG_LEVEL="INFO")
    with open(log_path, "w") as log_file:
        rules = await asyncio.create_subprocess_exec(sys.executable, "-m", "entrypoints.cli", "run", "rules",
                                                     env=env, cwd=ROOT, stdout=log_file, stderr=log_file)
    health_seen: dict[str, Counter] = {"before": Counter(), "during": Counter(), "after": Counter()}
    operator = await bearer(app)  # the live stream is for operators
    try:
        async with serve(app) as base, httpx.AsyncClient(base_url=base, timeout=10) as client:
            browser = Browser(base, operator)
            try:
                # Before: the whole path works (press -> rules process -> alert -> NOTIFY -> web live stream).
                await eventually(lambda: _health_is(client, health_seen["before"], 200), timeout=15)
                await _press(db, publisher, "r0")
                await eventually(lambda: any(e == "change" and d["alert"]["resident_id"] == "r0"
                                             for e, d in browser.frames), timeout=20)

                # Down: the rules' role is refused from now on, so it stays deaf until we let it back in.
                await db.execute(f'ALTER ROLE "{role}" NOLOGIN')
                mark = len(browser.frames)
                await own_pg.stop(mode)
                await eventually(lambda: ("status", {"live": False}) in
                                 [(e, {"live": d.get("live")}) for e, d in browser.since(mark)], timeout=10)
                await eventually(lambda: _health_is(client, health_seen["during"], 503), timeout=10)
                parts = {p.part: p.state.value for p in health.parts()}
                assert parts["bus:alerts:web"] == "reconnecting" and parts["live_stream"] == "reconnecting"

                # Back, but the rules process cannot log in yet: this press is committed during its gap.
                await own_pg.start()
                gap_press = await _press(db, publisher, "r1")
                assert "r1" not in await _help_alerts(db)
                assert rules.returncode is None, "the rules process died during the outage"
                await db.execute(f'ALTER ROLE "{role}" LOGIN')
                await eventually(lambda: _has(db, "r1"), timeout=20)  # caught up from the table after the reconnect

                # After: the browser reloaded a live snapshot, then gets the next alert as a live change.
                await eventually(lambda: any(e == "snapshot" and d["live"] for e, d in browser.since(mark)),
                                 timeout=20)
                await _press(db, publisher, "r2")
                await eventually(lambda: any(e == "change" and d["alert"]["resident_id"] == "r2"
                                             for e, d in browser.since(mark)), timeout=20)
                await eventually(lambda: _health_is(client, health_seen["after"], 200), timeout=15)
                assert rules.returncode is None, "the rules process died after the restart"

                alerts = await _help_alerts(db)
                assert alerts == {"r0": [1], "r1": [1], "r2": [1]}, alerts  # one alert each, raised once
                frames = Counter(e for e, _ in browser.since(mark))
            finally:
                await browser.close()
    finally:
        if rules.returncode is None:
            rules.terminate()
        exit_code = await asyncio.wait_for(rules.wait(), 15)
        await db.close()
    log_text = log_path.read_text()
    if os.environ.get("TELECARE_TEST_SHOW_LOG"):
        print(log_text)
    assert exit_code == 0, log_text[-3000:]
    assert "Traceback" not in log_text, log_text[-3000:]
    lost = log_text.count("lost its connection")
    caught = [line.split(": ", 1)[1] for line in log_text.splitlines() if "during a gap" in line]
    assert lost >= 1 and caught, log_text[-3000:]
    print(f"\n[pg restart -m {mode}] rules process alive throughout, exit {exit_code}; help alerts {alerts}; "
          f"gap event {str(gap_press.id)[:8]} caught up: {caught}; rules LISTEN losses logged: {lost}; "
          f"/healthz before {dict(health_seen['before'])} during {dict(health_seen['during'])} after "
          f"{dict(health_seen['after'])}; browser frames since the stop {dict(frames)}, stream connections "
          f"{browser.connections}; total {time.monotonic() - started:.1f}s")


async def _has(db: Database, rid: str) -> bool:
    return rid in await _help_alerts(db)
