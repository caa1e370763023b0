"""The fleet page (installer) and the quality board (admin, coordinator) in Chromium on seeded records."""
from __future__ import annotations

from datetime import timedelta

import pytest

from alerts.store import AlertStore
from dashboards.routes.fleet import router as fleet_router
from dashboards.routes.quality import router as quality_router
from devices.installations import GatewaySite, Installations
from telecare.bus import InProcessBus
from telecare.clock import FakeClock
from telecare.events import DeviceType
from tests.e2e.browser import browser_page, insert_resident, serve
from tests.integration.test_api_quality import ANSWERS, NOW, _seed_alarms
from tests.web_helpers import app_with, sign_in_browser

pytestmark = pytest.mark.e2e
PHONE = "+34600777666"


async def test_the_fleet_page_filters_and_offers_the_visit_list(db):
    await insert_resident(db, "r-f", "Pere Font Mas", address="Carrer del Clot 5, Barcelona", phones=[PHONE])
    installs = Installations(db)
    await installs.register_gateway(GatewaySite("gw-f", "r-f", "SN-F", "", ("Hall",)), "inst", NOW)
    await installs.add_sensor("gw-f", "pd-f", DeviceType.PENDANT, "SN-PD-F", "Hall", "inst", NOW)
    await db.execute("""INSERT INTO device_rollup_daily (resident_id, device_id, day, events, last_seen, battery,
                        min_battery) VALUES ('r-f', 'pd-f', %s, 2, %s, 9, 9)""", (NOW.date(), NOW - timedelta(hours=1)))
    bus, clock = InProcessBus(), FakeClock(NOW)
    app = app_with(db, bus, AlertStore(db, bus), clock, [fleet_router(db, clock)])
    async with serve(app) as base, browser_page() as page:
        from playwright.async_api import expect

        await sign_in_browser(page, base, app, ["installer"], name="ines-installer")
        await page.goto(base + "/fleet")
        await expect(page.locator("#fleet-rows tr[data-device-id]")).to_have_count(2)
        await expect(page.locator('#fleet-rows tr[data-device-id="pd-f"]')).to_have_attribute("data-low-battery", "true")
        await page.select_option("#fleet-status", "offline")
        await expect(page.locator("#fleet-rows tr[data-device-id]")).to_have_count(1)
        await expect(page.locator('#fleet-rows tr[data-device-id="gw-f"]')).to_contain_text("Carrer del Clot 5")
        assert await page.get_attribute("#fleet-csv", "href") == "/api/fleet.csv?status=offline"
        assert PHONE not in await page.content()


async def test_the_quality_board_shows_the_seeded_histories_percentages_against_the_targets(db):
    for i in range(5):
        await db.execute("INSERT INTO residents (id, name, care_plan) VALUES (%s, 'x', %s)",
                         (f"r{i}", {"team": "A" if i < 2 else "B"}))
    bus, clock = InProcessBus(), FakeClock(NOW)
    await _seed_alarms(db, AlertStore(db, bus))
    app = app_with(db, bus, AlertStore(db, bus), clock, [quality_router(db, clock, "Europe/Madrid")])
    async with serve(app) as base, browser_page() as page:
        from playwright.async_api import expect

        await sign_in_browser(page, base, app, ["admin"], name="ada-admin")
        await page.goto(base + "/quality")
        await page.fill("#quality-from", "2026-01-13")
        await page.fill("#quality-to", "2026-01-14")
        await page.click("#quality-range button[type=submit]")
        await expect(page.locator("#figure-alarms .value")).to_have_text(str(len(ANSWERS)))
        await expect(page.locator("#figure-60 .value")).to_have_text("97.5 %")  # 39 of 40 within 60 s: on target
        await expect(page.locator("#figure-60")).to_have_attribute("data-met", "true")
        await expect(page.locator("#figure-180 .value")).to_have_text("100.0 %")
        await expect(page.locator("#per-day tbody tr[data-day]")).to_have_count(2)
        await expect(page.locator("#per-operator tbody tr[data-operator]")).to_have_count(2)
        # The bars are drawn (CSP allows no inline style attribute: widths go through the CSSOM).
        fill = page.locator('#per-day tr[data-day="2026-01-14"] .bar .fill').first
        assert await fill.evaluate("n => n.style.width") == "95%"  # 19 of 20 within 60 s on the 14th
        assert await fill.evaluate("n => n.getBoundingClientRect().width > 0")
        hours = await page.locator("#per-hour tbody tr").evaluate_all("rows => rows.map(r => Number(r.dataset.hour))")
        assert hours == sorted(hours)
        # A coordinator of team A sees their residents' 16 alarms only.
        await sign_in_browser(page, base, app, ["coordinator"], teams=["A"], name="cora-coordinator")
        await page.goto(base + "/quality")
        await page.fill("#quality-from", "2026-01-13")
        await page.fill("#quality-to", "2026-01-14")
        await page.click("#quality-range button[type=submit]")
        await expect(page.locator("#figure-alarms .value")).to_have_text("16")
        await expect(page.locator("#quality-scope")).to_contain_text("A")
