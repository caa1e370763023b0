"""The operator page's "Live" badge in Chromium follows what the server says about its stream."""
from __future__ import annotations

from datetime import datetime, timezone

import pytest

from alerts.store import AlertStore
from dashboards.app import WebDeps, create_app
from telecare.alerts import AlertTrigger, AlertType, Severity
from telecare.bus import ALERTS, FeedGap, FeedState, InProcessBus
from telecare.clock import SystemClock
from tests.web_helpers import sign_in_browser
from tests.e2e.browser import browser_page, insert_resident, serve

pytestmark = pytest.mark.e2e


async def test_badge_leaves_live_while_the_feed_is_lost_and_returns_after_a_reload(db):
    clock, bus = SystemClock(), InProcessBus()
    store = AlertStore(db, bus)
    await insert_resident(db, "r1", "Montserrat Puig")
    app = create_app(WebDeps(db=db, bus=bus, alerts=store, clock=clock))
    async with serve(app) as base, browser_page() as page:
        from playwright.async_api import expect

        badge = page.locator("#live-status")
        await page.goto(base + "/")
        await sign_in_browser(page, base, app, ["operator"], name="anna-serra")
        await page.goto(base + "/")
        await expect(badge).to_have_attribute("data-live", "on")

        await bus.publish(ALERTS, "", FeedGap(FeedState.LOST, datetime.now(timezone.utc), "test"))
        await expect(badge).to_have_attribute("data-live", "off")
        await expect(badge).to_have_text("Not receiving…")

        await bus.publish(ALERTS, "", FeedGap(FeedState.RESUMED, datetime.now(timezone.utc), "test"))
        await expect(badge).to_have_attribute("data-live", "on")
        now = clock.now()
        fall = (await store.raise_or_attach(AlertTrigger("r1", AlertType.FALL, Severity.CRITICAL, now, "fall"),
                                            now)).alert
        await expect(page.locator(f'tr[data-alert-id="{fall.id}"]')).to_be_visible()
