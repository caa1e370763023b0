"""Sign-in API through the FastAPI app: login -> whoami -> logout, cookie flags, CSRF, bearer tokens, headers."""
from __future__ import annotations

from datetime import datetime, timezone

import pytest
from fastapi import Depends

from alerts.store import AlertStore
from dashboards.app import WebDeps, create_app
from dashboards.policy import POLICY, SIGNED_IN
from dashboards.routes.auth import WebAuth, current_principal
from dashboards.security import CSP
from identity.model import Principal, Role
from identity.passwords import Passwords
from identity.service import Identity
from telecare.bus import InProcessBus
from telecare.clock import FakeClock
from tests.e2e.browser import api_client

T0 = datetime(2026, 11, 22, 9, 0, tzinfo=timezone.utc)
PASSWORD = "a long demo password"


async def _app(db, *, secure: bool = False):
    clock = FakeClock(T0)
    identity = Identity(db, clock, passwords=Passwords(time_cost=1, memory_kib=8192, parallelism=1))
    await identity.create_user("anna", [Role.OPERATOR], password=PASSWORD, display_name="Anna Serra")
    bus = InProcessBus()
    app = create_app(WebDeps(db=db, bus=bus, alerts=AlertStore(db, bus), clock=clock, hsts=False,
                             auth=WebAuth(identity, secure_cookies=secure, max_age_s=12 * 3600)))

    @app.post("/api/test/echo")  # stands in for any state-changing route the lead puts behind the dependency
    async def echo(principal: Principal = Depends(current_principal)) -> dict[str, str]:
        return {"actor": principal.name}

    return app, identity


@pytest.fixture(autouse=True)
def echo_policy(monkeypatch):
    """The stand-in route gets a policy row, as every real route has (any signed-in user)."""
    monkeypatch.setitem(POLICY, ("POST", "/api/test/echo"), SIGNED_IN)


@pytest.fixture
async def app(db):
    return (await _app(db))[0]


async def test_login_whoami_logout(app, db):
    async with api_client(app, anonymous=True) as client:
        assert (await client.get("/api/session")).status_code == 401
        login = await client.post("/api/session", json={"name": "Anna", "password": PASSWORD})
        assert login.status_code == 200, login.text
        body = login.json()
        assert body["principal"] == {"name": "anna", "display_name": "Anna Serra", "roles": ["operator"],
                                     "teams": [], "kind": "session", "id": body["principal"]["id"]}
        assert login.headers["cache-control"] == "no-store"
        cookies = {c.split("=", 1)[0]: c.lower() for c in login.headers.get_list("set-cookie")}
        assert "httponly" in cookies["telecare_session"] and "samesite=strict" in cookies["telecare_session"]
        assert "path=/" in cookies["telecare_session"] and "secure" not in cookies["telecare_session"]
        assert "httponly" not in cookies["telecare_csrf"]  # the page's script echoes it in X-CSRF-Token
        assert client.cookies["telecare_csrf"] == body["csrf_token"]

        me = await client.get("/api/session")
        assert me.status_code == 200 and me.json()["name"] == "anna"

        no_csrf = await client.delete("/api/session")
        assert no_csrf.status_code == 403 and "CSRF" in no_csrf.json()["detail"]
        out = await client.delete("/api/session", headers={"X-CSRF-Token": body["csrf_token"]})
        assert out.status_code == 200 and out.json() == {"signed_out": True}
        assert await db.fetchval("SELECT count(*) FROM sessions") == 0
        after = await client.get("/api/session")
        assert after.status_code == 401


async def test_wrong_password_and_unknown_name_get_the_same_answer_then_a_lock(app):
    async with api_client(app, anonymous=True) as client:
        wrong = await client.post("/api/session", json={"name": "anna", "password": "not it at all"})
        unknown = await client.post("/api/session", json={"name": "nobody", "password": PASSWORD})
        assert wrong.status_code == unknown.status_code == 401
        assert wrong.json() == unknown.json() == {"detail": "wrong name or password"}
        for _ in range(4):
            await client.post("/api/session", json={"name": "anna", "password": "not it at all"})
        locked = await client.post("/api/session", json={"name": "anna", "password": PASSWORD})
        assert locked.status_code == 429 and locked.headers["retry-after"] == "900"
        assert "too many failed sign-ins" in locked.json()["detail"]
        assert "set-cookie" not in locked.headers


async def test_a_name_with_nul_or_other_control_characters_is_a_422_not_a_database_error(app):
    async with api_client(app, anonymous=True) as client:
        for name in ("an\x00na", "anna\n", "\x11u"):  # the fuzzer found NUL answered 503 (DataError)
            response = await client.post("/api/session", json={"name": name, "password": "0"})
            assert response.status_code == 422, (name, response.status_code, response.text)
            assert "set-cookie" not in response.headers


async def test_a_login_form_posted_cross_site_as_text_is_refused(app):
    async with api_client(app, anonymous=True) as client:
        response = await client.post("/api/session", content='{"name": "anna", "password": "%s"}' % PASSWORD,
                                     headers={"Content-Type": "text/plain"})
        assert response.status_code == 422 and "set-cookie" not in response.headers


async def test_state_changes_with_the_cookie_need_the_csrf_header(app):
    async with api_client(app, anonymous=True) as client:
        csrf = (await client.post("/api/session", json={"name": "anna", "password": PASSWORD})).json()["csrf_token"]
        assert (await client.post("/api/test/echo")).status_code == 403
        assert (await client.post("/api/test/echo", headers={"X-CSRF-Token": "forged"})).status_code == 403
        ok = await client.post("/api/test/echo", headers={"X-CSRF-Token": csrf})
        assert ok.status_code == 200 and ok.json() == {"actor": "anna"}
    async with api_client(app, anonymous=True) as anonymous:
        refused = await anonymous.post("/api/test/echo")
        assert refused.status_code == 401 and refused.headers["www-authenticate"].startswith("Bearer")


async def test_bearer_tokens_authenticate_machines_without_csrf(db):
    app, identity = await _app(db)
    token = await identity.issue_token("anna", days=1)
    async with api_client(app, anonymous=True) as client:
        me = await client.get("/api/session", headers={"Authorization": f"Bearer {token.secret}"})
        assert me.status_code == 200 and me.json()["kind"] == "token" and me.json()["roles"] == ["operator"]
        echo = await client.post("/api/test/echo", headers={"Authorization": f"Bearer {token.secret}"})
        assert echo.status_code == 200
        logout = await client.delete("/api/session", headers={"Authorization": f"Bearer {token.secret}"})
        assert logout.status_code == 400
        bad = await client.get("/api/session", headers={"Authorization": "Bearer tct_" + "A" * 43})
        assert bad.status_code == 401 and bad.json()["detail"] == "invalid, expired or revoked API token"
        basic = await client.get("/api/session", headers={"Authorization": "Basic YW5uYTp4"})
        assert basic.status_code == 401


async def test_secure_deployments_set_secure_cookies(db):
    app, _ = await _app(db, secure=True)
    async with api_client(app, anonymous=True) as client:
        login = await client.post("/api/session", json={"name": "anna", "password": PASSWORD})
        assert all("; secure" in c.lower() for c in login.headers.get_list("set-cookie"))


async def test_every_response_carries_the_security_headers_and_the_login_page_has_no_inline_script(app):
    async with api_client(app, anonymous=True) as client:
        page = await client.get("/login")
        script = await client.get("/static/login.js")
        missing = await client.get("/api/nothing-here")
    assert page.status_code == 200 and "<script>" not in page.text and 'src="/static/login.js"' in page.text
    assert "on" + "submit=" not in page.text and "style=" not in page.text
    assert script.status_code == 200
    for response in (page, script, missing):
        assert response.headers["content-security-policy"] == CSP
        assert response.headers["x-content-type-options"] == "nosniff"
        assert response.headers["referrer-policy"] == "no-referrer"
    assert "frame-ancestors 'none'" in CSP and "unsafe-inline" not in CSP
