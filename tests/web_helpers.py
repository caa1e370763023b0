"""Signed-in test clients for the web app: a user with given roles, as a Bearer token or a cookie session.

    async with api_client(app) as client:                          # an operator's API token (the default)
    async with api_client(app, role="care_team", teams=["Nord"]):  # a care team member of team Nord
    async with api_client(app, anonymous=True):                    # nobody
    async with session_client(app, ["operator", "admin"]) as c:    # cookie + X-CSRF-Token, several roles
"""
from __future__ import annotations

from collections.abc import AsyncIterator, Iterable
from contextlib import asynccontextmanager
from typing import Any

from dashboards.routes.auth import CSRF_COOKIE, CSRF_HEADER, SESSION_COOKIE
from identity.model import TEAM_ROLES, Principal, PrincipalKind, Role
from identity.sessions import OpenedSession

BASE_URL = "http://operator.test"
DEFAULT_TEAM = "Equip test"


def _identity(app: Any) -> Any:
    return app.state.auth.identity


async def ensure_user(app: Any, name: str, roles: Iterable[Role | str], teams: Iterable[str] = ()) -> None:
    """Create the user (no password) with these roles and teams, or set them when it exists."""
    identity = _identity(app)
    roles = [Role(r) for r in roles]
    teams = list(teams) or ([DEFAULT_TEAM] if TEAM_ROLES & set(roles) else [])
    if await identity.users.find(name) is None:
        await identity.create_user(name, roles, teams)
    else:
        await identity.users.set_roles(name, roles, teams, identity.clock.now())


async def issue_token(app: Any, name: str, role: Role | str, teams: Iterable[str] = ()) -> str:
    """A long-lived API token (survives FakeClock jumps) for a user holding `role`."""
    await ensure_user(app, name, [role], teams)
    return (await _identity(app).issue_token(name, Role(role), days=3650, token_name="test")).secret


async def open_session(app: Any, name: str, roles: Iterable[Role | str], teams: Iterable[str] = ()
                       ) -> OpenedSession:
    """A server-side session for the user, as a password sign-in would open it (without argon2's cost)."""
    roles = [Role(r) for r in roles]
    await ensure_user(app, name, roles, teams)
    user = await _identity(app).users.get(name)
    principal = Principal(user.name, user.roles, user.teams, PrincipalKind.SESSION, None, user.display_name)
    return await _identity(app).sessions.open(principal, _identity(app).clock.now())


def session_cookies(opened: OpenedSession) -> dict[str, str]:
    """The cookies a browser holds after signing in."""
    return {SESSION_COOKIE: opened.secret, CSRF_COOKIE: opened.csrf_token}


@asynccontextmanager
async def _client(app: Any, headers: dict[str, str], cookies: dict[str, str] | None) -> AsyncIterator[Any]:
    import httpx

    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url=BASE_URL, headers=headers,
                                     cookies=cookies or {}) as client:
            yield client


@asynccontextmanager
async def api_client(app: Any, *, role: Role | str = Role.OPERATOR, teams: Iterable[str] = (),
                     name: str | None = None, anonymous: bool = False,
                     cookies: dict[str, str] | None = None) -> AsyncIterator[Any]:
    """httpx client calling `app` in-process (lifespan running) with a Bearer token for `role`."""
    headers: dict[str, str] = {}
    if not anonymous:
        token = await issue_token(app, name or f"test-{Role(role).value.replace('_', '-')}", role, teams)
        headers["Authorization"] = f"Bearer {token}"
    async with _client(app, headers, cookies) as client:
        yield client


@asynccontextmanager
async def session_client(app: Any, roles: Iterable[Role | str] = (Role.OPERATOR,), *, teams: Iterable[str] = (),
                         name: str = "test-session") -> AsyncIterator[Any]:
    """httpx client with a session cookie and the CSRF header, as the pages send them."""
    opened = await open_session(app, name, roles, teams)
    async with _client(app, {CSRF_HEADER: opened.csrf_token}, session_cookies(opened)) as client:
        yield client


async def sign_in_browser(page: Any, base_url: str, app: Any, roles: Iterable[Role | str],
                          teams: Iterable[str] = (), name: str = "test-browser") -> OpenedSession:
    """Give a Playwright page's context the cookies of a fresh session."""
    opened = await open_session(app, name, roles, teams)
    await page.context.add_cookies([{"name": k, "value": v, "url": base_url}
                                    for k, v in session_cookies(opened).items()])
    return opened


async def bearer(app: Any, role: Role | str = Role.OPERATOR, teams: Iterable[str] = (),
                 name: str | None = None) -> dict[str, str]:
    """The Authorization header of a fresh token, for clients of a served app (uvicorn, subprocesses)."""
    token = await issue_token(app, name or f"test-{Role(role).value.replace('_', '-')}", role, teams)
    return {"Authorization": f"Bearer {token}"}


async def put_in_team(db: Any, team: str = DEFAULT_TEAM) -> None:
    """Give every resident in the test database this care team (team roles see their own teams only)."""
    await db.execute("UPDATE residents SET care_plan = care_plan || jsonb_build_object('team', %s::text)", (team,))


def app_with(db: Any, bus: Any, alerts: Any, clock: Any, routers: Iterable[Any]) -> Any:
    """The web app (policy, auth, error map) with these component routers."""
    from dashboards.app import WebDeps, create_app

    return create_app(WebDeps(db=db, bus=bus, alerts=alerts, clock=clock, extra_routers=tuple(routers)))


async def db_session_cookies(db: Any, roles: Iterable[Role | str], teams: Iterable[str] = (),
                             name: str = "test-process") -> tuple[dict[str, str], dict[str, str]]:
    """Cookies and CSRF header of a session opened straight in a database a separate web process serves."""
    from identity.service import Identity
    from telecare.clock import SystemClock

    holder = type("App", (), {})()
    holder.state = type("State", (), {})()
    holder.state.auth = type("Auth", (), {"identity": Identity(db, SystemClock())})()
    opened = await open_session(holder, name, roles, teams)
    return session_cookies(opened), {CSRF_HEADER: opened.csrf_token}
