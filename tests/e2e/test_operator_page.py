"""The operator page in Chromium against the real app and database: live queue, acknowledge, card, key safe."""
from __future__ import annotations

from datetime import date, timedelta

import pytest

from dashboards.app import WebDeps, create_app
from alerts.store import AlertStore
from telecare.alerts import AlertTrigger, AlertType, Severity
from telecare.bus import InProcessBus
from telecare.clock import SystemClock
from tests.conftest import eventually
from tests.web_helpers import sign_in_browser
from tests.e2e.browser import browser_page, insert_resident, serve

pytestmark = pytest.mark.e2e
CODE = "2468"


async def _seed(db):
    await insert_resident(
        db, "r1", "Montserrat Puig", born=date(1939, 3, 14), address="Carrer de Mallorca 401, 3r 2a, Barcelona",
        phones=["+34 600 000 001", "+34 933 000 001"], key_safe_code=CODE,
        risk_flags=["lives_alone", "heat_vulnerable"],
        contacts=[{"name": "Núria Puig", "phone": "+34 600 000 002", "relation": "daughter", "priority": 1,
                   "key_holder": True},
                  {"name": "Pau Soler", "phone": "+34 600 000 003", "relation": "neighbour", "priority": 2}])
    await insert_resident(db, "r2", "Jordi Vidal", born=date(1944, 7, 2), address="Via Augusta 12, Barcelona")
    await insert_resident(db, "r3", "Carme Ribas", born=date(1936, 1, 30), address="Carrer Gran de Gràcia 80")
    await db.execute(
        """INSERT INTO events (id, ts, received_at, gateway_id, device_id, resident_id, type, msg_id)
           VALUES (gen_random_uuid(), now() - interval '2 hours', now() - interval '2 hours', 'gw-r1', 'pir-r1',
                   'r1', 'motion', 'm1')""")


async def _raise(store, clock, resident, type_, severity, ago_s=0.0, delayed=False):
    at = clock.now() - timedelta(seconds=ago_s)
    trigger = AlertTrigger(resident, type_, severity, at, f"{type_.value.replace('_', ' ')} reported", delayed=delayed)
    return (await store.raise_or_attach(trigger, at)).alert


async def test_operator_handles_a_live_alert_and_reads_the_resident_card(db):
    clock, bus = SystemClock(), InProcessBus()
    store = AlertStore(db, bus)
    await _seed(db)
    low = await _raise(store, clock, "r3", AlertType.LOW_BATTERY, Severity.TECHNICAL, ago_s=600)
    quiet = await _raise(store, clock, "r2", AlertType.INACTIVITY, Severity.MEDIUM, ago_s=50, delayed=True)
    app = create_app(WebDeps(db=db, bus=bus, alerts=store, clock=clock))

    async with serve(app) as base, browser_page() as page:
        from playwright.async_api import expect

        page_errors: list[str] = []
        page.on("pageerror", lambda err: page_errors.append(str(err)))
        page.on("console", lambda msg: page_errors.append(msg.text) if msg.type == "error" else None)
        page.on("response", lambda r: page_errors.append(f"{r.status} {r.url}") if r.status >= 400 else None)
        await sign_in_browser(page, base, app, ["operator"], name="anna-serra")
        await page.goto(base + "/")
        await expect(page.locator("#live-status")).to_have_attribute("data-live", "on")
        await expect(page.locator(".topbar [data-user]")).to_have_text("Signed in as anna-serra")
        await expect(page.locator(f'tr[data-alert-id="{quiet.id}"] .wait')).to_have_class("wait wait-amber")
        await expect(page.locator(f'tr[data-alert-id="{quiet.id}"] .badge.delayed')).to_be_visible()
        await page.evaluate("window.__sameDocument = true")

        # Raised server-side: it must appear, first in the queue, without a reload.
        fall = await _raise(store, clock, "r1", AlertType.FALL, Severity.CRITICAL, ago_s=61)
        row = page.locator(f'tr[data-alert-id="{fall.id}"]')
        await expect(row).to_have_attribute("data-severity", "critical")
        await expect(page.locator("#queue-body tr").first).to_have_attribute("data-alert-id", str(fall.id))
        await expect(row.locator(".wait")).to_have_class("wait wait-red")
        await expect(page.locator("#banner")).to_contain_text("New critical alert: Fall — Montserrat Puig")
        order = await page.locator("#queue-body tr").evaluate_all("rows => rows.map(r => r.dataset.severity)")
        assert order == ["critical", "medium", "technical"]
        assert await page.evaluate("window.__sameDocument") is True

        await row.locator("[data-action=acknowledge]").click()
        await expect(row).to_have_attribute("data-status", "acknowledged")
        status = await db.fetchrow("SELECT status, acknowledged_by FROM alerts WHERE id = %s", (fall.id,))
        assert status == {"status": "acknowledged", "acknowledged_by": "anna-serra"}

        # The resident card: personal data shown, key-safe code hidden until an audited reveal.
        await row.locator("[data-open-resident]").click()
        panel = page.locator("#resident-panel")
        await expect(panel.locator("#resident-name")).to_have_text("Montserrat Puig")
        await expect(panel.locator("#resident-contacts")).to_contain_text("Núria Puig")
        await expect(panel.locator("#resident-events")).to_contain_text("Movement")  # the event type, in the page language (telecareUI.term)
        assert CODE not in await panel.inner_text()
        await page.fill("#reveal-reason", "ambulance at the door")
        await page.click("#reveal-button")
        await expect(page.locator("#keysafe-code")).to_have_text(CODE)
        await page.screenshot(path="/tmp/operator.png", full_page=True)

        audit = await db.fetch("SELECT actor, action, detail FROM audit_log WHERE subject = 'r1' ORDER BY id")
        assert {(a["actor"], a["action"]) for a in audit} == {
            ("anna-serra", "resident.card.read"), ("anna-serra", "resident.events.read"),
            ("anna-serra", "resident.key_safe.reveal"), ("anna-serra", "alert.acknowledge")}
        assert [a["detail"] for a in audit if a["action"] == "resident.key_safe.reveal"] == [
            {"reason": "ambulance at the door"}]

        # Resolve through the dialog: the row leaves the queue and the outcome is stored.
        await page.locator(f'tr[data-alert-id="{low.id}"] [data-action=resolve]').click()
        await page.select_option("#resolve-outcome", "technical_fixed")
        await page.fill("#resolve-note", "battery replaced by installer")
        await page.click("#resolve-submit")
        await expect(page.locator(f'tr[data-alert-id="{low.id}"]')).to_have_count(0)
        resolved = await eventually(lambda: db.fetchrow(
            "SELECT outcome, note, resolved_by FROM alerts WHERE id = %s AND status = 'resolved'", (low.id,)))
        assert resolved == {"outcome": "technical_fixed", "note": "battery replaced by installer",
                            "resolved_by": "anna-serra"}
        assert page_errors == [], "\n".join(page_errors)
