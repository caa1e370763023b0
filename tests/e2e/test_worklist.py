"""A caller's worklist in a real browser: a due call is listed, one click starts it, one tap records the outcome."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest

from dashboards.app import WebDeps, create_app
from devices.registry import Registry
from outreach.call_log import CallFilter
from outreach.service import OutreachService
from outreach.planning import PlannedCall
from demo.simulated_telephony import SimulatedTelephony
from alerts.store import AlertStore
from telecare.bus import InProcessBus
from telecare.clock import FakeClock
from telecare.people import Resident, RiskFlag
from telecare.settings import load_settings
from tests.web_helpers import put_in_team, sign_in_browser
from tests.e2e.browser import browser_page, serve
from entrypoints.outreach_web import outreach_routers

pytestmark = pytest.mark.e2e
# Today at 11:00 in Madrid: inside the residents' calling hours (10:00-20:00), whenever the suite runs.
NOW = datetime.now(ZoneInfo("Europe/Madrid")).replace(hour=11, minute=0, second=0, microsecond=0).astimezone(timezone.utc)


async def _app(db):
    clock = FakeClock(NOW)
    bus = InProcessBus()
    registry = Registry(db)
    await registry.upsert_resident(Resident("r1", "Montserrat Puig", phones=("+34600111222",),
                                            risk_flags=frozenset({RiskFlag.LIVES_ALONE})))
    await registry.upsert_resident(Resident("r2", "Jordi Vila", phones=("+34600333444",)))
    alerts = AlertStore(db, bus)
    service = OutreachService(db, bus, alerts, registry, SimulatedTelephony(clock), clock,
                              load_settings(database_url=None))
    day = NOW.date()
    await service.tasks.save_plans([
        PlannedCall("r1", "follow_up", "human", day, NOW - timedelta(hours=1), NOW + timedelta(hours=6), 5, "Anna",
                    "wl:r1", "follow-up level 2"),
        PlannedCall("r2", "birthday", "human", day, NOW - timedelta(hours=1), NOW + timedelta(hours=6), 50, "Pere",
                    "wl:r2", "birthday"),
    ], NOW)
    app = create_app(WebDeps(db=db, bus=bus, alerts=alerts, clock=clock, residents=registry,
                             extra_routers=tuple(outreach_routers(service))))
    return app, service


async def test_worklist_lists_the_due_call_one_click_starts_it_one_tap_records_it(db):
    app, service = await _app(db)
    async with serve(app) as base, browser_page() as page:
        await put_in_team(db, "team-a")  # a coordinator of team-a sees its residents
        await sign_in_browser(page, base, app, ["coordinator"], ["team-a"], name="anna")
        await page.goto(base + "/care/worklist")
        await page.fill("#caller", "Anna")
        await page.click("#who button[type=submit]")
        item = page.locator("[data-task-id]")
        # The unfiltered list from page load may still be on screen: wait for the filtered one.
        await page.wait_for_function("document.querySelectorAll('[data-task-id]').length === 1")
        assert await item.count() == 1  # Anna's call only, not Pere's
        assert "Montserrat Puig" in await item.first.inner_text()
        assert "Lives alone" in await item.first.inner_text()

        await page.get_by_role("button", name="Call Montserrat Puig").click()  # one click
        await page.locator("#in-call").wait_for(state="visible")
        assert await page.locator("#in-call-phone").inner_text() == "+34600111222"
        await page.fill("#note", "Fine; her daughter visits on Sundays")
        await page.locator("[data-outcome=fine]").click()  # one tap
        await page.locator("#in-call").wait_for(state="hidden")
        await page.locator("#empty").wait_for(state="visible")

    calls = await service.call_log.query(CallFilter())
    assert [(c.resident_id, c.caller, c.mode, c.outcome, c.note) for c in calls] == [
        ("r1", "anna", "human", "fine", "Fine; her daughter visits on Sundays")]
    assert await _status(db, "r1") == "done"
    assert await _status(db, "r2") == "pending"


async def _status(db, rid):
    return await db.fetchval("SELECT status FROM call_tasks WHERE resident_id = %s", (rid,))


async def test_a_caller_with_no_calls_is_offered_the_services_list(db):
    app, _ = await _app(db)
    async with serve(app) as base, browser_page() as page:
        await put_in_team(db, "team-a")  # a coordinator of team-a sees its residents
        await sign_in_browser(page, base, app, ["coordinator"], ["team-a"], name="anna")
        await page.goto(base + "/care/worklist")
        await page.fill("#caller", "Nobody")
        await page.click("#who button[type=submit]")
        await page.locator("#show-all").wait_for(state="visible")
        assert "2 are due for the service" in await page.locator("#empty-text").inner_text()
        suggestions = await page.eval_on_selector_all("#assignees option", "os => os.map(o => o.value)")
        assert suggestions == ["Anna", "Pere"]
        await page.click("#show-all")
        await page.locator("[data-task-id]").nth(1).wait_for()
        assert await page.locator("[data-task-id]").count() == 2
