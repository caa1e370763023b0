"""The campaigns page in a real browser: the sample CAP warning becomes a campaign whose progress bar moves live."""
from __future__ import annotations

from datetime import datetime, timezone

import pytest

from dashboards.app import WebDeps, create_app
from devices.registry import Registry
from outreach.dialer import Dialer
from outreach.service import OutreachService
from demo.simulated_telephony import SimulatedTelephony
from alerts.store import AlertStore
from telecare.bus import InProcessBus
from telecare.clock import FakeClock
from telecare.people import Resident, RiskFlag
from telecare.settings import load_settings
from tests.conftest import eventually
from tests.web_helpers import put_in_team, sign_in_browser
from tests.e2e.browser import browser_page, serve
from entrypoints.outreach_web import outreach_routers

pytestmark = pytest.mark.e2e
NOW = datetime(2026, 7, 15, 9, 0, tzinfo=timezone.utc)  # 11:00 in Barcelona, inside the sample's validity


async def test_sample_heat_warning_creates_a_campaign_and_progress_updates_live(db):
    clock = FakeClock(NOW)
    bus = InProcessBus()
    registry = Registry(db)
    for i in range(3):  # in central Barcelona, inside the warning's area
        await registry.upsert_resident(Resident(f"r{i}", f"Resident {i}", phones=(f"+3460000000{i}",),
                                                latitude=41.39 + i / 1000, longitude=2.17,
                                                risk_flags=frozenset({RiskFlag.HEAT_VULNERABLE})))
    alerts = AlertStore(db, bus)
    sim = SimulatedTelephony(clock, auto_answer_delay=0.0)  # every phone answers and presses 1
    service = OutreachService(db, bus, alerts, registry, sim, clock, load_settings(database_url=None,
                                                                                   calls_per_second=100))
    app = create_app(WebDeps(db=db, bus=bus, alerts=alerts, clock=clock, residents=registry,
                             extra_routers=tuple(outreach_routers(service))))
    async with serve(app) as base, browser_page() as page:
        await put_in_team(db, "team-a")  # a coordinator of team-a sees its residents
        await sign_in_browser(page, base, app, ["coordinator"], ["team-a"], name="anna")
        await page.goto(base + "/care/campaigns")
        await page.get_by_role("button", name="Use the sample Barcelona heat warning").click()
        await page.wait_for_url("**/care/campaigns/*")
        await page.get_by_text("Avís taronja per calor a Barcelona").first.wait_for()
        await eventually(lambda: _text(page, "#n-total", "3"))
        assert await page.locator("#n-pending").inner_text() == "3"

        dialer = Dialer(service.tasks, service.call_log, sim, alerts, registry, clock, cps=100,
                        sleep=_fake_sleep(clock))
        sim.set_update_handler(dialer.on_update)
        assert await dialer.dispatch() == 3  # the automated calls go out...
        await dialer.drain()
        await sim.tick()
        await eventually(lambda: _text(page, "#n-answered", "3"))  # ...and the page follows without a reload
        assert await page.locator("#n-pending").inner_text() == "0"
        width = await page.locator("#bar-answered").evaluate("e => e.style.width")
        assert width == "100%"


def _fake_sleep(clock: FakeClock):
    async def sleep(seconds: float) -> None:  # pacing waits move the fake clock, not the test
        clock.advance(seconds)
    return sleep


async def _text(page, selector: str, expected: str) -> bool:
    return (await page.locator(selector).inner_text()) == expected
