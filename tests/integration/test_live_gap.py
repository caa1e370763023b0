"""When the bus feed behind the live stream is lost, browsers and /healthz are told; when it resumes, browsers reload."""
from __future__ import annotations

import asyncio
from datetime import datetime, timezone

import httpx

from alerts.store import AlertStore
from dashboards.app import WebDeps, create_app
from telecare.bus import ALERTS, FeedGap, FeedState, InProcessBus
from telecare.clock import FakeClock
from telecare.health import Health
from tests.web_helpers import bearer
from tests.conftest import eventually
from tests.e2e.browser import serve
from bench.sse import sse_frames

T0 = datetime(2026, 11, 22, 9, 0, tzinfo=timezone.utc)


async def test_lost_feed_degrades_the_stream_and_healthz_then_browsers_reload(db):
    clock, bus, health = FakeClock(T0), InProcessBus(), Health()
    app = create_app(WebDeps(db=db, bus=bus, alerts=AlertStore(db, bus), clock=clock, health=health))
    headers = await bearer(app)  # the live stream is for operators
    async with serve(app) as base, httpx.AsyncClient(base_url=base, timeout=10, headers=headers) as client:
        assert (await client.get("/healthz")).status_code == 200
        async with client.stream("GET", "/api/alerts/stream") as response:
            frames = sse_frames(response)
            event, data = await anext(frames)
            assert event == "snapshot" and data["live"] is True
            await eventually(lambda: app.state.live.client_count == 1)

            await bus.publish(ALERTS, "", FeedGap(FeedState.LOST, T0, "test"))
            event, data = await asyncio.wait_for(anext(frames), 10)
            assert (event, data["live"]) == ("status", False)
            health_down = await client.get("/healthz")
            assert health_down.status_code == 503
            assert health_down.json()["parts"]["live_stream"]["state"] == "reconnecting"

            async with client.stream("GET", "/api/alerts/stream") as late:  # a browser connecting meanwhile
                event, data = await anext(sse_frames(late))
                assert event == "snapshot" and data["live"] is False

            await bus.publish(ALERTS, "", FeedGap(FeedState.RESUMED, T0, "test"))
            event, _ = await asyncio.wait_for(anext(frames), 10)
            assert event == "reload"  # its queue may have missed changes: start again from a snapshot
        await eventually(lambda: app.state.live.client_count == 0)
        async with client.stream("GET", "/api/alerts/stream") as again:
            event, data = await anext(sse_frames(again))
            assert event == "snapshot" and data["live"] is True
        health_up = await client.get("/healthz")
        assert health_up.status_code == 200 and health_up.json()["parts"]["live_stream"]["state"] == "ok"
