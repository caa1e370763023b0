"""The identity vocabulary: roles, users and the authenticated Principal the web layer takes actors from."""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any

from telecare.errors import InvalidInput, TelecareError


class Role(StrEnum):
    OPERATOR = "operator"          # alert queue, resident cards, key-safe reveal with a reason
    CARE_TEAM = "care_team"        # their own team(s)' residents: record, call log, worklist, campaigns
    COORDINATOR = "coordinator"    # a care team lead: campaigns, care plans, team assignment
    INSTALLER = "installer"        # gateways, sensors, commissioning; no health data
    ADMIN = "admin"                # users, settings
    AUDITOR = "auditor"            # read-only audit and exports


# Roles whose access is scoped to care teams: a user holding one needs at least one team.
TEAM_ROLES = frozenset({Role.CARE_TEAM, Role.COORDINATOR})


class Organisation(StrEnum):
    """Who employs a user: the service provider (monitoring centre, its care teams) or the municipal social
    services. Both work on the same residents; the shared record tags notes and visits with it."""

    PROVIDER = "provider"
    MUNICIPAL = "municipal"


class PrincipalKind(StrEnum):
    SESSION = "session"  # a browser, by the session cookie
    TOKEN = "token"      # a machine, by an API bearer token


_NAME = re.compile(r"^[a-z0-9][a-z0-9._-]{0,63}$")


def user_name(raw: str) -> str:
    """A valid user name (lower case letters, digits, . _ -; up to 64), or InvalidInput."""
    name = raw.strip().lower()
    if not _NAME.match(name):
        raise InvalidInput(f"invalid user name {raw!r}: use 1-64 lower-case letters, digits, '.', '_' or '-'")
    return name


def parse_role(raw: str) -> Role:
    """The Role named `raw`, or InvalidInput listing the valid ones."""
    try:
        return Role(raw.strip().lower().replace("-", "_"))
    except ValueError:
        raise InvalidInput(f"unknown role {raw!r} (choose from {', '.join(r.value for r in Role)})") from None


@dataclass(frozen=True, slots=True)
class User:
    """A person who signs in (or owns API tokens)."""

    name: str
    display_name: str
    roles: frozenset[Role]
    teams: frozenset[str] = frozenset()
    disabled: bool = False
    created_at: datetime | None = None
    updated_at: datetime | None = None


@dataclass(frozen=True, slots=True)
class Principal:
    """Who is calling, as authenticated: the only source of the actor for every audited action."""

    name: str
    roles: frozenset[Role]
    teams: frozenset[str]
    kind: PrincipalKind
    credential_id: int | None = None  # sessions.id or api_tokens.id; None before a session is opened
    display_name: str = ""

    def has(self, *roles: Role) -> bool:
        """True when the principal holds any of `roles`."""
        return not self.roles.isdisjoint(roles)

    def view(self) -> dict[str, Any]:
        """JSON for the web layer (no secret in it)."""
        return {"name": self.name, "display_name": self.display_name or self.name,
                "roles": sorted(r.value for r in self.roles), "teams": sorted(self.teams),
                "kind": self.kind.value, "id": self.credential_id}


@dataclass(frozen=True, slots=True)
class PasswordCredentials:
    """What the login form sends, plus where it came from (for per-address throttling)."""

    name: str
    password: str = field(repr=False)
    remote_addr: str = ""


class LoginLocked(TelecareError):
    """Too many failed logins for this name or address; try again after `retry_after_s`."""

    def __init__(self, retry_after_s: int) -> None:
        super().__init__(f"too many failed sign-ins: try again in {max(1, retry_after_s // 60)} min")
        self.retry_after_s = retry_after_s


class CsrfMismatch(TelecareError):
    """A cookie-authenticated state change without the session's CSRF token."""

    def __init__(self) -> None:
        super().__init__("missing or wrong CSRF token (send the X-CSRF-Token header)")
