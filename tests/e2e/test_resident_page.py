"""The resident page in Chromium: a care worker finds a resident by name, sees the plots drawn, records a visit
and a note; a municipal social worker of the same team then sees both on the shared record."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from alerts.store import AlertStore
from dashboards.app import WebDeps, create_app
from devices.registry import Registry
from identity.model import Organisation
from insights.rollups import RollupJob
from telecare.bus import InProcessBus
from telecare.clock import FakeClock
from telecare.people import CarePlan, Resident
from tests.e2e.browser import browser_page, serve
from tests.insights_seed import history, store_events
from tests.web_helpers import sign_in_browser

pytestmark = pytest.mark.e2e
NOW = datetime.now(timezone.utc).replace(microsecond=0)
CHARTS = ("chart-bed", "chart-doors", "chart-medication", "chart-calls", "chart-activity", "chart-usual",
          "chart-devices")


async def _app(db):
    registry = Registry(db)
    await registry.upsert_resident(Resident("r1", "Montserrat Puig", phones=("+34600111222",),
                                            care_plan=CarePlan(team="Nord")))
    await registry.upsert_resident(Resident("r2", "Jordi Vila", care_plan=CarePlan(team="Nord")))
    midnight = NOW.replace(hour=0, minute=0, second=0)
    await store_events(db, history("r1", 70, seed=8, start=midnight - timedelta(days=70)))
    await db.execute("""INSERT INTO devices (id, type, gateway_id, resident_id) VALUES
                        ('gw-r1', 'gateway', 'gw-r1', 'r1'), ('motion-1-r1', 'motion_sensor', 'gw-r1', 'r1')""")
    await db.execute("""INSERT INTO call_log (resident_id, purpose, caller, mode, phone, started_at, answered_at,
                                              outcome) VALUES ('r1', 'follow_up', 'anna', 'human', '+34600111222',
                                              %s, %s, 'fine')""", (NOW - timedelta(days=3), NOW - timedelta(days=3)))
    await RollupJob(db).catch_up(NOW)
    bus = InProcessBus()
    return create_app(WebDeps(db=db, bus=bus, alerts=AlertStore(db, bus), clock=FakeClock(NOW), residents=registry))


async def _drawn(page) -> dict[str, int]:
    return await page.evaluate("""(ids) => Object.fromEntries(ids.map((id) => {
        const node = document.getElementById(id);
        const chart = window.echarts.getInstanceByDom(node);
        const data = chart ? chart.getOption().series.reduce((n, s) => n + s.data.length, 0) : 0;
        return [id, node.querySelector("canvas") && Number(node.dataset.points) > 0 ? data : 0];
    }))""", list(CHARTS))


async def test_find_read_plot_visit_note_and_the_other_organisation_sees_them(db):
    app = await _app(db)
    async with serve(app) as base, browser_page() as page:
        from playwright.async_api import expect  # after browser_page(): it skips when playwright is missing

        await sign_in_browser(page, base, app, ["care_team"], ["Nord"], name="carme")
        await page.goto(base + "/residents")
        await page.locator("[data-resident-id=r2]").wait_for()  # everyone in the team, before searching
        await page.fill("#q", "montserrat")
        await page.click("#search button[type=submit]")
        # expect(), not wait_for_function(expression): the page's CSP (no unsafe-eval) refuses a polled eval.
        await expect(page.locator("[data-resident-id]")).to_have_count(1)
        await page.get_by_role("link", name="Montserrat Puig").click()
        await page.wait_for_url(base + "/residents/r1")
        await page.locator("body[data-loaded=true]").wait_for()
        assert await page.locator("#rp-name").inner_text() == "Montserrat Puig"
        drawn = await _drawn(page)
        assert all(n > 0 for n in drawn.values()), drawn
        assert await page.locator("#timeline li[data-kind=activity]").count() > 0

        await page.fill("#visit-note", "Fine, cooking lunch")
        await page.locator("[data-outcome=seen_well]").click()  # one tap records the visit
        await page.locator("#timeline li[data-kind=visit]").wait_for()
        await page.fill("#note-text", "Daughter away until Friday")
        await page.get_by_role("button", name="Add note").click()
        await page.locator("#timeline li[data-kind=note]").wait_for()

        # A municipal social worker of the same team opens the same record.
        await page.context.clear_cookies()
        opened = await sign_in_browser(page, base, app, ["care_team"], ["Nord"], name="social-nord")
        await app.state.auth.identity.users.set_organisation(opened.principal.name, Organisation.MUNICIPAL, NOW)
        await page.goto(base + "/residents/r1")
        await page.locator("body[data-loaded=true]").wait_for()
        visit = page.locator("#timeline li[data-kind=visit]")
        note = page.locator("#timeline li[data-kind=note]")
        assert "Fine, cooking lunch" in await visit.inner_text()
        assert "Daughter away until Friday" in await note.inner_text()
        assert await note.locator("[data-organisation]").get_attribute("data-organisation") == "provider"
        await page.fill("#note-text", "Home help starts Monday")
        await page.get_by_role("button", name="Add note").click()
        await page.locator("#timeline li[data-kind=note] [data-organisation=municipal]").wait_for()
        assert await page.locator("#timeline li[data-kind=note]").count() == 2
    rows = await db.fetch("SELECT author, organisation FROM resident_notes ORDER BY id")
    assert [(r["author"], r["organisation"]) for r in rows] == [("carme", "provider"), ("social-nord", "municipal")]
