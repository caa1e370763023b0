"""Who may call what: the ONE table of every page and API route's allowed roles and resident scope.

create_app refuses to build an app with a route missing here (check_routes), and one dependency
(dashboards.access.authorize) enforces the table on every request. Adding a route means adding its row:

    ("GET", "/api/gdpr/export/{resident_id}"): allow(ADMIN, AUDITOR),

Scope says how team-bound roles (care_team, coordinator: identity.model.TEAM_ROLES) are held to the residents
of their own teams; other roles' access is not team-bound.
"""
from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from identity.model import TEAM_ROLES, Principal, Role

OPERATOR, CARE_TEAM, COORDINATOR = Role.OPERATOR, Role.CARE_TEAM, Role.COORDINATOR
INSTALLER, ADMIN, AUDITOR = Role.INSTALLER, Role.ADMIN, Role.AUDITOR
CARE = (CARE_TEAM, COORDINATOR)


class Scope(StrEnum):
    NONE = "none"          # no single resident: the allowed roles see it all (or it holds no personal data)
    RESIDENT = "resident"  # the path's {resident_id}: team roles only for their teams' residents (checked centrally)
    LOOKUP = "lookup"      # one resident found by the route (via an alert, call or task): route calls require()
    FILTER = "filter"      # rows of many residents: team roles get only their teams' rows (route calls visible())


@dataclass(frozen=True, slots=True)
class Rule:
    """One route's policy."""

    roles: frozenset[Role]
    scope: Scope = Scope.NONE
    public: bool = False  # no sign-in at all

    def admits(self, principal: Principal) -> bool:
        """The principal holds one of the allowed roles."""
        return principal.has(*self.roles)

    def unbound(self, principal: Principal) -> bool:
        """The principal holds an allowed role that is not team-bound (sees every resident here)."""
        return principal.has(*(self.roles - TEAM_ROLES))


def allow(*roles: Role, scope: Scope = Scope.NONE) -> Rule:
    """A rule admitting these roles."""
    return Rule(frozenset(roles), scope)


PUBLIC = Rule(frozenset(), public=True)
SIGNED_IN = allow(*Role)  # any authenticated user, whatever their role

POLICY: dict[tuple[str, str], Rule] = {
    # Sign-in, health and docs. /metrics holds counters only (no names, no resident ids) and is scraped by
    # Prometheus without credentials: restrict it at the proxy if the network is not trusted. /docs lists the
    # routes, never data; every route it describes still needs its role.
    ("GET", "/login"): PUBLIC,
    ("POST", "/api/session"): PUBLIC,
    ("GET", "/api/session"): SIGNED_IN,
    ("DELETE", "/api/session"): SIGNED_IN,
    ("GET", "/healthz"): PUBLIC,
    ("GET", "/metrics"): PUBLIC,
    ("GET", "/favicon.ico"): PUBLIC,
    ("GET", "/api/config"): PUBLIC,  # the service time zone, read by ui.js on every page (login included)
    ("GET", "/docs"): PUBLIC,
    ("GET", "/redoc"): PUBLIC,
    ("GET", "/openapi.json"): PUBLIC,
    ("GET", "/care/assets/{name}"): PUBLIC,  # care.js / care.css
    # Twilio calls these; each request's X-Twilio-Signature is verified by the route itself.
    ("POST", "/twilio/status"): PUBLIC,
    ("POST", "/twilio/gather"): PUBLIC,
    # Operators: the alert queue and its live stream.
    ("GET", "/"): allow(OPERATOR),
    ("GET", "/api/alerts"): allow(OPERATOR),
    ("GET", "/api/alerts/stream"): allow(OPERATOR),
    ("POST", "/api/alerts/{alert_id}/acknowledge"): allow(OPERATOR),
    ("POST", "/api/alerts/{alert_id}/resolve"): allow(OPERATOR),
    ("GET", "/api/alerts/{alert_id}/history"): allow(OPERATOR),
    ("POST", "/api/alerts/{alert_id}/notes"): allow(OPERATOR),
    ("GET", "/api/escalations"): allow(OPERATOR),
    ("POST", "/api/residents/{resident_id}/key-safe"): allow(OPERATOR, scope=Scope.RESIDENT),
    # A resident's card and recent events: operators, and the care team of the resident's own team.
    ("GET", "/api/residents/{resident_id}"): allow(OPERATOR, *CARE, scope=Scope.RESIDENT),
    ("GET", "/api/residents/{resident_id}/events"): allow(OPERATOR, *CARE, scope=Scope.RESIDENT),
    # -- issue 8, residents: directory, resident page, timeline, series, visits, notes, care plan (helper "resident")
    ("GET", "/residents"): allow(OPERATOR, *CARE),
    ("GET", "/residents/{resident_id}"): allow(OPERATOR, *CARE, scope=Scope.RESIDENT),
    ("GET", "/api/residents"): allow(OPERATOR, *CARE, scope=Scope.FILTER),
    ("GET", "/api/residents/{resident_id}/timeline"): allow(OPERATOR, *CARE, scope=Scope.RESIDENT),
    ("GET", "/api/residents/{resident_id}/series/{name}"): allow(OPERATOR, *CARE, scope=Scope.RESIDENT),
    ("GET", "/api/residents/{resident_id}/care-plan"): allow(OPERATOR, *CARE, scope=Scope.RESIDENT),
    ("PUT", "/api/residents/{resident_id}/care-plan"): allow(*CARE, scope=Scope.RESIDENT),  # operators read
    ("POST", "/api/residents/{resident_id}/visits"): allow(*CARE, scope=Scope.RESIDENT),
    ("POST", "/api/residents/{resident_id}/notes"): allow(OPERATOR, *CARE, scope=Scope.RESIDENT),
    # -- end residents
    # Care teams: worklist, calls, call log, campaigns (their own teams' residents).
    ("GET", "/care"): allow(*CARE),
    ("GET", "/care/worklist"): allow(*CARE),
    ("GET", "/care/calls"): allow(*CARE),
    ("GET", "/care/campaigns"): allow(*CARE),
    ("GET", "/care/campaigns/{campaign_id}"): allow(*CARE),
    ("GET", "/api/worklist"): allow(*CARE, scope=Scope.FILTER),
    ("POST", "/api/calls/start"): allow(*CARE, scope=Scope.LOOKUP),
    ("POST", "/api/calls/{call_id}/outcome"): allow(*CARE, scope=Scope.LOOKUP),
    ("GET", "/api/calls"): allow(*CARE, scope=Scope.FILTER),
    ("GET", "/api/calls.csv"): allow(*CARE, scope=Scope.FILTER),
    ("GET", "/api/campaigns"): allow(*CARE),
    ("GET", "/api/campaigns/{campaign_id}"): allow(*CARE),
    ("POST", "/api/campaigns/information"): allow(*CARE, scope=Scope.FILTER),  # team roles: own teams only
    ("POST", "/api/campaigns/weather"): allow(COORDINATOR),  # area-wide (CAP geocodes): a team lead's call
    # Registry: installers commission gateways and sensors (ids only, no health data); residents' personal
    # data is written by coordinators (their teams) and admins.
    ("GET", "/devices"): allow(INSTALLER, ADMIN),
    ("GET", "/api/devices"): allow(INSTALLER, ADMIN),
    ("POST", "/api/devices"): allow(INSTALLER, ADMIN),
    ("POST", "/api/devices/{device_id}/pair"): allow(INSTALLER, ADMIN),
    ("POST", "/api/residents"): allow(COORDINATOR, ADMIN, scope=Scope.LOOKUP),
    # -- issue 8, installers: gateways, commissioning, fleet (helper "installer")
    # Ids, serials, rooms, technical state and the installation address (audited reads): never names,
    # phones, notes or health events.
    ("GET", "/commission"): allow(INSTALLER, ADMIN),
    ("POST", "/api/gateways"): allow(INSTALLER, ADMIN),
    ("POST", "/api/gateways/{gateway_id}/sensors"): allow(INSTALLER, ADMIN),
    ("GET", "/api/gateways/{gateway_id}"): allow(INSTALLER, ADMIN),
    ("POST", "/api/gateways/{gateway_id}/commissioning"): allow(INSTALLER, ADMIN),
    ("GET", "/api/gateways/{gateway_id}/commissioning/{session_id}"): allow(INSTALLER, ADMIN),
    ("GET", "/api/gateways/{gateway_id}/commissioning/{session_id}/stream"): allow(INSTALLER, ADMIN),
    ("POST", "/api/gateways/{gateway_id}/commissioning/{session_id}/finish"): allow(INSTALLER, ADMIN),
    ("GET", "/fleet"): allow(INSTALLER, ADMIN),
    ("GET", "/api/fleet"): allow(INSTALLER, ADMIN),
    ("GET", "/api/fleet.csv"): allow(INSTALLER, ADMIN),
    # -- end installers
    # The demo's phone simulator (residents' phones ringing in the browser: names and numbers on screen).
    ("GET", "/phones"): allow(OPERATOR, *CARE, ADMIN),
    ("GET", "/api/phones"): allow(OPERATOR, *CARE, ADMIN),
    ("GET", "/api/phones/stream"): allow(OPERATOR, *CARE, ADMIN),
    ("POST", "/api/phones/{call_id}/press"): allow(OPERATOR, *CARE, ADMIN),
    ("POST", "/api/phones/{call_id}/{action}"): allow(OPERATOR, *CARE, ADMIN),
    # -- issue 8, quality board page and languages (helpers "installer", "i18n")
    # The service measuring itself (operator names, ids of unreached residents): coordinators see the board
    # of their own teams' residents only (filtered in the queries).
    ("GET", "/quality"): allow(ADMIN, AUDITOR, COORDINATOR),
    ("GET", "/api/quality"): allow(ADMIN, AUDITOR, COORDINATOR, scope=Scope.FILTER),
    ("GET", "/i18n/{language}.json"): PUBLIC,  # the pages' words, read by ui.js on every page (login included)
    ("PUT", "/api/session/language"): SIGNED_IN,  # a user's own language for the pages
    # -- end quality and languages
    # GDPR: subject access exports for admins and auditors; erasure for admins only.
    ("GET", "/api/residents/{resident_id}/export"): allow(ADMIN, AUDITOR),
    ("POST", "/api/residents/{resident_id}/erase"): allow(ADMIN),
    ("GET", "/api/admin/retention"): allow(ADMIN, AUDITOR),
    # Users and audit.
    ("GET", "/audit"): allow(ADMIN, AUDITOR),
    ("GET", "/api/audit"): allow(ADMIN, AUDITOR),
    ("GET", "/api/users"): allow(ADMIN),
    ("POST", "/api/users"): allow(ADMIN),
    ("POST", "/api/users/{name}/disable"): allow(ADMIN),
    ("POST", "/api/users/{name}/tokens"): allow(ADMIN),
    ("DELETE", "/api/users/{name}/tokens/{token_id}"): allow(ADMIN),
}

# Where each role lands after sign-in (first match in this order).
LANDING: tuple[tuple[Role, str], ...] = (
    (OPERATOR, "/"), (COORDINATOR, "/care"), (CARE_TEAM, "/care"), (INSTALLER, "/devices"),
    (ADMIN, "/audit"), (AUDITOR, "/audit"))


def landing(principal: Principal) -> str:
    """The page a user starts on."""
    return next((path for role, path in LANDING if principal.has(role)), "/login")


class PolicyMissing(RuntimeError):
    """A route without a row in POLICY: the app is not built."""


def route_keys(app: Any) -> list[tuple[str, str]]:
    """(method, path) of every route the app answers itself (mounts such as /static excluded)."""
    from fastapi.routing import iter_route_contexts  # included routers stay nested in app.routes: flatten them

    keys = []
    for route in iter_route_contexts(app.routes):
        methods = getattr(route, "methods", None)
        if methods is None:  # a Mount (static files, docs assets): public files, no route table
            continue
        keys += [(m, route.path) for m in sorted(methods) if m != "HEAD"]
    return keys


def check_routes(app: Any, policy: dict[tuple[str, str], Rule] = POLICY) -> None:
    """Raise PolicyMissing naming every route of `app` that has no policy."""
    missing = [f"{m} {p}" for m, p in route_keys(app) if (m, p) not in policy]
    if missing:
        raise PolicyMissing("routes without a policy in dashboards/policy.py: " + ", ".join(missing))
