"""Server-side sessions: the expiry rules (pure) and the sessions table's writer."""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from telecare.store import Database

from identity.model import CsrfMismatch, Principal, PrincipalKind, Role
from identity.tokens import digest, new_secret, same_secret

# Refresh last_seen_at at most this often: an idle timeout of minutes does not need a write per request.
TOUCH_EVERY = timedelta(seconds=30)


@dataclass(frozen=True, slots=True)
class SessionPolicy:
    """Absolute lifetime and idle timeout of a session."""

    max_age: timedelta = timedelta(hours=12)
    idle: timedelta = timedelta(minutes=30)

    def expires_at(self, created_at: datetime) -> datetime:
        """The absolute end of a session opened at `created_at`."""
        return created_at + self.max_age

    def alive(self, expires_at: datetime, last_seen_at: datetime, now: datetime) -> bool:
        """True while neither the absolute expiry nor the idle timeout has passed."""
        return now < expires_at and now - last_seen_at < self.idle

    def needs_touch(self, last_seen_at: datetime, now: datetime) -> bool:
        """True when last_seen_at is stale enough to be worth a write."""
        return now - last_seen_at >= TOUCH_EVERY


@dataclass(frozen=True, slots=True)
class OpenedSession:
    """A new session: the cookie value and CSRF token are returned once and never stored in clear."""

    principal: Principal
    secret: str
    csrf_token: str
    expires_at: datetime


_RESOLVE = """
SELECT s.id, s.csrf_hash, s.expires_at, s.last_seen_at, u.name, u.display_name,
       ARRAY(SELECT role FROM user_roles r WHERE r.user_name = u.name) AS roles,
       ARRAY(SELECT team FROM user_teams t WHERE t.user_name = u.name) AS teams
FROM sessions s JOIN users u ON u.name = s.user_name
WHERE s.secret_hash = %s AND NOT u.disabled
"""


class SessionStore:
    """Open, resolve (with the idle touch), check CSRF and close sessions."""

    def __init__(self, db: Database, policy: SessionPolicy) -> None:
        self._db = db
        self.policy = policy

    async def open(self, principal: Principal, now: datetime) -> OpenedSession:
        """A new session for an authenticated principal."""
        secret, csrf = new_secret(), new_secret()
        expires = self.policy.expires_at(now)
        session_id = await self._db.fetchval(
            "INSERT INTO sessions (secret_hash, csrf_hash, user_name, created_at, last_seen_at, expires_at) "
            "VALUES (%s, %s, %s, %s, %s, %s) RETURNING id",
            (digest(secret), digest(csrf), principal.name, now, now, expires))
        opened = Principal(principal.name, principal.roles, principal.teams, PrincipalKind.SESSION,
                           int(session_id), principal.display_name)
        return OpenedSession(opened, secret, csrf, expires)

    async def resolve(self, secret: str, now: datetime, csrf_token: str | None = None,
                      need_csrf: bool = False) -> Principal | None:
        """The session's principal, or None when unknown, expired, idle too long or its user disabled (an
        expired or idle session is deleted); with need_csrf, CsrfMismatch unless the CSRF token matches."""
        row = await self._db.fetchrow(_RESOLVE, (digest(secret),))
        if row is None:
            return None
        if not self.policy.alive(row["expires_at"], row["last_seen_at"], now):
            await self._db.execute("DELETE FROM sessions WHERE id = %s", (row["id"],))
            return None
        if need_csrf and not (csrf_token and same_secret(csrf_token, bytes(row["csrf_hash"]))):
            raise CsrfMismatch()
        if self.policy.needs_touch(row["last_seen_at"], now):
            await self._db.execute("UPDATE sessions SET last_seen_at = %s WHERE id = %s AND last_seen_at < %s",
                                   (now, row["id"], now))
        return Principal(row["name"], frozenset(Role(r) for r in row["roles"]), frozenset(row["teams"]),
                         PrincipalKind.SESSION, int(row["id"]), row["display_name"])

    async def close(self, secret: str) -> bool:
        """Delete the session (logout); True when there was one."""
        return bool(await self._db.execute("DELETE FROM sessions WHERE secret_hash = %s", (digest(secret),)))

    async def prune(self, now: datetime) -> int:
        """Delete sessions past their absolute expiry or idle timeout; return how many."""
        return await self._db.execute("DELETE FROM sessions WHERE expires_at <= %s OR last_seen_at <= %s",
                                      (now, now - self.policy.idle))
