"""Each gateway's MQTT account: issued at registration, shown once, stored as mosquitto's `$7$` hash.

The gateway_credentials table's one writer. The username is the gateway id; the password is
generated here and only its hash is kept (the same salted PBKDF2-SHA512 mosquitto_passwd writes), so the
broker's password file is exported from the database with no plaintext anywhere.
"""
from __future__ import annotations

import base64
import hashlib
import hmac
import re
import secrets
from dataclasses import dataclass, field
from datetime import datetime

from telecare.errors import InvalidInput, NotFound
from telecare.events import DeviceType
from telecare.store import Database, Tx

# mosquitto 2.0's mosquitto_passwd: "$7$<iterations>$<base64 salt>$<base64 sha512 pbkdf2>", 12-byte salt.
HASH_ITERATIONS = 101
SALT_BYTES = 12
# mosquitto's password file is "user:hash" per line, so ':' (allowed in device ids) cannot be a username.
USERNAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")
# Ingest's accounts are named after its sessions (`<TELECARE_MQTT_CLIENT_ID>`, `...-alarms`), all under this
# prefix; the broker makes every client id its username, so a gateway named like them could take over
# ingest's sessions: no gateway id may start with it (any case, to avoid look-alikes).
RESERVED_PREFIX = "telecare-ingest"


def is_reserved(username: str) -> bool:
    """True for a username in ingest's namespace (`telecare-ingest...`), which no gateway may hold."""
    return username.lower().startswith(RESERVED_PREFIX)


def mosquitto_hash(password: str, *, salt: bytes | None = None, iterations: int = HASH_ITERATIONS) -> str:
    """`password` in mosquitto's `$7$` password-file form (what `mosquitto_passwd -b` writes)."""
    salt = secrets.token_bytes(SALT_BYTES) if salt is None else salt
    digest = hashlib.pbkdf2_hmac("sha512", password.encode(), salt, iterations)
    return f"$7${iterations}${base64.b64encode(salt).decode()}${base64.b64encode(digest).decode()}"


def verify_mosquitto_hash(encoded: str, password: str) -> bool:
    """True when `password` matches a `$7$` hash (as mosquitto checks it)."""
    try:
        _, kind, iterations, salt, digest = encoded.split("$")
        if kind != "7":
            return False
        again = hashlib.pbkdf2_hmac("sha512", password.encode(), base64.b64decode(salt), int(iterations))
    except ValueError:
        return False
    return hmac.compare_digest(again, base64.b64decode(digest))


def new_mqtt_password() -> str:
    """A generated MQTT password (192 bits, URL-safe: no ':' or whitespace)."""
    return secrets.token_urlsafe(24)


def check_username(gateway_id: str) -> str:
    """The MQTT username of a gateway (its id); InvalidInput if mosquitto cannot take it as one."""
    if not USERNAME.match(gateway_id):
        raise InvalidInput(f"gateway {gateway_id}: an MQTT username needs letters, digits, '_', '.' or '-' "
                           "(no ':'), at most 64 characters")
    if is_reserved(gateway_id):
        raise InvalidInput(f"gateway {gateway_id}: ids starting with '{RESERVED_PREFIX}' are reserved for ingest's "
                           "MQTT accounts")
    return gateway_id


@dataclass(frozen=True, slots=True)
class IssuedCredentials:
    """A gateway's new MQTT login: the password exists only in this value (shown once)."""

    gateway_id: str
    username: str
    password: str = field(repr=False)  # never in a log line, even by accident


@dataclass(frozen=True, slots=True)
class StoredCredentials:
    """What the database keeps of a gateway's MQTT login."""

    gateway_id: str
    username: str
    password_hash: str
    issued_at: datetime


_UPSERT = """
    INSERT INTO gateway_credentials (gateway_id, username, password_hash, issued_at) VALUES (%s, %s, %s, %s)
    ON CONFLICT (gateway_id) DO UPDATE SET username = EXCLUDED.username, password_hash = EXCLUDED.password_hash,
                                           issued_at = EXCLUDED.issued_at"""


async def issue_in(tx: Tx, gateway_id: str, now: datetime) -> IssuedCredentials:
    """Issue (or replace) a gateway's credentials inside the caller's transaction."""
    username = check_username(gateway_id)
    password = new_mqtt_password()
    await tx.execute(_UPSERT, (gateway_id, username, mosquitto_hash(password), now))
    return IssuedCredentials(gateway_id, username, password)


async def issue_if_missing(tx: Tx, gateway_id: str, now: datetime) -> IssuedCredentials | None:
    """Credentials for a gateway that has none yet (a registration); None when it already has some."""
    row = await tx.fetchrow("SELECT 1 AS present FROM gateway_credentials WHERE gateway_id = %s FOR UPDATE",
                            (gateway_id,))
    return None if row else await issue_in(tx, gateway_id, now)


class GatewayCredentials:
    """Rotation, lookup and the export list of gateway MQTT accounts."""

    def __init__(self, db: Database) -> None:
        self._db = db

    async def rotate(self, gateway_id: str, now: datetime) -> IssuedCredentials:
        """A new password for a registered gateway (the old one stops working at the broker's next reload)."""
        async with self._db.transaction() as tx:
            row = await tx.fetchrow("SELECT type FROM devices WHERE id = %s FOR SHARE", (gateway_id,))
            if row is None:
                raise NotFound(f"gateway {gateway_id} is not registered")
            if row["type"] != DeviceType.GATEWAY.value:
                raise InvalidInput(f"device {gateway_id} is not a gateway (only gateways hold MQTT credentials)")
            return await issue_in(tx, gateway_id, now)

    async def get(self, gateway_id: str) -> StoredCredentials | None:
        """The stored credentials of one gateway, or None."""
        row = await self._db.fetchrow("SELECT * FROM gateway_credentials WHERE gateway_id = %s", (gateway_id,))
        return _stored(row) if row else None

    async def all(self) -> list[StoredCredentials]:
        """Every gateway's stored credentials, by gateway id."""
        return [_stored(r) for r in await self._db.fetch("SELECT * FROM gateway_credentials ORDER BY gateway_id")]

    async def gateways_without(self) -> list[str]:
        """Registered gateways that have no MQTT credentials (they cannot connect)."""
        rows = await self._db.fetch(
            "SELECT d.id FROM devices d LEFT JOIN gateway_credentials c ON c.gateway_id = d.id "
            "WHERE d.type = 'gateway' AND c.gateway_id IS NULL ORDER BY d.id")
        return [r["id"] for r in rows]


def _stored(row: dict) -> StoredCredentials:
    return StoredCredentials(row["gateway_id"], row["username"], row["password_hash"], row["issued_at"])
