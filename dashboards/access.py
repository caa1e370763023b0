"""The one enforcement point of dashboards.policy: authenticate, check the role and team, audit denials."""
from __future__ import annotations

import html
import logging
from collections.abc import Iterable
from typing import Any
from urllib.parse import quote

from fastapi import HTTPException, Request
from starlette.exceptions import HTTPException as StarletteHTTPException

from identity.model import Principal
from telecare.clock import Clock
from telecare.store import Database

from dashboards.audit import Actor, AuditAction, AuditLog, Outcome
from dashboards.policy import POLICY, Rule, Scope, landing
from dashboards.routes.auth import current_principal

log = logging.getLogger(__name__)


class PageRedirect(StarletteHTTPException):
    """An anonymous browser asking for a page: send it to the login page (with where it was going)."""


class PageDenied(StarletteHTTPException):
    """A signed-in user's browser asking for a page their roles do not open: a page that says so."""


def actor(request: Request, principal: Principal | None = None) -> Actor:
    """The audit actor of this request: the authenticated principal, its address and user agent."""
    principal = principal or getattr(request.state, "principal", None)
    name, kind = (principal.name, principal.kind.value) if principal else ("", "anonymous")
    return Actor(name, kind, request.client.host if request.client else "", request.headers.get("user-agent", ""))


def principal_of(request: Request) -> Principal:
    """The principal authorize() put on the request (every non-public route has one)."""
    return request.state.principal


def _is_page(request: Request) -> bool:
    return request.method == "GET" and not request.url.path.startswith("/api/")


class Access:
    """Team scoping and audited denials over the residents table."""

    def __init__(self, db: Database, audit: AuditLog, clock: Clock) -> None:
        self._db = db
        self.audit = audit
        self._clock = clock

    async def teams_of(self, resident_ids: Iterable[str]) -> dict[str, str | None]:
        """Each known resident's care team (care_plan.team)."""
        ids = sorted(set(resident_ids))
        if not ids:
            return {}
        rows = await self._db.fetch("SELECT id, care_plan->>'team' AS team FROM residents "
                                    "WHERE id = ANY(ARRAY(SELECT jsonb_array_elements_text(%s)))", (ids,))
        return {r["id"]: r["team"] for r in rows}

    async def deny(self, request: Request, principal: Principal, why: str, residents: Iterable[str] = ()) -> None:
        """Audit the refusal and raise 403 (a page gets a page)."""
        await self.audit.record(actor(request, principal), AuditAction.ACCESS_DENIED, residents, self._clock.now(),
                                {"method": request.method, "path": request.url.path, "why": why}, Outcome.DENIED)
        if _is_page(request):
            raise PageDenied(403, why)
        raise HTTPException(403, why)

    async def require(self, request: Request, resident_id: str) -> None:
        """403 unless the principal may see this resident under the route's rule (team roles: own teams)."""
        principal, rule = principal_of(request), request.state.rule
        if rule.unbound(principal):
            return
        team = (await self.teams_of([resident_id])).get(resident_id)
        if team is None or team not in principal.teams:
            # An unknown resident is refused the same way: the answer does not reveal who exists elsewhere.
            await self.deny(request, principal, "this resident is not in your team", [resident_id])

    def teams_in_scope(self, request: Request) -> tuple[str, ...] | None:
        """The care teams whose residents this request may see (for queries to filter before their LIMIT);
        None when the principal sees every resident."""
        principal, rule = principal_of(request), request.state.rule
        return None if rule.unbound(principal) else tuple(sorted(principal.teams))

    async def visible(self, request: Request, resident_ids: Iterable[str]) -> set[str] | None:
        """The residents among these the principal may see; None when they see every resident."""
        principal, rule = principal_of(request), request.state.rule
        if rule.unbound(principal):
            return None
        teams = await self.teams_of(resident_ids)
        return {rid for rid, team in teams.items() if team in principal.teams}


async def authorize(request: Request) -> None:
    """The app-wide dependency: the route's row in POLICY decides; no row, no access (fail closed)."""
    route = request.scope.get("route")
    rule: Rule | None = POLICY.get((request.method, getattr(route, "path", "")))
    access: Access = request.app.state.access
    if rule is not None and rule.public:
        return
    try:
        principal = await current_principal(request)
    except HTTPException as err:
        if err.status_code == 401 and _is_page(request):
            target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
            raise PageRedirect(303, "sign in first", headers={"Location": "/login?next=" + quote(target)}) from None
        raise
    request.state.rule = rule
    if rule is None:
        await access.deny(request, principal, "this route has no access policy")
    elif not rule.admits(principal):
        await access.deny(request, principal, "your role does not allow this: needs "
                          + " or ".join(sorted(r.value for r in rule.roles)))
    elif rule.scope is Scope.RESIDENT:
        await access.require(request, request.path_params.get("resident_id", ""))


def denied_page(request: Request, exc: PageDenied) -> Any:
    """HTML for a page the user's roles do not open, with a link to their own start page."""
    from fastapi.responses import HTMLResponse

    principal = getattr(request.state, "principal", None)
    who = html.escape(principal.display_name or principal.name) if principal else "you"
    home = landing(principal) if principal else "/login"
    body = (f"<!doctype html><html lang='en'><head><meta charset='utf-8'><title>Not allowed · Telecare</title>"
            f"<link rel='stylesheet' href='/static/app.css'></head><body><main class='page'><h1>Not allowed</h1>"
            f"<p data-denied>{html.escape(str(exc.detail))}.</p><p>Signed in as {who}. "
            f"<a href='{home}'>Go to your start page</a> · <a href='/login'>Sign in as someone else</a></p>"
            f"</main></body></html>")
    return HTMLResponse(body, status_code=403)
