"""The operator page in Chromium: an alarm nobody was reached for is the loudest thing on the screen (banner,
re-alert, first row) until acknowledged; its history opens from the queue and takes a note; filters narrow it."""
from __future__ import annotations

from datetime import timedelta

import pytest

from alerts.store import AlertStore
from dashboards.app import WebDeps, create_app
from demo.simulated_telephony import SimulatedTelephony
from devices.registry import Registry
from outreach.call_log import CallLog
from outreach.escalation import Escalator
from telecare.alerts import AlertTrigger, AlertType, Severity
from telecare.bus import InProcessBus
from telecare.clock import FakeClock, SystemClock
from telecare.people import Contact, Resident
from tests.web_helpers import sign_in_browser
from tests.e2e.browser import browser_page, serve

pytestmark = pytest.mark.e2e
NOBODY = "Nobody reached: send the mobile unit / call 112"


async def test_nobody_reached_banner_history_and_filters(db):
    clock, bus = FakeClock(SystemClock().now()), InProcessBus()
    registry = Registry(db)
    await registry.upsert_resident(Resident("r1", "Montserrat Puig", contacts=(
        Contact("Núria Puig", "+34600000002", "daughter", 1, True),)))  # her daughter's phone is ringing
    await registry.upsert_resident(Resident("r2", "Jordi Vidal"))  # no key-holders on record
    store = AlertStore(db, bus)
    sim = SimulatedTelephony(clock)
    esc = Escalator(db, bus, store, sim, registry, clock, second_tier_after_s=60, keyholders_after_s=180,
                    call_log=CallLog(db))

    async def raise_(rid, type_, severity, reason):
        change = await store.raise_or_attach(AlertTrigger(rid, type_, severity, clock.now(), reason), clock.now())
        await esc.handle(change)
        return change.alert

    battery = await raise_("r1", AlertType.LOW_BATTERY, Severity.TECHNICAL, "Low battery on Pendant p1 (12%)")
    help_ = await raise_("r1", AlertType.HELP_BUTTON, Severity.CRITICAL, "Help button pressed at 10:00")
    clock.advance(1)
    fall = await raise_("r2", AlertType.FALL, Severity.CRITICAL, "Fall detected at 10:00")
    app = create_app(WebDeps(db=db, bus=bus, alerts=store, clock=clock))

    async with serve(app) as base, browser_page() as page:
        from playwright.async_api import expect

        page_errors: list[str] = []
        page.on("pageerror", lambda err: page_errors.append(str(err)))
        page.on("response", lambda r: page_errors.append(f"{r.status} {r.url}") if r.status >= 400 else None)
        await sign_in_browser(page, base, app, ["operator"], name="anna-serra")
        await page.goto(base + "/")
        await expect(page.locator("#live-status")).to_have_attribute("data-live", "on")
        await expect(page.locator("#nobody-banner")).to_be_hidden()
        rows = page.locator("#queue-body tr")
        await expect(rows.first).to_have_attribute("data-alert-id", str(help_.id))

        # Three minutes on and nobody answered: r2 has no key-holders, so the escalation is exhausted at once.
        clock.advance(180)
        await esc.tick()
        banner = page.locator("#nobody-banner")
        await expect(banner).to_be_visible()
        await expect(banner).to_contain_text(NOBODY)
        await expect(banner.locator(f'li[data-alert-id="{fall.id}"]')).to_have_text("Fall — Jordi Vidal")
        await expect(page.locator("#banner")).to_contain_text("Nobody reached: Fall — Jordi Vidal")  # re-alerted
        fall_row = page.locator(f'tr[data-alert-id="{fall.id}"]')
        await expect(rows.first).to_have_attribute("data-alert-id", str(fall.id))  # newer, but first now
        await expect(fall_row.locator(".badge.nobody")).to_have_text("Nobody reached")
        await expect(fall_row).to_have_attribute("data-escalation-state", "exhausted")
        # Technical alerts show their age but never the red answer-target clock.
        await expect(page.locator(f'tr[data-alert-id="{battery.id}"] .wait')).to_have_class("wait")
        await expect(page.locator(f'tr[data-alert-id="{help_.id}"] .wait')).to_have_class("wait wait-red")

        # The history opens from the queue and takes a note signed with the operator's name.
        await fall_row.locator("[data-action=history]").click()
        dialog = page.locator("#history-dialog")
        await expect(dialog).to_be_visible()
        items = dialog.locator("#history-list li")
        await expect(items.first).to_contain_text("Raised: Fall detected at 10:00")
        await expect(dialog.locator('li[data-kind="exhausted"]')).to_contain_text(
            "Nobody reached (round 1): send the mobile unit / call 112")
        await page.fill("#note-text", "Mobile unit 4 on its way")
        await page.click("#note-submit")
        await expect(items.last).to_contain_text("Mobile unit 4 on its way")
        await expect(items.last.locator(".who")).to_have_text("anna-serra")
        await page.screenshot(path="/tmp/operator_nobody.png", full_page=True)
        await page.click("#history-close")

        # Filters narrow the queue; the banner stays whatever the filter.
        await page.select_option("#filter-severity", "technical")
        await expect(rows).to_have_count(1)
        await expect(rows.first).to_have_attribute("data-alert-id", str(battery.id))
        await expect(banner).to_be_visible()
        await page.select_option("#filter-severity", "")
        await page.fill("#filter-search", "jordi")
        await expect(rows).to_have_count(1)
        await page.fill("#filter-search", "")
        await expect(rows).to_have_count(3)

        # Acknowledged: somebody has it, the banner goes.
        await fall_row.locator("[data-action=acknowledge]").click()
        await expect(fall_row).to_have_attribute("data-status", "acknowledged")
        await expect(banner).to_be_hidden()
        assert page_errors == [], "\n".join(page_errors)
    await sim.close()
