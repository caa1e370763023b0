"""Random secrets and their digests: session ids, CSRF tokens, API tokens, generated passwords."""
from __future__ import annotations

import hashlib
import hmac
import secrets

SECRET_BYTES = 32  # 256 bits
API_TOKEN_PREFIX = "tct_"  # recognisable in a leaked log or repository, so secret scanners can flag it


def new_secret() -> str:
    """A URL-safe random string carrying 256 bits."""
    return secrets.token_urlsafe(SECRET_BYTES)


def new_api_token() -> str:
    """A new API bearer token: the prefix and 256 random bits."""
    return API_TOKEN_PREFIX + new_secret()


def looks_like_api_token(value: str) -> bool:
    """Cheap shape check before any database lookup."""
    return value.startswith(API_TOKEN_PREFIX) and 40 <= len(value) <= 80


def new_password() -> str:
    """A generated password (about 120 bits), shown once."""
    return secrets.token_urlsafe(15)


def digest(secret: str) -> bytes:
    """SHA-256 of a secret: what the tables store instead of the secret itself."""
    return hashlib.sha256(secret.encode()).digest()


def same_secret(secret: str, stored_digest: bytes) -> bool:
    """Constant-time comparison of a presented secret with a stored digest."""
    return hmac.compare_digest(digest(secret), stored_digest)
