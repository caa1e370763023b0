"""The compose's mosquitto (deploy/mosquitto/run.sh + mosquitto.conf, as the `mosquitto` service mounts them) with
make-secrets.sh's certificate and the accounts `mqtt-auth` writes: TLS for gateways, only known accounts."""
from __future__ import annotations

import shutil
import subprocess
import uuid
from datetime import datetime, timezone
from pathlib import Path

import pytest

from devices.credentials import StoredCredentials, mosquitto_hash, new_mqtt_password
from devices.mqtt_acl import IngestAccounts, write_broker_auth
from ingest.service import session_ids
from telecare.mqtt import MqttSubscriber
from tests import compose_spec as cs
from tests.compose_native import NativeBroker, mqtt_connect, mqtt_publish_qos1, need
from tests.conftest import eventually

pytestmark = pytest.mark.integration
SERVICES = cs.services(cs.load())


def _ingest_accounts(password: str) -> IngestAccounts:
    ids = SERVICES["mqtt-auth"]["environment"]["TELECARE_MQTT_INGEST_CLIENT_IDS"].split(",")
    return IngestAccounts(tuple(u for i in ids for u in session_ids(i)), password)


async def test_the_compose_broker_takes_gateways_over_tls_and_only_known_accounts(tmp_root: Path) -> None:
    need("mosquitto")
    root = tmp_root / f"compose-mqtt-{uuid.uuid4().hex[:6]}"
    secrets = cs.make_secrets(root / "secrets")
    password = cs.read_env_file(secrets / "telecare.env")["TELECARE_MQTT_PASSWORD"]
    broker = NativeBroker(root)
    gw_password = new_mqtt_password()
    gateway = StoredCredentials("gw-c1", "gw-c1", mosquitto_hash(gw_password), datetime.now(timezone.utc))
    write_broker_auth(broker.config_dir, _ingest_accounts(password), [gateway])
    shutil.copytree(secrets / "certs", broker.config_dir / "certs")
    broker.start()
    got: list = []
    try:
        await eventually(broker.answers, timeout=10)  # what the compose healthcheck waits for
        if shutil.which("mosquitto_sub"):  # in the image; here only with mosquitto-clients installed
            assert subprocess.run(_broker_healthcheck(broker.port)).returncode == 0
        assert mqtt_connect(broker.port, None, None)[0] == 5  # anonymous: refused
        assert mqtt_connect(broker.port, "telecare-ingest-1", "wrong")[0] == 5
        # Ingest's account, with the password from the generated telecare.env, on the private listener.
        sub = MqttSubscriber(broker.url, "telecare-ingest-1", [("telecare/v1/#", 1)], got.append,
                             persistent=False, username="telecare-ingest-1", password=password)
        await sub.start()
        try:
            # The gateway over TLS with the private CA (the certificate verifies for "localhost"): its own topics
            # reach ingest; another gateway's are acknowledged (MQTT 3.1.1) but dropped by the ACL.
            code, sock = mqtt_connect(broker.tls_port, "gw-c1", gw_password, cafile=secrets / "certs" / "ca.crt")
            assert code == 0
            mqtt_publish_qos1(sock, "telecare/v1/gw-other/pd-1/help_button", b'{"msg_id":"spoofed"}', 1)
            mqtt_publish_qos1(sock, "telecare/v1/gw-c1/pd-1/help_button", b'{"msg_id":"own"}', 2)
            sock.close()
            await eventually(lambda: [m.topic for m in got] == ["telecare/v1/gw-c1/pd-1/help_button"], timeout=5)
            assert mqtt_connect(broker.tls_port, "gw-c1", "wrong", cafile=secrets / "certs" / "ca.crt")[0] == 5
            # A plain-text client on the TLS port gets no CONNACK.
            with pytest.raises((ConnectionError, OSError, AssertionError)):
                mqtt_connect(broker.tls_port, "telecare-ingest-2", password)
        finally:
            await sub.stop()
    finally:
        code = broker.stop()
    assert code == 0
    if shutil.which("mosquitto_sub"):  # and it fails once the broker is gone
        assert subprocess.run(_broker_healthcheck(broker.port)).returncode != 0


def _broker_healthcheck(port: int) -> list[str]:
    """The compose's mosquitto healthcheck (CMD-SHELL), pointed at the local port."""
    kind, script = SERVICES["mosquitto"]["healthcheck"]["test"]
    assert kind == "CMD-SHELL" and "-p 1883 " in script
    return ["sh", "-c", script.replace("-p 1883 ", f"-p {port} ")]
