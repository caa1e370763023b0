"""The identity capability's facade: what the web edge, the CLI and the demo call."""
from __future__ import annotations

import asyncio
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from telecare.clock import Clock
from telecare.i18n import Language
from telecare.metrics import LOGINS
from telecare.settings import Settings
from telecare.store import Database

from identity.api_tokens import IssuedToken, TokenStore
from identity.authenticator import Authenticator, PasswordLogin
from identity.model import Principal, Role, User, user_name
from identity.passwords import Passwords, check_new_password
from identity.sessions import OpenedSession, SessionPolicy, SessionStore
from identity.throttle import LoginAttempts, Throttle, ThrottlePolicy
from identity.users import UserStore


@dataclass(frozen=True, slots=True)
class IdentityConfig:
    """Session and throttling rules (from Settings, or built directly in tests)."""

    sessions: SessionPolicy = SessionPolicy()
    throttle: Throttle = Throttle()

    @classmethod
    def from_settings(cls, s: Settings) -> IdentityConfig:
        """The rules TELECARE_SESSION_* and TELECARE_LOGIN_* ask for."""
        window, lock = timedelta(seconds=s.login_window_s), timedelta(seconds=s.login_lock_s)
        return cls(SessionPolicy(timedelta(seconds=s.session_max_s), timedelta(seconds=s.session_idle_s)),
                   Throttle(ThrottlePolicy(s.login_max_failures, window, lock),
                            ThrottlePolicy(s.login_address_max_failures, window, lock)))


class Identity:
    """Users, login (through an Authenticator), sessions and API tokens."""

    def __init__(self, db: Database, clock: Clock, config: IdentityConfig = IdentityConfig(), *,
                 passwords: Passwords | None = None, authenticator: Authenticator | None = None) -> None:
        self.clock = clock
        self.passwords = passwords or Passwords()
        self.users = UserStore(db)
        self.sessions = SessionStore(db, config.sessions)
        self.tokens = TokenStore(db)
        self.attempts = LoginAttempts(db, config.throttle)
        self.authenticator: Authenticator = authenticator or PasswordLogin(
            self.users, self.passwords, self.attempts, clock)

    async def login(self, credentials: Any) -> OpenedSession | None:
        """A new session when the authenticator accepts the credentials; None otherwise (LoginLocked may rise)."""
        principal = await self.authenticator.authenticate(credentials)
        if principal is None:
            return None
        LOGINS.inc()
        now = self.clock.now()
        await self.sessions.prune(now)  # sessions nobody came back to; the table stays the size of who is active
        return await self.sessions.open(principal, now)

    async def from_session(self, secret: str, csrf_token: str | None = None, need_csrf: bool = False
                           ) -> Principal | None:
        """The principal of a session cookie (touching its idle timer); CsrfMismatch when need_csrf fails."""
        return await self.sessions.resolve(secret, self.clock.now(), csrf_token, need_csrf)

    async def from_bearer(self, token: str) -> Principal | None:
        """The principal of an API bearer token."""
        return await self.tokens.resolve(token, self.clock.now())

    async def logout(self, secret: str) -> bool:
        """End a session."""
        return await self.sessions.close(secret)

    async def create_user(self, name: str, roles: Iterable[Role], teams: Iterable[str] = (),
                          password: str | None = None, display_name: str = "") -> User:
        """A new user; with a password, it is checked and hashed with argon2id."""
        hashed = await self._hash(password) if password is not None else None
        return await self.users.create(user_name(name), roles, teams, hashed, self.clock.now(), display_name)

    async def set_password(self, name: str, password: str) -> None:
        """Replace a user's password."""
        await self.users.set_password_hash(user_name(name), await self._hash(password), self.clock.now())

    async def issue_token(self, name: str, role: Role | None = None, days: int = 90,
                          token_name: str = "cli") -> IssuedToken:
        """A new API token for an existing user, with one of their roles."""
        user = await self.users.get(name)
        return await self.tokens.issue(user, role, days, token_name, self.clock.now())

    async def language(self, name: str) -> Language | None:
        """The user's own language for the pages, or None (the service's)."""
        return await self.users.language(name)

    async def set_language(self, name: str, language: Language | None) -> None:
        """Record the user's language for the pages (None: follow the service's)."""
        await self.users.set_language(name, language, self.clock.now())

    async def disable(self, name: str) -> None:
        """Disable a user: sessions end now, tokens stop working."""
        await self.users.disable(name, self.clock.now())

    async def _hash(self, password: str) -> str:
        return await asyncio.to_thread(self.passwords.hash, check_new_password(password))
