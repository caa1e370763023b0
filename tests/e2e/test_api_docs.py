"""/docs renders the operation list in Chromium with every request to another host blocked (no CDN)."""
from __future__ import annotations

import re
from datetime import datetime, timezone
from urllib.parse import urlsplit

import httpx
import pytest

from alerts.store import AlertStore
from dashboards.app import WebDeps, create_app
from telecare.bus import InProcessBus
from telecare.clock import FakeClock
from tests.e2e.browser import browser_page, serve

pytestmark = pytest.mark.e2e
NOW = datetime(2026, 7, 15, 9, 0, tzinfo=timezone.utc)
EXTERNAL_URL = re.compile(r"""(?:src|href)\s*=\s*["']?(?:https?:)?//""", re.IGNORECASE)


async def test_docs_render_offline_from_the_apps_own_assets(db) -> None:
    bus = InProcessBus()
    app = create_app(WebDeps(db=db, bus=bus, alerts=AlertStore(db, bus), clock=FakeClock(NOW)))
    async with serve(app) as base, browser_page() as page:
        own = urlsplit(base).netloc
        blocked: list[str] = []
        failed: list[str] = []

        async def only_this_app(route) -> None:
            if urlsplit(route.request.url).netloc == own:
                await route.continue_()
            else:
                blocked.append(route.request.url)
                await route.abort("internetdisconnected")

        await page.route("**/*", only_this_app)
        page.on("requestfailed", lambda request: failed.append(request.url))
        await page.goto(base + "/docs")
        await page.locator(".opblock-summary-path", has_text="/api/alerts/{alert_id}/acknowledge").wait_for()
        paths = await page.locator(".opblock-summary-path").all_inner_texts()
        assert "/healthz" in {p.strip() for p in paths} and len(paths) >= 5
        assert blocked == [] and failed == []

        async with httpx.AsyncClient(base_url=base) as client:
            for url in ("/docs", "/redoc"):
                html = (await client.get(url)).text
                assert "/docs-assets/" in html and not EXTERNAL_URL.search(html), url
            js = await client.get("/docs-assets/swagger-ui-bundle.js")
            assert js.status_code == 200 and "SwaggerUIBundle" in js.text
