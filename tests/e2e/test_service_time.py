"""Times on the pages are the service's (Europe/Madrid), 24-hour, even in a browser set to New York in US English;
the worklist says until when a call waits for calling hours, and an urgent call can still be started."""
from __future__ import annotations

import re
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from alerts.store import AlertStore
from dashboards.app import WebDeps, create_app
from demo.simulated_telephony import SimulatedTelephony
from devices.registry import Registry
from entrypoints.outreach_web import outreach_routers
from outreach.planning import PlannedCall
from outreach.service import OutreachService
from telecare.bus import InProcessBus
from telecare.clock import FakeClock
from telecare.people import Resident
from telecare.settings import load_settings
from tests.web_helpers import put_in_team, sign_in_browser
from tests.e2e.browser import browser_page, insert_resident, serve

pytestmark = pytest.mark.e2e
MADRID = ZoneInfo("Europe/Madrid")
EARLY = datetime(2026, 7, 15, 7, 30, tzinfo=MADRID)  # 01:30 in New York; calling hours open at 10:00 Madrid
AM_PM = re.compile(r"\b(AM|PM)\b", re.IGNORECASE)


async def test_worklist_in_a_new_york_browser_shows_madrid_times_and_until_when_calls_wait(db):
    clock, bus, registry = FakeClock(EARLY), InProcessBus(), Registry(db)
    await registry.upsert_resident(Resident("r1", "Montserrat Puig", phones=("+34600111222",)))
    alerts = AlertStore(db, bus)
    service = OutreachService(db, bus, alerts, registry, SimulatedTelephony(clock), clock,
                              load_settings(database_url=None))
    await service.tasks.save_plans([PlannedCall(
        "r1", "follow_up", "human", EARLY.date(), EARLY.replace(hour=10, minute=0), EARLY.replace(hour=20, minute=0), 5, "Anna",
        "tz:r1", "follow-up level 2")], EARLY)
    app = create_app(WebDeps(db=db, bus=bus, alerts=alerts, clock=clock, residents=registry,
                             extra_routers=tuple(outreach_routers(service))))
    async with serve(app) as base, browser_page(timezone_id="America/New_York", locale="en-US") as page:
        from playwright.async_api import expect

        await put_in_team(db, "team-a")  # a coordinator of team-a sees its residents
        await sign_in_browser(page, base, app, ["coordinator"], ["team-a"], name="anna")
        await page.goto(base + "/care/worklist")
        item = page.locator('[data-task-id]')
        waits = item.locator(".waits")
        await expect(waits).to_have_text("Waits for calling hours until 10:00")  # not 04:00 New York, not 10:00 AM
        meta = await item.locator(".meta").inner_text()
        assert "10:00–20:00" in meta and not AM_PM.search(meta)
        assert await page.evaluate("Intl.DateTimeFormat().resolvedOptions().timeZone") == "America/New_York"
        assert await item.get_by_role("button", name="Call Montserrat Puig").is_disabled()

        await page.fill("#caller", "Anna")
        await item.get_by_role("button", name="Urgent call to Montserrat Puig outside calling hours").click()
        await page.locator("#in-call").wait_for(state="visible")
    assert await db.fetchval("SELECT urgent FROM call_log WHERE resident_id = 'r1'") is True


async def test_resident_card_times_are_madrid_24_hour_in_a_new_york_browser(db):
    now = datetime(2026, 7, 15, 15, 0, tzinfo=MADRID)
    await insert_resident(db, "r1", "Montserrat Puig")
    fall = now - timedelta(minutes=55)  # 14:05 Madrid = 08:05 New York = 2:05 PM
    await db.execute(
        """INSERT INTO events (id, ts, received_at, gateway_id, device_id, resident_id, type, msg_id)
           SELECT gen_random_uuid(), %(ts)s, %(ts)s, 'gw-r1', 'fd-r1', 'r1', 'fall', 'f1'
           UNION ALL
           SELECT gen_random_uuid(), %(now)s - make_interval(secs => 30 * g), %(now)s, 'gw-r1', 'gw-r1', 'r1',
                  'heartbeat', 'hb' || g FROM generate_series(0, 2879) g""", {"ts": fall, "now": now})
    bus = InProcessBus()
    store = AlertStore(db, bus)
    app = create_app(WebDeps(db=db, bus=bus, alerts=store, clock=FakeClock(now)))
    from telecare.alerts import AlertTrigger, AlertType, Severity

    await store.raise_or_attach(AlertTrigger("r1", AlertType.FALL, Severity.CRITICAL, fall, "fall detected"), fall)
    async with serve(app) as base, browser_page(timezone_id="America/New_York", locale="en-US") as page:
        from playwright.async_api import expect

        await page.goto(base + "/")
        await sign_in_browser(page, base, app, ["operator"], name="anna-serra")
        await page.goto(base + "/")
        await page.locator('[data-open-resident="r1"]').click()
        alarm = page.locator('#resident-events tr[data-alarm="fall"]')
        await expect(alarm).to_contain_text("14:05")
        assert "08:05" not in await alarm.inner_text() and not AM_PM.search(await alarm.inner_text())
        await expect(page.locator('#resident-heartbeats [data-heartbeats="gw-r1"]')).to_have_text(
            "gw-r1: 2880 heartbeats, last 15:00")
        await expect(page.locator("#resident-panel [data-service-zone]")).to_have_text("Europe/Madrid")
