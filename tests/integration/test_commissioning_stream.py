"""The commissioning stream over uvicorn: state frames as test events arrive, and never "live" while the
database is away (a PostgreSQL server this test stops and starts again)."""
from __future__ import annotations

import asyncio
import uuid
from datetime import datetime, timezone

import httpx
import pytest

from bench.sse import sse_frames
from alerts.store import AlertStore
from dashboards.routes.commissioning import router as commissioning_router
from devices.installations import GatewaySite, Installations
from telecare.bus import InProcessBus
from telecare.clock import SystemClock
from telecare.store import Database
from telecare.store.migrate import upgrade
from tests.e2e.browser import serve
from tests.integration.pgfault import OwnPostgres
from tests.web_helpers import app_with, bearer

pytestmark = pytest.mark.integration


@pytest.fixture
def own_pg(tmp_root):
    server = OwnPostgres(tmp_root / f"own-pg-com-{uuid.uuid4().hex[:8]}")
    yield server
    server.close()


async def _until(frames, wanted) -> dict:
    async def scan() -> dict:
        async for event, data in frames:
            if wanted(event, data):
                return data
        raise AssertionError("stream ended")
    return await asyncio.wait_for(scan(), 20)


async def test_the_stream_ticks_a_sensor_and_says_not_live_while_the_database_is_down(own_pg):
    db = await Database.connect(own_pg.url, min_size=1, max_size=3, acquire_timeout=2.0)
    try:
        await upgrade(db)
        await db.execute("INSERT INTO residents (id, name) VALUES ('r-s', 'x')")
        clock, bus = SystemClock(), InProcessBus()
        installs = Installations(db)
        await installs.register_gateway(GatewaySite("gw-s", "r-s", "SN-S", "", ()), "inst", clock.now())
        alerts = AlertStore(db, bus)
        app = app_with(db, bus, alerts, clock, [commissioning_router(db, alerts, clock, poll_seconds=0.1)])
        headers = await bearer(app, "installer")
        async with serve(app) as base, httpx.AsyncClient(base_url=base, timeout=30, headers=headers) as client:
            sid = (await client.post("/api/gateways/gw-s/commissioning")).json()["session"]["id"]
            async with client.stream("GET", f"/api/gateways/gw-s/commissioning/{sid}/stream") as response:
                assert response.headers["content-type"].startswith("text/event-stream")
                frames = sse_frames(response)
                first = await _until(frames, lambda e, d: e == "state")
                assert [c["reported"] for c in first["checks"]] == [False]
                await _until(frames, lambda e, d: e == "status" and d["live"])
                now = datetime.now(timezone.utc)
                await db.execute("INSERT INTO events (id, ts, received_at, gateway_id, device_id, resident_id, type, "
                                 "msg_id) VALUES (%s, %s, %s, 'gw-s', 'gw-s', 'r-s', 'gateway_online', 'm1')",
                                 (uuid.uuid4(), now, now))
                ticked = await _until(frames, lambda e, d: e == "state")
                assert [c["reported"] for c in ticked["checks"]] == [True]

                await own_pg.stop("immediate")
                down = await _until(frames, lambda e, d: e == "status" and not d["live"])
                assert "database" in down["detail"]
                await own_pg.start()
                back = await _until(frames, lambda e, d: e == "status" and d["live"])
                assert back["live"] is True
    finally:
        await db.close()
