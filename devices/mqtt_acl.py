"""The broker's password file and ACL, from the registry's gateway credentials and ingest's own account.

Pure rendering plus the file writes: `telecare devices mqtt-acl -o DIR` and the embedded broker use it.
A gateway may publish only under `telecare/v1/<its id>/#` (its status topic included) and read nothing;
ingest's account reads `telecare/v1/#` and publishes nothing; anonymous clients are refused by the
broker config (`allow_anonymous false`), not here.
"""
from __future__ import annotations

import json
import os
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from devices.credentials import StoredCredentials, USERNAME, mosquitto_hash, new_mqtt_password
from telecare.errors import ConfigError

TOPIC_ROOT = "telecare/v1"
PASSWORD_FILE = "passwd"
ACL_FILE = "acl"
DEFAULT_INGEST_USERNAME = "telecare-ingest"


@dataclass(frozen=True, slots=True)
class MqttAccount:
    """A username and its plaintext password (ingest's account: it must log in with it)."""

    username: str
    password: str


@dataclass(frozen=True, slots=True)
class BrokerAuthFiles:
    """What an export wrote, and the gateways left out of it (with why)."""

    password_file: Path
    acl_file: Path
    gateways: int
    skipped: tuple[str, ...] = ()


def render_password_file(ingest_username: str, ingest_hash: str, gateways: Iterable[StoredCredentials]) -> str:
    """mosquitto's password file: `user:$7$...` per line, ingest first."""
    lines = [f"{ingest_username}:{ingest_hash}"]
    lines += [f"{g.username}:{g.password_hash}" for g in gateways]
    return "\n".join(lines) + "\n"


def render_acl(ingest_username: str, gateways: Iterable[StoredCredentials]) -> str:
    """mosquitto's acl_file: one `user` section per account, nothing for anonymous or unlisted users."""
    out = ["# Written by `telecare devices mqtt-acl` from the registry: do not edit; regenerate after",
           "# registering gateways or rotating credentials, then reload mosquitto (SIGHUP).",
           "# A user with no `topic` line may neither publish nor subscribe; `read` is never given to a",
           "# gateway, so no gateway can subscribe to anything ($share/... and ingest's subtree included).",
           "",
           "# ingest: reads every gateway's subtree; publishes nothing.",
           f"user {ingest_username}",
           f"topic read {TOPIC_ROOT}/#"]
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


def write_broker_auth(out_dir: Path, ingest: MqttAccount, gateways: Iterable[StoredCredentials]) -> BrokerAuthFiles:
    """Write `passwd` and `acl` into `out_dir`; gateways whose username clashes with ingest's are left out."""
    if not USERNAME.match(ingest.username):
        raise ConfigError("TELECARE_MQTT_USERNAME: letters, digits, '_', '.' or '-' only (no ':'), at most 64")
    kept, skipped = [], []
    for g in gateways:
        if g.username == ingest.username:
            skipped.append(f"{g.gateway_id}: its username is taken by ingest's account")
            continue
        kept.append(g)
    out_dir.mkdir(parents=True, exist_ok=True)
    passwd, acl = out_dir / PASSWORD_FILE, out_dir / ACL_FILE
    write_private(passwd, render_password_file(ingest.username, mosquitto_hash(ingest.password), kept))
    write_private(acl, render_acl(ingest.username, kept))
    return BrokerAuthFiles(passwd, acl, len(kept), tuple(skipped))


def load_or_create_account(path: Path, username: str = DEFAULT_INGEST_USERNAME) -> MqttAccount:
    """Ingest's account for the embedded broker: read from `path`, or generated there once (mode 0600)."""
    if path.exists():
        doc = json.loads(path.read_text())
        if doc.get("username") == username and doc.get("password"):
            return MqttAccount(doc["username"], doc["password"])
    account = MqttAccount(username, new_mqtt_password())
    path.parent.mkdir(parents=True, exist_ok=True)
    write_private(path, json.dumps({"username": account.username, "password": account.password}) + "\n")
    return account
