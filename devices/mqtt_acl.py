"""The broker's password file and ACL, from the registry's gateway credentials and ingest's own account.

Pure rendering plus the file writes: `telecare devices mqtt-acl -o DIR` and the embedded broker use it.
A gateway may publish only under `telecare/v1/<its id>/#` (its status topic included) and read nothing;
ingest's accounts (one per session, named after its client id under the reserved `telecare-ingest` prefix)
read `telecare/v1/#` and publish nothing. Anonymous clients are refused and every client id is replaced by
the username by the broker config (`allow_anonymous false`, `use_username_as_clientid true`), not here.
"""
from __future__ import annotations

import json
import os
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from devices.credentials import (RESERVED_PREFIX, USERNAME, StoredCredentials, is_reserved, mosquitto_hash,
                                 new_mqtt_password)
from telecare.errors import ConfigError

TOPIC_ROOT = "telecare/v1"
PASSWORD_FILE = "passwd"
ACL_FILE = "acl"


@dataclass(frozen=True, slots=True)
class IngestAccounts:
    """Ingest's MQTT accounts: one username per session (= its client id), one password shared by all."""

    usernames: tuple[str, ...]
    password: str = field(repr=False)


@dataclass(frozen=True, slots=True)
class BrokerAuthFiles:
    """What an export wrote, and the gateways left out of it (with why)."""

    password_file: Path
    acl_file: Path
    gateways: int
    skipped: tuple[str, ...] = ()


def render_password_file(ingest_usernames: Iterable[str], ingest_hash: str,
                         gateways: Iterable[StoredCredentials]) -> str:
    """mosquitto's password file: `user:$7$...` per line, ingest's accounts first."""
    lines = [f"{u}:{ingest_hash}" for u in ingest_usernames]
    lines += [f"{g.username}:{g.password_hash}" for g in gateways]
    return "\n".join(lines) + "\n"


def render_acl(ingest_usernames: Iterable[str], gateways: Iterable[StoredCredentials]) -> str:
    """mosquitto's acl_file: one `user` section per account, nothing for anonymous or unlisted users."""
    out = ["# Written by `telecare devices mqtt-acl` from the registry: do not edit; regenerate after",
           "# registering gateways or rotating credentials, then reload mosquitto (SIGHUP).",
           "# A user with no `topic` line may neither publish nor subscribe; `read` is never given to a",
           "# gateway, so no gateway can subscribe to anything ($share/... and ingest's subtree included).",
           "",
           "# The broker replaces every client id by its username (use_username_as_clientid), so each",
           "# account below has exactly one session: its own.",
           ""]
    for u in ingest_usernames:
        out += [f"# ingest's session {u}: reads every gateway's subtree; publishes nothing.",
                f"user {u}", f"topic read {TOPIC_ROOT}/#", ""]
    out.pop()
    for g in gateways:
        out += ["", f"# gateway {g.gateway_id}: publishes under its own subtree only (status included).",
                f"user {g.username}", f"topic write {TOPIC_ROOT}/{g.gateway_id}/#"]
    return "\n".join(out) + "\n"


def write_private(path: Path, text: str) -> None:
    """Write atomically (a broker reloading mid-write never reads half a file), mode 0600 from the start."""
    tmp = path.with_name(f".{path.name}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(text)
    os.chmod(tmp, 0o600)
    os.replace(tmp, path)


def check_ingest_username(username: str) -> str:
    """`username` if it can be one of ingest's accounts (mosquitto's charset, the reserved prefix); else ConfigError."""
    if not USERNAME.match(username) or not username.startswith(RESERVED_PREFIX):
        raise ConfigError(f"ingest's MQTT username {username!r} (its session's client id, from TELECARE_MQTT_CLIENT_ID)"
                          f" must start with '{RESERVED_PREFIX}' and use letters, digits, '_', '.' or '-' only, at"
                          " most 64 characters")
    return username


def write_broker_auth(out_dir: Path, ingest: IngestAccounts, gateways: Iterable[StoredCredentials]) -> BrokerAuthFiles:
    """Write `passwd` and `acl` into `out_dir`; gateways named inside ingest's reserved prefix are left out."""
    usernames = tuple(dict.fromkeys(check_ingest_username(u) for u in ingest.usernames))
    if not usernames:
        raise ConfigError("no ingest account to write: ingest could not read anything")
    kept, skipped = [], []
    for g in gateways:
        if is_reserved(g.username):  # registered before the reservation: it could take over ingest's sessions
            skipped.append(f"{g.gateway_id}: its username is in ingest's reserved '{RESERVED_PREFIX}' names")
            continue
        kept.append(g)
    out_dir.mkdir(parents=True, exist_ok=True)
    passwd, acl = out_dir / PASSWORD_FILE, out_dir / ACL_FILE
    write_private(passwd, render_password_file(usernames, mosquitto_hash(ingest.password), kept))
    write_private(acl, render_acl(usernames, kept))
    return BrokerAuthFiles(passwd, acl, len(kept), tuple(skipped))


def load_or_create_password(path: Path) -> str:
    """Ingest's password for the embedded broker: read from `path`, or generated there once (mode 0600)."""
    if path.exists():
        doc = json.loads(path.read_text())
        if doc.get("password"):  # files from before the per-session accounts also name a username: ignored
            return doc["password"]
    password = new_mqtt_password()
    path.parent.mkdir(parents=True, exist_ok=True)
    write_private(path, json.dumps({"password": password}) + "\n")
    return password
