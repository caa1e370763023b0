"""`telecare run web` as its own process: every nav link answers, and another process's alert reaches its stream."""
from __future__ import annotations

import asyncio
import json
import os
import re
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import datetime, timezone
from pathlib import Path

import httpx
import pytest

from alerts.store import AlertStore
from demo.broker import free_port
from telecare.alerts import AlertTrigger, AlertType, Severity
from telecare.pgbus import PostgresBus
from identity.model import Role
from tests.web_helpers import db_session_cookies
from tests.conftest import eventually
from tests.e2e.browser import insert_resident

NAV_JS = Path(__file__).resolve().parents[2] / "dashboards" / "static" / "nav.js"


def nav_links() -> list[str]:
    """The hrefs of the shared nav bar, read from nav.js itself so a new link is tested too."""
    block = NAV_JS.read_text().split("const LINKS = [", 1)[1].split("];", 1)[0]
    return re.findall(r'^\s*\[\s*"([^"]+)"', block, re.MULTILINE)  # each entry's first string (not its roles)


def clean_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("TELECARE_")}
    env.update(TELECARE_LOG_LEVEL="WARNING", **extra)
    return env


@pytest.fixture
def web_alone(db_url: str, tmp_path: Path) -> Iterator[str]:
    """`telecare run web` against the test database, no TELECARE_BUS: the default for a part alone."""
    port = free_port()
    log_path = tmp_path / "web.log"
    with open(log_path, "wb") as log:
        proc = subprocess.Popen([sys.executable, "-m", "entrypoints.cli", "run", "web"], stdout=log,
                                stderr=subprocess.STDOUT,
                                env=clean_env(TELECARE_DATABASE_URL=db_url, TELECARE_HTTP_PORT=str(port)))
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            if proc.poll() is not None:
                pytest.fail(f"run web exited with {proc.returncode}:\n{log_path.read_text()[-3000:]}")
            try:
                if httpx.get(f"{base}/healthz", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline:
                pytest.fail(f"run web did not become healthy:\n{log_path.read_text()[-3000:]}")
            time.sleep(0.1)
        yield base
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()


async def test_every_nav_link_works_and_a_foreign_alert_goes_live(web_alone: str, db) -> None:
    links = nav_links()
    assert {"/", "/care/worklist", "/care/calls", "/care/campaigns", "/phones", "/docs"} <= set(links)
    cookies, headers = await db_session_cookies(db, list(Role), ["Equip test"], name="everyone")
    async with httpx.AsyncClient(base_url=web_alone, timeout=10, cookies=cookies, headers=headers) as client:
        for href in links:
            response = await client.get(href)
            assert response.status_code == 200, (href, response.status_code, response.text[:300])
        # The care pages' own data calls work over the stores, without the outreach process.
        for api in ("/api/worklist", "/api/calls", "/api/campaigns", "/api/escalations"):
            assert (await client.get(api)).status_code == 200, api
        phones = (await client.get("/phones")).text
        assert "telecare run outreach" in phones and "telecare run all" in phones  # says where the phones ring

    # Another process (this test) raises alerts through the PostgreSQL bus; the web's live stream shows them.
    await insert_resident(db, "r1", "Montserrat Puig")
    store = AlertStore(db, PostgresBus(db))
    frames: list[dict] = []

    async def read_stream() -> None:
        async with httpx.AsyncClient(base_url=web_alone, timeout=None, cookies=cookies) as client:
            async with client.stream("GET", "/api/alerts/stream") as response:
                event = None
                async for line in response.aiter_lines():
                    if line.startswith("event:"):
                        event = line[6:].strip()
                    elif line.startswith("data:") and event == "change":
                        frames.append(json.loads(line[5:]))

    reader = asyncio.create_task(read_stream())
    try:
        # LISTEN in the web process starts asynchronously: raise (then attach to) the alert until one arrives.
        deadline = time.monotonic() + 20
        while not frames and time.monotonic() < deadline:
            now = datetime.now(timezone.utc)
            change = await store.raise_or_attach(
                AlertTrigger("r1", AlertType.HELP_BUTTON, Severity.CRITICAL, now, "help pressed"), now)
            try:
                await eventually(lambda: frames, timeout=1)
            except AssertionError:
                continue
        assert frames, "no alert change reached the web process's live stream"
        assert frames[0]["alert"]["id"] == change.alert.id
        assert frames[0]["alert"]["resident_name"] == "Montserrat Puig"
    finally:
        reader.cancel()
        await asyncio.gather(reader, return_exceptions=True)


def test_run_web_alone_refuses_the_in_process_bus(db_url: str) -> None:
    proc = subprocess.run([sys.executable, "-m", "entrypoints.cli", "run", "web"], capture_output=True, text=True,
                          env=clean_env(TELECARE_DATABASE_URL=db_url, TELECARE_BUS="inprocess",
                                        TELECARE_HTTP_PORT=str(free_port())), timeout=60)
    assert proc.returncode == 2, proc.stderr[-2000:]
    assert "TELECARE_BUS=postgres" in proc.stderr and "telecare run all" in proc.stderr
    assert "Traceback" not in proc.stderr
