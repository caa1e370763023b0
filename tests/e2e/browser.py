"""Shared helpers for web tests: serve an ASGI app with uvicorn in-process, drive Debian Chromium.

Usage (inside an async test):
    async with serve(app) as base_url, browser_page() as page:
        await page.goto(base_url + "/")
Close the page before the server (the `async with` order above does that) so open SSE streams end.
"""
from __future__ import annotations

import asyncio
import os
import socket
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from datetime import date
from typing import Any

CHROMIUM = os.environ.get("TELECARE_TEST_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]


def free_port() -> int:
    """A TCP port nobody listens on right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@asynccontextmanager
async def serve(app: Any, *, port: int | None = None) -> AsyncIterator[str]:
    """Run `app` under uvicorn on 127.0.0.1 in this event loop (lifespan included); yield its base URL."""
    import uvicorn

    port = port or free_port()
    config = uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="on",
                            timeout_graceful_shutdown=2)
    server = uvicorn.Server(config)
    task = asyncio.create_task(server.serve())
    while not server.started:
        if task.done():  # startup failed: surface the reason instead of waiting forever
            task.result()
            raise RuntimeError("uvicorn exited during startup")
        await asyncio.sleep(0.02)  # startup poll, not a wait for the behaviour under test
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        await asyncio.wait_for(task, 15)


@asynccontextmanager
async def browser_page(*, viewport: tuple[int, int] = (1280, 860), timezone_id: str | None = None,
                       locale: str | None = None) -> AsyncIterator[Any]:
    """A fresh Playwright page in headless Debian Chromium (optionally in another time zone and locale);
    skips (fails in CI) when Chromium is missing."""
    from tests.conftest import unavailable

    if not os.path.exists(CHROMIUM):
        unavailable(f"no Chromium at {CHROMIUM}")
    try:
        from playwright.async_api import async_playwright
    except ImportError:
        unavailable("playwright is not installed")
    async with async_playwright() as pw:
        browser = await pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            options: dict[str, Any] = {"viewport": {"width": viewport[0], "height": viewport[1]}}
            if timezone_id:
                options["timezone_id"] = timezone_id
            if locale:
                options["locale"] = locale
            context = await browser.new_context(**options)
            page = await context.new_page()
            yield page
            await context.close()
        finally:
            await browser.close()


async def insert_resident(db: Any, resident_id: str, name: str, *, born: date | None = None,
                          address: str = "", phones: Sequence[str] = (), key_safe_code: str | None = None,
                          contacts: Sequence[dict[str, Any]] = (), risk_flags: Sequence[str] = (),
                          at_home: bool = True) -> None:
    """Put a resident straight into the residents table (test data; the registry owns it in the app)."""
    await db.execute(
        """INSERT INTO residents (id, name, date_of_birth, address, phones, key_safe_code, contacts, risk_flags,
                                  at_home)
           VALUES (%s, %s, %s, %s, ARRAY(SELECT jsonb_array_elements_text(%s)), %s, %s,
                   ARRAY(SELECT jsonb_array_elements_text(%s)), %s)""",
        # The store sends Python lists as jsonb, so text[] columns are built from them in SQL.
        (resident_id, name, born, address, list(phones), key_safe_code, [dict(c) for c in contacts],
         list(risk_flags), at_home),
    )


# Signed-in clients: tests.web_helpers (a Bearer token for a role by default; anonymous=True for nobody).
from tests.web_helpers import api_client, session_client, sign_in_browser  # noqa: E402,F401 - re-exported
