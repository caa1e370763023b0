"""Live alert stream: SSE over a real uvicorn server, and the fan-out's slow-browser policy."""
from __future__ import annotations

import asyncio
from datetime import datetime, timezone

import httpx

from dashboards.app import WebDeps, create_app
from dashboards.live import RELOAD, LiveHub
from alerts.store import AlertStore
from bench.sse import sse_frames
from telecare.alerts import AlertChange, AlertTrigger, AlertType, Severity
from telecare.bus import ALERTS, InProcessBus
from telecare.clock import FakeClock
from telecare.metrics import REGISTRY
from tests.web_helpers import bearer
from tests.conftest import eventually
from tests.e2e.browser import insert_resident, serve

T0 = datetime(2026, 11, 22, 9, 0, tzinfo=timezone.utc)


async def test_stream_sends_a_snapshot_then_each_new_alert(db):
    clock = FakeClock(T0)
    bus = InProcessBus()
    store = AlertStore(db, bus)
    await insert_resident(db, "r1", "Montserrat Puig")
    await insert_resident(db, "r2", "Jordi Vidal")
    first = (await store.raise_or_attach(AlertTrigger("r1", AlertType.INACTIVITY, Severity.MEDIUM, T0, "quiet"),
                                         T0)).alert
    app = create_app(WebDeps(db=db, bus=bus, alerts=store, clock=clock))
    headers = await bearer(app)  # the live stream is for operators
    async with serve(app) as base, httpx.AsyncClient(base_url=base, timeout=10, headers=headers) as client:
        async with client.stream("GET", "/api/alerts/stream") as response:
            assert response.headers["content-type"].startswith("text/event-stream")
            frames = sse_frames(response)
            event, data = await anext(frames)
            assert event == "snapshot" and [a["id"] for a in data["alerts"]] == [first.id]
            await eventually(lambda: app.state.live.client_count == 1)

            clock.advance(3)
            raised = await store.raise_or_attach(
                AlertTrigger("r2", AlertType.FALL, Severity.CRITICAL, clock.now(), "fall"), clock.now())
            event, data = await asyncio.wait_for(anext(frames), 10)
            assert event == "change" and data["kind"] == "raised"
            assert data["alert"]["id"] == raised.alert.id and data["alert"]["resident_name"] == "Jordi Vidal"

            await store.acknowledge(raised.alert.id, "Anna", clock.now())
            event, data = await asyncio.wait_for(anext(frames), 10)
            assert (data["kind"], data["alert"]["status"]) == ("acknowledged", "acknowledged")
        await eventually(lambda: app.state.live.client_count == 0)


async def test_a_slow_browser_is_dropped_and_never_blocks_the_bus(db):
    clock = FakeClock(T0)
    bus = InProcessBus(max_pending=10)
    store = AlertStore(db, bus)
    for i in range(30):
        await insert_resident(db, f"r{i}", f"Resident {i}")

    async def render(change: AlertChange) -> dict:
        return {"id": change.alert.id}

    hub = LiveHub(bus, render, queue_size=5)
    hub.start()
    try:
        slow, quick = hub.connect(), hub.connect()
        received: list[int] = []

        async def drain() -> None:
            while True:
                received.append((await quick.get())["id"])

        reader = asyncio.create_task(drain())
        before = REGISTRY.get_sample_value("telecare_live_dropped_total", {"reason": "slow"}) or 0.0
        # Three times the bus's own bound: publishing would hang if the hub waited for the slow browser.
        for i in range(30):
            await store.raise_or_attach(AlertTrigger(f"r{i}", AlertType.FALL, Severity.CRITICAL, T0, "x"), T0)
        await eventually(lambda: len(received) == 30)
        assert slow.dropped and await slow.get() is RELOAD and slow.queue.empty()
        assert hub.client_count == 1 and not quick.dropped
        assert REGISTRY.get_sample_value("telecare_live_dropped_total", {"reason": "slow"}) == before + 1
        reader.cancel()
    finally:
        await hub.stop()
    assert bus.pending(ALERTS) == 0


async def test_a_bad_message_on_the_bus_is_counted_and_skipped(db):
    bus = InProcessBus()
    store = AlertStore(db, bus)
    await insert_resident(db, "r1", "Montserrat Puig")

    async def render(change: AlertChange) -> dict:
        return {"id": change.alert.id}

    hub = LiveHub(bus, render)
    hub.start()
    try:
        client = hub.connect()
        before = REGISTRY.get_sample_value("telecare_live_dropped_total", {"reason": "bad_message"}) or 0.0
        await bus.publish(ALERTS, "r1", {"not": "an alert change"})
        raised = await store.raise_or_attach(AlertTrigger("r1", AlertType.FALL, Severity.CRITICAL, T0, "x"), T0)
        assert (await asyncio.wait_for(client.get(), 10)) == {"id": raised.alert.id}
        assert REGISTRY.get_sample_value("telecare_live_dropped_total", {"reason": "bad_message"}) == before + 1
    finally:
        await hub.stop()
