"""Login throttling: a pure decision over failure times, and the login_attempts table's writer."""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum

from telecare.store import Database

from identity.tokens import digest


class KeyKind(StrEnum):
    USER = "user"        # the name as typed, known or not (so a lock tells nothing about existence)
    ADDRESS = "address"  # the remote address


@dataclass(frozen=True, slots=True)
class ThrottlePolicy:
    """`max_failures` failures within `window` lock the key for `lock` after the last of them."""

    max_failures: int = 5
    window: timedelta = timedelta(minutes=15)
    lock: timedelta = timedelta(minutes=15)

    @property
    def horizon(self) -> timedelta:
        """How far back a failure can still matter."""
        return self.window + self.lock

    def locked_until(self, failures: Sequence[datetime], now: datetime) -> datetime | None:
        """The end of the lock `failures` earn, if it is still running at `now`; else None."""
        times = sorted(failures)
        n = self.max_failures
        end: datetime | None = None
        for first, last in zip(times, times[n - 1:]):
            if last - first <= self.window and last + self.lock > now:
                end = last + self.lock if end is None else max(end, last + self.lock)
        return end


@dataclass(frozen=True, slots=True)
class Throttle:
    """One policy per key kind: a shared address (a call centre behind NAT) gets a higher threshold."""

    user: ThrottlePolicy = ThrottlePolicy()
    address: ThrottlePolicy = ThrottlePolicy(max_failures=20)

    def policy(self, kind: KeyKind) -> ThrottlePolicy:
        return self.user if kind is KeyKind.USER else self.address


class LoginAttempts:
    """Failed logins by key; keys stored as digests (keeps names and addresses out of casual reads)."""

    def __init__(self, db: Database, throttle: Throttle) -> None:
        self._db = db
        self.throttle = throttle

    async def locked_until(self, keys: dict[KeyKind, str], now: datetime) -> datetime | None:
        """The latest lock end over the keys, or None when none is locked."""
        ends = []
        for kind, key in keys.items():
            policy = self.throttle.policy(kind)
            rows = await self._db.fetch(
                "SELECT at FROM login_attempts WHERE key_kind = %s AND key_hash = %s AND at > %s",
                (kind.value, digest(key), now - policy.horizon))
            end = policy.locked_until([r["at"] for r in rows], now)
            if end:
                ends.append(end)
        return max(ends, default=None)

    async def record_failure(self, keys: dict[KeyKind, str], now: datetime) -> None:
        """Count one failure against every key; forget failures too old to matter."""
        oldest = now - max(self.throttle.user.horizon, self.throttle.address.horizon)
        async with self._db.transaction() as tx:
            await tx.executemany("INSERT INTO login_attempts (key_kind, key_hash, at) VALUES (%s, %s, %s)",
                                 [(kind.value, digest(key), now) for kind, key in keys.items()])
            await tx.execute("DELETE FROM login_attempts WHERE at < %s", (oldest,))

    async def clear(self, kind: KeyKind, key: str) -> None:
        """Forget a key's failures (a successful login clears its user's count)."""
        await self._db.execute("DELETE FROM login_attempts WHERE key_kind = %s AND key_hash = %s",
                               (kind.value, digest(key)))
