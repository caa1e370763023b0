"""Sign-in and the request's Principal: POST/GET/DELETE /api/session, /login, and current_principal."""
from __future__ import annotations

import logging
from pathlib import Path

from fastapi import APIRouter, FastAPI, HTTPException, Request, Response
from fastapi.responses import FileResponse
from pydantic import BaseModel, Field

from dashboards.routes.common import ShortText
from identity.model import CsrfMismatch, LoginLocked, PasswordCredentials, Principal, PrincipalKind
from identity.passwords import MAX_LENGTH
from identity.service import Identity
from telecare.metrics import AUTH_REJECTIONS
from telecare.settings import Settings

log = logging.getLogger(__name__)

SESSION_COOKIE = "telecare_session"  # HttpOnly: scripts never see the session id
CSRF_COOKIE = "telecare_csrf"        # readable by our own scripts, echoed in CSRF_HEADER
CSRF_HEADER = "X-CSRF-Token"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
STATIC_DIR = Path(__file__).resolve().parent.parent / "static"
WRONG = "wrong name or password"  # the same for an unknown name, a wrong password and a disabled user


class WebAuth:
    """The identity service plus the cookie flags this deployment uses."""

    def __init__(self, identity: Identity, *, secure_cookies: bool, max_age_s: int) -> None:
        self.identity = identity
        self.secure_cookies = secure_cookies
        self.max_age_s = max_age_s

    @classmethod
    def from_settings(cls, identity: Identity, settings: Settings) -> WebAuth:
        """Cookie flags from TELECARE_SECURE_COOKIES / TELECARE_PUBLIC_BASE_URL, lifetime from the session rules."""
        return cls(identity, secure_cookies=settings.cookies_secure, max_age_s=settings.session_max_s)


def _refuse(status: int, reason: str, detail: str) -> HTTPException:
    AUTH_REJECTIONS.labels(reason).inc()
    headers = {"WWW-Authenticate": 'Bearer realm="telecare"'} if status == 401 else None
    return HTTPException(status, detail, headers=headers)


async def current_principal(request: Request) -> Principal:
    """Who is calling: an `Authorization: Bearer` token, else the session cookie (idle timer touched, and
    the CSRF header required for state changes). 401 without valid credentials, 403 on a CSRF mismatch."""
    auth: WebAuth = request.app.state.auth
    header = request.headers.get("authorization", "")
    if header:
        scheme, _, token = header.partition(" ")
        principal = await auth.identity.from_bearer(token.strip()) if scheme.lower() == "bearer" else None
        if principal is None:
            raise _refuse(401, "token", "invalid, expired or revoked API token")
    elif secret := request.cookies.get(SESSION_COOKIE):
        try:
            principal = await auth.identity.from_session(secret, request.headers.get(CSRF_HEADER),
                                                         need_csrf=request.method not in SAFE_METHODS)
        except CsrfMismatch as err:
            raise _refuse(403, "csrf", str(err)) from None
        if principal is None:
            raise _refuse(401, "session", "your session has ended: sign in again")
    else:
        raise _refuse(401, "anonymous", "sign in first")
    request.state.principal = principal
    return principal


async def _principal(request: Request) -> Principal:
    """The principal the app's authorize dependency already resolved, else resolve it now."""
    return getattr(request.state, "principal", None) or await current_principal(request)


def landing(principal: Principal) -> str:
    """The page this principal starts on (dashboards.policy.LANDING)."""
    from dashboards.policy import landing as first_page

    return first_page(principal)


class LoginIn(BaseModel):
    # No control characters, as every other name in a body: PostgreSQL cannot hold NUL (the throttling keys
    # and the user lookup are queries), and no user name has one. The password only meets argon2.
    name: ShortText = Field(min_length=1, max_length=200)
    password: str = Field(min_length=1, max_length=MAX_LENGTH)


def _set_cookies(response: Response, auth: WebAuth, secret: str, csrf: str) -> None:
    common = {"max_age": auth.max_age_s, "path": "/", "secure": auth.secure_cookies, "samesite": "strict"}
    response.set_cookie(SESSION_COOKIE, secret, httponly=True, **common)
    response.set_cookie(CSRF_COOKIE, csrf, httponly=False, **common)


def _clear_cookies(response: Response, auth: WebAuth) -> None:
    for name in (SESSION_COOKIE, CSRF_COOKIE):
        response.delete_cookie(name, path="/", secure=auth.secure_cookies, httponly=name == SESSION_COOKIE,
                               samesite="strict")


def router(auth: WebAuth) -> APIRouter:
    """/login, POST /api/session (sign in), GET /api/session (who am I), DELETE /api/session (sign out)."""
    api = APIRouter(tags=["session"])

    @api.get("/login", include_in_schema=False)
    async def login_page() -> FileResponse:
        return FileResponse(STATIC_DIR / "login.html", headers={"Cache-Control": "no-cache"})

    @api.post("/api/session", summary="Sign in with name and password; sets the session cookie")
    async def sign_in(body: LoginIn, request: Request, response: Response) -> dict[str, object]:
        remote = request.client.host if request.client else ""
        try:
            opened = await auth.identity.login(PasswordCredentials(body.name, body.password, remote))
        except LoginLocked as err:
            raise HTTPException(429, str(err), headers={"Retry-After": str(err.retry_after_s)}) from None
        if opened is None:
            raise HTTPException(401, WRONG)
        if old := request.cookies.get(SESSION_COOKIE):
            await auth.identity.logout(old)  # a new sign-in replaces the browser's previous session
        _set_cookies(response, auth, opened.secret, opened.csrf_token)
        response.headers["Cache-Control"] = "no-store"
        log.info("session %s opened", opened.principal.credential_id)  # ids only, never names
        return {"principal": opened.principal.view(), "csrf_token": opened.csrf_token,
                "expires_at": opened.expires_at.isoformat(), "landing": landing(opened.principal)}

    @api.get("/api/session", summary="The signed-in principal, and the page they start on")
    async def who_am_i(request: Request) -> dict[str, object]:
        principal = await _principal(request)
        chosen = await auth.identity.language(principal.name)  # None: the page uses the service's language
        return {**principal.view(), "landing": landing(principal), "language": chosen.value if chosen else None}

    @api.delete("/api/session", summary="Sign out: the session is deleted on the server")
    async def sign_out(request: Request, response: Response) -> dict[str, bool]:
        principal = await _principal(request)
        if principal.kind is not PrincipalKind.SESSION:
            raise HTTPException(400, "an API token is not signed out: revoke it instead")
        await auth.identity.logout(request.cookies[SESSION_COOKIE])
        _clear_cookies(response, auth)
        log.info("session %s closed", principal.credential_id)
        return {"signed_out": True}

    return api


def install(app: FastAPI, auth: WebAuth) -> None:
    """Make current_principal work in `app` and add the session routes."""
    app.state.auth = auth
    app.include_router(router(auth))
