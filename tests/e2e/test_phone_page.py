"""A person on the phone simulator page answers a ringing call and presses 1."""
from __future__ import annotations

from datetime import datetime, timezone

import httpx
from fastapi import FastAPI
from fastapi.staticfiles import StaticFiles

from dashboards.errors import install_error_handlers
from dashboards.routes import config as config_routes
from dashboards.routes import phones as phone_page
from dashboards.routes.system import STATIC_DIR
from demo.simulated_telephony import SimulatedTelephony
from outreach.telephony import CallRequest, CallStatus, CallUpdate
from telecare.clock import FakeClock
from tests.conftest import eventually
from tests.e2e.browser import browser_page, serve

RESIDENT = "+34600123456"


def make_app() -> tuple[FastAPI, SimulatedTelephony, list[CallUpdate]]:
    clock = FakeClock(datetime(2026, 7, 1, 10, tzinfo=timezone.utc))  # 12:00 in Madrid
    sim = SimulatedTelephony(clock, tick_s=0.05)
    seen: list[CallUpdate] = []

    async def handler(update: CallUpdate) -> None:
        seen.append(update)

    sim.set_update_handler(handler)
    app = FastAPI()
    install_error_handlers(app)
    app.include_router(phone_page.router(sim))
    # As in the web app: the page's script and the time helper come from /static, the service zone from /api/config.
    app.include_router(config_routes.router("Europe/Madrid", clock))
    app.mount("/static", StaticFiles(directory=STATIC_DIR), name="static")
    return app, sim, seen


async def test_a_placed_call_rings_on_the_page_and_answer_then_1_emits_updates() -> None:
    app, sim, seen = make_app()
    sim.start()
    try:
        async with serve(app) as base_url, browser_page(timezone_id="America/New_York") as page:
            await page.goto(base_url + "/phones")
            await page.get_by_text("Live").wait_for()
            handle = await sim.place_call(CallRequest(call_ref="501", to=RESIDENT, language="en",
                                                      message="A heat warning for Barcelona.", gather_digits=True))
            card = page.locator(f'[data-call-id="{handle.provider_call_id}"]')
            await card.and_(page.locator('[data-state="ringing"]')).wait_for()
            assert RESIDENT in await card.locator(".number").inner_text()
            assert "heat warning" in await card.locator(".text").inner_text()
            assert "Press 1 if you are fine" in await card.locator(".text").inner_text()
            assert "rang 12:00" in await card.locator(".state").text_content()  # Madrid, 24 h, not 6:00 AM
            await card.get_by_role("button", name="Answer").click()
            await page.locator(f'[data-call-id="{handle.provider_call_id}"][data-state="in-progress"]').wait_for()
            await page.locator(f'[data-call-id="{handle.provider_call_id}"]').get_by_role(
                "button", name="1", exact=True).click()
            await eventually(lambda: seen and seen[-1].status == CallStatus.COMPLETED)
            await page.locator(f'[data-call-id="{handle.provider_call_id}"][data-state="completed"]').wait_for()
    finally:
        await sim.close()
    assert [(u.status.value, u.digits) for u in seen] == [
        ("ringing", None), ("in-progress", None), ("in-progress", "1"), ("completed", None)]
    assert {u.call_ref for u in seen} == {"501"}


async def test_let_it_ring_out_reject_and_bad_requests() -> None:
    app, sim, seen = make_app()
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://sim.test") as client:
        first = await sim.place_call(CallRequest(call_ref="1", to=RESIDENT, message="Hola", gather_digits=True))
        second = await sim.place_call(CallRequest(call_ref="2", to="+34600999888"))
        await sim.tick()
        listing = (await client.get("/api/phones")).json()
        assert {c["state"] for c in listing["calls"]} == {"ringing"}
        assert (await client.post(f"/api/phones/{first.provider_call_id}/ringout")).status_code == 200
        assert (await client.post(f"/api/phones/{second.provider_call_id}/reject")).status_code == 200
        assert (await client.post(f"/api/phones/{second.provider_call_id}/answer")).status_code == 409
        assert (await client.post("/api/phones/SIM404/answer")).status_code == 404
        assert (await client.post(f"/api/phones/{first.provider_call_id}/explode")).status_code == 404
        bad = await client.post(f"/api/phones/{first.provider_call_id}/press", json={"digits": "1; x"})
        assert bad.status_code == 422
        page = await client.get("/phones")
        assert page.status_code == 200 and "Phone simulator" in page.text
    assert sorted((u.call_ref, u.status.value) for u in seen if u.status != CallStatus.RINGING) == [
        ("1", "no-answer"), ("2", "busy")]
