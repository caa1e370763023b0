"""Real Chromium: sign in and out through the login page, each role on its own screen, team and installer limits."""
from __future__ import annotations

from identity.model import Role
from identity.passwords import Passwords
from identity.service import Identity
from tests.e2e.browser import browser_page, serve
from tests.integration.test_access_matrix import build
from tests.web_helpers import sign_in_browser

PASSWORD = "a long test password"
FAST = Passwords(time_cost=1, memory_kib=8192, parallelism=1)


async def app_with_users(db):
    app, _ = await build(db)
    identity: Identity = app.state.auth.identity
    identity.passwords = FAST  # only hashing here; the login verifies whatever parameters a hash names
    for name, role, teams in (("olga", Role.OPERATOR, []), ("ivan", Role.INSTALLER, []),
                              ("carla", Role.CARE_TEAM, ["A"])):
        await identity.create_user(name, [role], teams, PASSWORD)
    return app


async def login(page, base, name):
    await page.fill("#login-name", name)
    await page.fill("#login-password", PASSWORD)
    await page.click("#login-submit")


async def test_login_lands_on_the_page_asked_for_and_logout_ends_the_session(db):
    app = await app_with_users(db)
    async with serve(app) as base, browser_page() as page:
        await page.goto(base + "/")
        assert "/login?next=/" in page.url  # anonymous: the server sends the browser to sign in
        await login(page, base, "olga")
        await page.wait_for_url(base + "/")
        await page.wait_for_selector("#operator:not([hidden])")
        await page.wait_for_selector("[data-user='olga']")
        await page.click("[data-sign-out]")
        await page.wait_for_url(base + "/login")
        assert await db.fetchval("SELECT count(*) FROM sessions WHERE user_name = 'olga'") == 0
        await page.goto(base + "/")
        assert "/login?next=/" in page.url  # signed out for real: the old cookie opens nothing


async def test_a_wrong_password_is_refused_on_the_page(db):
    app = await app_with_users(db)
    async with serve(app) as base, browser_page() as page:
        await page.goto(base + "/login")
        await page.fill("#login-name", "olga")
        await page.fill("#login-password", "not the password")
        await page.click("#login-submit")
        await page.wait_for_selector("#login-error:not([hidden])")
        assert "Wrong name or password" in await page.text_content("#login-error")
        assert page.url == base + "/login"


async def test_a_care_team_member_cannot_open_another_teams_resident(db):
    app = await app_with_users(db)
    async with serve(app) as base, browser_page() as page:
        await sign_in_browser(page, base, app, [Role.CARE_TEAM], ["A"], name="carla")
        own = await page.goto(base + "/api/residents/ra")
        assert own.status == 200 and "Resident ra" in await page.content()
        other = await page.goto(base + "/api/residents/rb")
        assert other.status == 403 and "Resident rb" not in await page.content()
        assert "not in your team" in await page.content()
        operator_page = await page.goto(base + "/")
        assert operator_page.status == 403
        assert "Not allowed" in await page.text_content("h1")
        await page.click("text=Go to your start page")
        await page.wait_for_url(base + "/care")
    denied = await db.fetch("SELECT residents FROM audit_log WHERE actor = 'carla' AND outcome = 'denied' ORDER BY id")
    assert [d["residents"] for d in denied] == [["rb"], []]


async def test_an_installer_lands_on_the_devices_and_sees_no_health_data(db):
    app = await app_with_users(db)
    async with serve(app) as base, browser_page() as page:
        await page.goto(base + "/login")
        await login(page, base, "ivan")
        await page.wait_for_url(base + "/devices")
        await page.wait_for_selector("[data-device-id='gw-ra']")
        text = await page.text_content("body")
        assert "gw-rb" in text and "Resident ra" not in text and "+34600000009" not in text
        assert "fall" not in text.lower()
        nav = await page.text_content("header.topbar")
        assert "Devices" in nav and "Operator queue" not in nav and "Call log" not in nav
        for path in ("/api/alerts", "/api/residents/ra", "/api/residents/ra/events", "/api/calls"):
            assert (await page.goto(base + path)).status == 403, path
