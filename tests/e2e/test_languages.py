"""Languages in Chromium: the service's language is the default, a user switches to Català from the top bar,
the operator queue's headings, buttons and alert reasons are Catalan, and a reload keeps it."""
from __future__ import annotations

from datetime import date

import pytest

from alerts.store import AlertStore
from dashboards.app import WebDeps, create_app
from rules.catalog import RULES, worded
from telecare.alerts import AlertTrigger, AlertType, Severity
from telecare.bus import InProcessBus
from telecare.clock import SystemClock
from telecare.events import DeviceType
from telecare.i18n import Language
from tests.e2e.browser import browser_page, insert_resident, serve
from tests.web_helpers import sign_in_browser

pytestmark = pytest.mark.e2e


async def _app(db, language: Language):
    clock, bus = SystemClock(), InProcessBus()
    store = AlertStore(db, bus)
    await insert_resident(db, "r1", "Montserrat Puig", born=date(1939, 3, 14), phones=["+34 600 000 001"])
    now = clock.now()
    for type_, severity, (reason, template, params) in (
            (AlertType.FALL, Severity.CRITICAL, worded(RULES[AlertType.FALL].text, time="03:12")),
            (AlertType.LOW_BATTERY, Severity.TECHNICAL, worded(RULES[AlertType.LOW_BATTERY].text,
                                                               device=DeviceType.PENDANT, device_id="pd1", level=" (9%)"))):
        await store.raise_or_attach(AlertTrigger("r1", type_, severity, now, reason, template=template, params=params),
                                    now)
    return create_app(WebDeps(db=db, bus=bus, alerts=store, clock=clock, service_language=language))


async def test_a_user_switches_to_catalan_and_it_stays(db):
    app = await _app(db, Language.ES)  # the service speaks Spanish: the default
    async with serve(app) as base, browser_page() as page:
        from playwright.async_api import expect

        errors: list[str] = []
        page.on("pageerror", lambda err: errors.append(str(err)))
        await sign_in_browser(page, base, app, ["operator"], name="laia")
        await page.goto(base + "/")
        row = page.locator("#queue-body tr[data-severity=critical]")
        await expect(page.locator("#queue-title")).to_have_text("Cola de alertas")
        await expect(page.locator("html")).to_have_attribute("lang", "es")
        await expect(row.locator("[data-action=acknowledge]")).to_have_text("Atender")
        await expect(row.locator(".reason")).to_have_text("Caída detectada a las 03:12")
        await expect(page.locator("#language-select")).to_have_value("es")

        await page.select_option("#language-select", "ca")  # saves the choice, then reloads in Catalan
        await expect(page.locator("html")).to_have_attribute("lang", "ca")
        await expect(page.locator("#queue-title")).to_have_text("Cua d'alertes")
        await expect(row.locator("[data-action=acknowledge]")).to_have_text("Atendre")
        await expect(row.locator("[data-action=resolve]")).to_have_text("Resoldre")
        await expect(row.locator(".alert-type strong")).to_have_text("Caiguda")
        await expect(row.locator(".badge.sev-critical")).to_have_text("Crítica")
        await expect(row.locator(".reason")).to_have_text("Caiguda detectada a les 03:12")  # the reason too
        battery = page.locator("#queue-body tr[data-severity=technical] .reason")
        await expect(battery).to_have_text("Bateria baixa: Penjoll pd1 (9%)")  # the device type via term()
        await expect(page.locator("th", has_text="Gravetat")).to_be_visible()
        await expect(page.locator("#live-status")).to_have_text("En directe")
        await expect(page.locator("header.topbar a[aria-current=page]")).to_have_text("Cua d'operadors")
        await expect(page.locator("#filter-search")).to_have_attribute("placeholder", "nom o id.")
        assert await page.title() == "Teleassistència · Cua d'operadors"
        assert await db.fetchval("SELECT language FROM users WHERE name = 'laia'") == "ca"

        await page.reload()
        await expect(page.locator("#queue-title")).to_have_text("Cua d'alertes")
        await expect(row.locator("[data-action=acknowledge]")).to_have_text("Atendre")
        await expect(page.locator("#language-select")).to_have_value("ca")
        assert not errors, errors


async def test_the_default_language_follows_the_setting(db):
    app = await _app(db, Language.CA)
    async with serve(app) as base, browser_page() as page:
        from playwright.async_api import expect

        await sign_in_browser(page, base, app, ["operator"], name="joan")
        await page.goto(base + "/")
        await expect(page.locator("html")).to_have_attribute("lang", "ca")
        await expect(page.locator("#queue-title")).to_have_text("Cua d'alertes")
        await expect(page.locator("#queue-body tr[data-severity=critical] [data-action=acknowledge]")).to_have_text(
            "Atendre")
        await expect(page.locator("[data-sign-out]")).to_have_text("Tancar la sessió")


async def test_the_sign_in_page_follows_the_setting_and_its_own_selector(db):
    app = await _app(db, Language.CA)
    async with serve(app) as base, browser_page() as page:
        from playwright.async_api import expect

        await page.goto(base + "/login")
        await expect(page.locator("#signin-title")).to_have_text("Iniciar la sessió")
        await expect(page.locator("label[for=login-name]")).to_have_text("Nom d'usuari")
        await page.select_option("#login-language", "es")  # this browser's choice, until the user has their own
        await expect(page.locator("#signin-title")).to_have_text("Iniciar sesión")
        await expect(page.locator("html")).to_have_attribute("lang", "es")
        await page.click("#login-submit")
        await expect(page.locator("#login-error")).to_have_text("Introduzca el nombre de usuario y la contraseña.")
        await sign_in_browser(page, base, app, ["operator"], name="pau")
        await page.goto(base + "/")
        await expect(page.locator("#queue-title")).to_have_text("Cola de alertas")  # no choice of his own yet
