"""API bearer tokens for machines: the api_tokens table's writer. Shown once, stored as SHA-256."""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from telecare.errors import InvalidInput, NotFound
from telecare.store import Database

from identity.model import TEAM_ROLES, Principal, PrincipalKind, Role, User
from identity.tokens import digest, looks_like_api_token, new_api_token

MAX_DAYS = 3650
# Refresh last_used_at at most this often (a busy machine would otherwise write on every call).
TOUCH_EVERY = timedelta(seconds=60)


@dataclass(frozen=True, slots=True)
class IssuedToken:
    """A new token: `secret` is shown to the caller once and never stored."""

    id: int
    name: str
    role: Role
    expires_at: datetime
    secret: str


def token_role(user: User, role: Role | None) -> Role:
    """The token's one role: the asked one, which the user must hold, or the user's only role."""
    if role is None:
        if len(user.roles) != 1:
            raise InvalidInput(f"user {user.name} has several roles: choose one with --role "
                               f"({', '.join(sorted(r.value for r in user.roles))})")
        return next(iter(user.roles))
    if role not in user.roles:
        raise InvalidInput(f"user {user.name} does not hold the role {role.value}")
    return role


class TokenStore:
    """Issue, resolve, list and revoke API tokens."""

    def __init__(self, db: Database) -> None:
        self._db = db

    async def issue(self, user: User, role: Role | None, days: int, name: str, now: datetime) -> IssuedToken:
        """A new token for `user` with one of their roles, valid for `days`."""
        if user.disabled:
            raise InvalidInput(f"user {user.name} is disabled")
        if not 1 <= days <= MAX_DAYS:
            raise InvalidInput(f"--days must be between 1 and {MAX_DAYS}")
        name = name.strip()
        if not 1 <= len(name) <= 80:
            raise InvalidInput("a token name must have 1-80 characters")
        role = token_role(user, role)
        secret, expires = new_api_token(), now + timedelta(days=days)
        token_id = await self._db.fetchval(
            "INSERT INTO api_tokens (secret_hash, user_name, name, role, created_at, expires_at) "
            "VALUES (%s, %s, %s, %s, %s, %s) RETURNING id", (digest(secret), user.name, name, role.value, now, expires))
        return IssuedToken(int(token_id), name, role, expires, secret)

    async def resolve(self, secret: str, now: datetime) -> Principal | None:
        """The token's principal (its one role), or None if unknown, expired, revoked or its user disabled."""
        if not looks_like_api_token(secret):
            return None
        row = await self._db.fetchrow(
            "SELECT t.id, t.role, t.expires_at, t.last_used_at, t.revoked_at, u.name, u.display_name, "
            "ARRAY(SELECT team FROM user_teams ut WHERE ut.user_name = u.name) AS teams "
            "FROM api_tokens t JOIN users u ON u.name = t.user_name "
            "WHERE t.secret_hash = %s AND NOT u.disabled", (digest(secret),))
        if row is None or row["revoked_at"] is not None or now >= row["expires_at"]:
            return None
        if row["last_used_at"] is None or now - row["last_used_at"] >= TOUCH_EVERY:
            await self._db.execute("UPDATE api_tokens SET last_used_at = %s WHERE id = %s", (now, row["id"]))
        role = Role(row["role"])
        teams = frozenset(row["teams"]) if role in TEAM_ROLES else frozenset()
        return Principal(row["name"], frozenset({role}), teams, PrincipalKind.TOKEN, int(row["id"]),
                         row["display_name"])

    async def list(self, user_name: str | None = None) -> list[dict[str, Any]]:
        """Tokens (never their secrets), newest first."""
        where, params = ("WHERE user_name = %s", (user_name,)) if user_name else ("", ())
        return await self._db.fetch(
            "SELECT id, user_name, name, role, created_at, expires_at, last_used_at, revoked_at "
            f"FROM api_tokens {where} ORDER BY id DESC", params)

    async def revoke(self, token_id: int, now: datetime) -> None:
        """Revoke a token at once (NotFound when there is no such live token)."""
        n = await self._db.execute("UPDATE api_tokens SET revoked_at = %s WHERE id = %s AND revoked_at IS NULL",
                                   (now, token_id))
        if not n:
            raise NotFound(f"no live API token {token_id}")

    async def revoke_named(self, user_name: str, name: str, now: datetime) -> int:
        """Revoke every live token of a user with this name (the demo replaces its token on each start)."""
        return await self._db.execute(
            "UPDATE api_tokens SET revoked_at = %s WHERE user_name = %s AND name = %s AND revoked_at IS NULL",
            (now, user_name, name))
