"""Password hashing with argon2id (the only argon2-cffi import)."""
from __future__ import annotations

from argon2 import PasswordHasher, Type
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

from telecare.errors import InvalidInput

MIN_LENGTH = 12
MAX_LENGTH = 1024  # hashing a megabyte per request would be a cheap denial of service


def check_new_password(password: str) -> str:
    """The password if acceptable as a new one, else InvalidInput."""
    if len(password) < MIN_LENGTH:
        raise InvalidInput(f"the password must have at least {MIN_LENGTH} characters")
    if len(password) > MAX_LENGTH:
        raise InvalidInput(f"the password must have at most {MAX_LENGTH} characters")
    return password


class Passwords:
    """argon2id hashing and verification; RFC 9106's second recommended profile by default."""

    def __init__(self, *, time_cost: int = 3, memory_kib: int = 65536, parallelism: int = 4) -> None:
        self._hasher = PasswordHasher(time_cost=time_cost, memory_cost=memory_kib, parallelism=parallelism,
                                      type=Type.ID)
        self._dummy: str | None = None

    def hash(self, password: str) -> str:
        """An encoded argon2id hash (salt and parameters included)."""
        return self._hasher.hash(password)

    def verify(self, encoded: str | None, password: str) -> bool:
        """True when `password` matches; an absent hash costs the same time as a wrong password."""
        if len(password) > MAX_LENGTH:
            return False
        known = encoded is not None
        if encoded is None:
            # Unknown user: verify against a throwaway hash so timing does not tell which names exist.
            if self._dummy is None:
                self._dummy = self._hasher.hash("no such user, no such password")
            encoded = self._dummy
        try:
            return self._hasher.verify(encoded, password) and known
        except (VerifyMismatchError, VerificationError, InvalidHashError):
            return False

    def needs_rehash(self, encoded: str) -> bool:
        """True when the hash was made with weaker parameters than the current ones."""
        return self._hasher.check_needs_rehash(encoded)
