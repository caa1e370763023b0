"""Body-size limits, CAP shape limits and CAP work off the event loop, against the real app and PostgreSQL."""
from __future__ import annotations

import asyncio
import gc
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from datetime import datetime, timezone

import pytest

from alerts.store import AlertStore
from dashboards.app import WebDeps, create_app
from demo.simulated_telephony import SimulatedTelephony
from devices.registry import Registry
from entrypoints.outreach_web import outreach_routers
from outreach.cap import MAX_BYTES, MAX_SHAPES
from outreach.service import OutreachService
from telecare.bus import InProcessBus
from telecare.clock import FakeClock
from telecare.people import Resident
from telecare.settings import load_settings
from tests.e2e.browser import api_client, serve

pytestmark = pytest.mark.integration
NOW = datetime(2026, 7, 15, 9, 0, tzinfo=timezone.utc)
MIB = 1_048_576


def cap_with_circles(n: int, identifier: str) -> bytes:
    """A severe heat warning whose one area is `n` small circles around central Barcelona."""
    circles = "".join(f"<circle>{41.38 + (i % 50) / 2000:.4f},{2.16 + (i % 47) / 2000:.4f} 1.5</circle>"
                      for i in range(n))
    return f"""<?xml version="1.0" encoding="UTF-8"?>
<alert xmlns="urn:oasis:names:tc:emergency:cap:1.2"><identifier>{identifier}</identifier><sender>t@example.org</sender>
<sent>2026-07-15T08:00:00+00:00</sent><status>Actual</status><msgType>Alert</msgType><scope>Public</scope>
<info><language>en</language><category>Met</category><event>Heat</event><urgency>Immediate</urgency>
<severity>Severe</severity><certainty>Likely</certainty><expires>2026-07-16T20:00:00+00:00</expires>
<headline>Heat</headline><area><areaDesc>Barcelona</areaDesc>{circles}</area></info></alert>""".encode()


@pytest.fixture
async def app(db):
    clock = FakeClock(NOW)
    bus = InProcessBus()
    registry = Registry(db)
    await registry.upsert_resident(Resident("r1", "Resident One", phones=("+34600000001",),
                                            latitude=41.39, longitude=2.17))
    alerts = AlertStore(db, bus)
    service = OutreachService(db, bus, alerts, registry, SimulatedTelephony(clock), clock,
                              load_settings(database_url=None))
    return create_app(WebDeps(db=db, bus=bus, alerts=alerts, clock=clock, residents=registry,
                              extra_routers=tuple(outreach_routers(service)), max_body_bytes=MIB))


@asynccontextmanager
async def loop_lag() -> AsyncIterator[Callable[[], float]]:
    """Measure the event loop's worst lag (how late a 5 ms sleep wakes up) while the block runs."""
    worst = 0.0
    stop = asyncio.Event()

    async def probe() -> None:
        nonlocal worst
        loop = asyncio.get_running_loop()
        while not stop.is_set():
            started = loop.time()
            await asyncio.sleep(0.005)
            worst = max(worst, loop.time() - started - 0.005)

    # The service freezes its start-up heap (entrypoints/bootstrap.py), so the collector's full passes do not
    # rescan it. This process holds every earlier test's objects instead: unfrozen, one full pass over them
    # blocks every thread for ~0.8 s in a whole-suite run, whatever the code under test does.
    gc.collect()
    gc.freeze()
    task = asyncio.create_task(probe())
    await asyncio.sleep(0.02)  # let the probe take its first measurement
    try:
        yield lambda: worst
    finally:
        stop.set()
        await task
        gc.unfreeze()


async def test_a_30k_circle_warning_is_refused_quickly_while_the_loop_keeps_running(app) -> None:
    body = cap_with_circles(30_000, "big-30k")
    assert 800_000 < len(body) < MAX_BYTES  # the size of the upload that blocked the loop for 4.4 s
    async with api_client(app, role="coordinator") as client, loop_lag() as lag:
        started = time.monotonic()
        response = await client.post("/api/campaigns/weather", content=body)
        elapsed = time.monotonic() - started
    assert response.status_code == 400
    assert response.json()["detail"] == (f"CAP document has too many polygons and circles: at most {MAX_SHAPES} "
                                         "are accepted")
    assert elapsed < 2.0 and lag() < 0.2, (elapsed, lag())


async def test_a_warning_at_the_shape_limit_is_processed_off_the_event_loop(app) -> None:
    body = cap_with_circles(MAX_SHAPES, "at-limit")
    async with api_client(app, role="coordinator") as client, loop_lag() as lag:
        started = time.monotonic()
        response = await client.post("/api/campaigns/weather", content=body)
        elapsed = time.monotonic() - started
    assert response.status_code == 200, response.text
    assert response.json()["created"] and response.json()["tasks"] == 1
    # On the loop, the loop would have been blocked for about the whole request; off it, for a few ms.
    assert lag() < min(0.2, elapsed / 2), (elapsed, lag())


async def test_declared_and_streamed_bodies_over_the_limit_get_413_without_being_read(app) -> None:
    async with api_client(app, role="coordinator") as client:
        declared = await client.post("/api/alerts/1/acknowledge", content=b"x" * (MIB + 1),
                                     headers={"content-type": "application/json"})
        assert declared.status_code == 413
        assert declared.json()["detail"] == f"request body too large: the limit for this route is {MIB} bytes"

        sent = 0

        async def chunks() -> AsyncIterator[bytes]:  # no Content-Length: a chunked upload of 200 MB
            nonlocal sent
            for _ in range(200 * 16):
                sent += 1
                yield b" " * 65_536

        streamed = await client.post("/api/campaigns/information", content=chunks(),
                                     headers={"content-type": "application/json"})
        assert streamed.status_code == 413 and "limit for this route" in streamed.json()["detail"]
        assert sent <= MIB // 65_536 + 2  # stopped at the limit, not after reading everything

        # The CAP upload has its own, larger limit: 1.5 MB reaches the parser; more than 2 MB does not.
        big_xml = await client.post("/api/campaigns/weather", content=b"<" + b"x" * 1_500_000)
        assert big_xml.status_code == 400 and "well-formed" in big_xml.json()["detail"]
        too_big = await client.post("/api/campaigns/weather", content=b"x" * (MAX_BYTES + 1))
        assert too_big.status_code == 413 and str(MAX_BYTES) in too_big.json()["detail"]


async def test_a_real_server_answers_413_to_a_200_mb_content_length_at_once(app) -> None:
    async with serve(app) as base:
        host, port = base.removeprefix("http://").split(":")
        reader, writer = await asyncio.open_connection(host, int(port))
        writer.write(b"POST /api/campaigns/information HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                     b"Content-Length: 200000000\r\n\r\n{\"title\": ")
        await writer.drain()
        head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 5)
        writer.close()
    assert head.startswith(b"HTTP/1.1 413")


def test_the_default_limit_comes_from_telecare_max_body_bytes(monkeypatch) -> None:
    assert load_settings().max_body_bytes == MIB
    monkeypatch.setenv("TELECARE_MAX_BODY_BYTES", "4096")
    assert load_settings().max_body_bytes == 4096
