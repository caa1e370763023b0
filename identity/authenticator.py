"""The one authentication boundary, and the password login shipped behind it.

A municipality's identity provider (OIDC, SAML) replaces PasswordLogin with its own Authenticator that
maps the provider's assertion to a Principal; sessions, CSRF and tokens stay as they are.
"""
from __future__ import annotations

import asyncio
import math
from typing import Any, Protocol

from telecare.clock import Clock
from telecare.metrics import LOGIN_FAILURES

from identity.model import LoginLocked, PasswordCredentials, Principal, PrincipalKind
from identity.passwords import Passwords
from identity.throttle import KeyKind, LoginAttempts
from identity.users import UserStore

MAX_KEY = 200  # a name or address longer than this is truncated for the throttle key


class Authenticator(Protocol):
    async def authenticate(self, credentials: Any) -> Principal | None:
        """Who presented these credentials (credential_id None: no session yet), or None when refused.

        May raise LoginLocked. Unknown user and wrong password must be indistinguishable to the caller."""
        ...


class PasswordLogin:
    """Name and password against the users table, with per-name and per-address throttling."""

    def __init__(self, users: UserStore, passwords: Passwords, attempts: LoginAttempts, clock: Clock) -> None:
        self._users = users
        self._passwords = passwords
        self._attempts = attempts
        self._clock = clock

    async def authenticate(self, credentials: PasswordCredentials) -> Principal | None:
        """The user's principal when the password matches and the user is enabled; else None."""
        name = credentials.name.strip().lower()[:MAX_KEY]
        keys = {KeyKind.USER: name}
        if credentials.remote_addr:
            keys[KeyKind.ADDRESS] = credentials.remote_addr[:MAX_KEY]
        now = self._clock.now()
        locked_until = await self._attempts.locked_until(keys, now)
        if locked_until is not None:
            LOGIN_FAILURES.labels("locked").inc()
            raise LoginLocked(math.ceil((locked_until - now).total_seconds()))
        stored = await self._users.password_hash(name)
        encoded, disabled = stored if stored else (None, False)
        # argon2 takes a quarter second of CPU: off the event loop.
        ok = await asyncio.to_thread(self._passwords.verify, encoded, credentials.password)
        if not ok or disabled:
            LOGIN_FAILURES.labels("disabled" if ok else "invalid").inc()
            await self._attempts.record_failure(keys, now)
            return None
        await self._attempts.clear(KeyKind.USER, name)
        if encoded and self._passwords.needs_rehash(encoded):
            new_hash = await asyncio.to_thread(self._passwords.hash, credentials.password)
            await self._users.set_password_hash(name, new_hash, now)
        user = await self._users.get(name)
        return Principal(user.name, user.roles, user.teams, PrincipalKind.SESSION, None, user.display_name)
