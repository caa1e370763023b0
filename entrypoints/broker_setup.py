"""The MQTT broker side of start-up: ingest's account, the broker's password file and ACL, the embedded broker."""
from __future__ import annotations

import logging
from pathlib import Path
from typing import TYPE_CHECKING

from telecare.settings import Settings

if TYPE_CHECKING:
    from entrypoints.bootstrap import Core

log = logging.getLogger(__name__)


def check_mqtt_port(settings: Settings) -> None:
    """Refuse a taken port for the embedded broker (else we would silently talk to whoever holds it)."""
    from demo.broker import ensure_port_free

    ensure_port_free(settings.mqtt_port)


INGEST_ACCOUNT_FILE = "ingest-account.json"  # in <data-dir>/mqtt, for the embedded broker


def generated_ingest_password(settings: Settings) -> str:
    """Ingest's password generated once into <data-dir>/mqtt/ingest-account.json (0600)."""
    from devices.mqtt_acl import load_or_create_password

    return load_or_create_password(settings.data_dir / "mqtt" / INGEST_ACCOUNT_FILE)


def ingest_password(settings: Settings) -> str | None:
    """Ingest's MQTT password (each session logs in as its client id): TELECARE_MQTT_PASSWORD, else (embedded
    broker) the generated one; None for an external broker without it (the URL's user:pass, or anonymous)."""
    if settings.mqtt_password:
        return settings.mqtt_password
    return None if settings.mqtt_url else generated_ingest_password(settings)


async def write_broker_auth(core: Core, out_dir: Path | None = None):
    """Write the broker's password file and ACL from the registry (-> BrokerAuthFiles); skips are logged."""
    from devices.credentials import GatewayCredentials
    from devices.mqtt_acl import IngestAccounts, write_broker_auth as write
    from ingest.service import session_ids

    s = core.settings
    usernames = tuple(u for cid in s.ingest_client_ids for u in session_ids(cid))
    account = IngestAccounts(usernames, ingest_password(s) or generated_ingest_password(s))
    files = write(out_dir or s.data_dir / "mqtt", account, await GatewayCredentials(core.db).all())
    for reason in files.skipped:
        log.warning("gateway left out of the MQTT password file: %s", reason)
    return files


async def start_broker(core: Core) -> str:
    """TELECARE_MQTT_URL, or an embedded broker on settings.mqtt_port with the registry's accounts and ACL."""
    settings = core.settings
    if settings.mqtt_url:
        return settings.mqtt_url
    from demo.broker import EmbeddedBroker

    files = await write_broker_auth(core)
    broker = EmbeddedBroker(settings.data_dir / "mqtt", settings.mqtt_port,
                            auth=(files.password_file, files.acl_file))
    url = broker.start()
    core.stack.callback(broker.stop)
    return url
