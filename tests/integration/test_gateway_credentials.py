"""Gateway MQTT credentials: issued once at registration (registry, import, API), stored only as mosquitto's
hash, rotated and exported by the CLI."""
from __future__ import annotations

import os
import subprocess
import sys
from datetime import datetime, timezone
from pathlib import Path

import httpx
import pytest
from fastapi import FastAPI

from dashboards.errors import install_error_handlers
from dashboards.routes.devices import router
from devices.credentials import GatewayCredentials, verify_mosquitto_hash
from devices.importer import import_file
from devices.registry import Registry
from telecare.clock import FakeClock
from telecare.errors import InvalidInput
from telecare.people import Device, DeviceType, Resident
from alerts.store import AlertStore
from telecare.bus import InProcessBus
from tests.web_helpers import api_client, app_with


async def _all_text(db) -> str:
    rows = await db.fetch("SELECT * FROM gateway_credentials")
    return repr(rows)


async def test_a_gateway_gets_credentials_once_and_only_their_hash_is_stored(db) -> None:
    registry = Registry(db)
    await registry.upsert_resident(Resident(id="r-1", name="Resident one"))
    first = await registry.register(Device("gw-1", DeviceType.GATEWAY, "gw-1", "r-1"))
    assert first.created and first.credentials is not None and first.credentials.username == "gw-1"
    again = await registry.register(Device("gw-1", DeviceType.GATEWAY, "gw-1", "r-1"))
    assert not again.created and again.credentials is None  # re-registering shows nothing again
    pendant = await registry.register(Device("pd-1", DeviceType.PENDANT, "gw-1", "r-1"))
    assert pendant.credentials is None  # only gateways log in to the broker
    stored = await GatewayCredentials(db).get("gw-1")
    assert stored is not None and stored.password_hash.startswith("$7$101$")
    assert verify_mosquitto_hash(stored.password_hash, first.credentials.password)
    assert first.credentials.password not in await _all_text(db)

    rotated = await GatewayCredentials(db).rotate("gw-1", datetime.now(timezone.utc))
    now_stored = await GatewayCredentials(db).get("gw-1")
    assert not verify_mosquitto_hash(now_stored.password_hash, first.credentials.password)
    assert verify_mosquitto_hash(now_stored.password_hash, rotated.password)


async def test_an_import_issues_each_new_gateway_its_login_and_never_logs_it(db, tmp_path: Path, caplog) -> None:
    fleet = tmp_path / "fleet.yaml"
    fleet.write_text("residents:\n  - {id: r-1, name: One}\n  - {id: r-2, name: Two}\n"
                     "gateways:\n  - {id: gw-1, resident_id: r-1}\n  - {id: gw-2, resident_id: r-2}\n"
                     "devices:\n  - {id: pd-1, type: pendant, gateway_id: gw-1}\n")
    caplog.set_level("DEBUG")
    report = await import_file(Registry(db), fleet)
    logins = {c.gateway_id: c for c in report.credentials}
    assert set(logins) == {"gw-1", "gw-2"}
    text = report.credentials_text()
    assert all(f"{g}  username {g}  password {c.password}" in text for g, c in logins.items())
    assert not any(c.password in caplog.text or c.password in repr(report) for c in logins.values())
    assert (await import_file(Registry(db), fleet)).credentials == ()  # re-import: nothing new to show
    for gw, login in logins.items():
        assert verify_mosquitto_hash((await GatewayCredentials(db).get(gw)).password_hash, login.password)


async def test_the_registry_api_answers_a_new_gateway_with_its_password_once(db) -> None:
    clock, bus = FakeClock(datetime(2026, 11, 22, 10, tzinfo=timezone.utc)), InProcessBus()
    app = app_with(db, bus, AlertStore(db, bus), clock, [router(Registry(db), clock)])  # policy, auth, error map
    async with api_client(app, role="admin") as client:  # admins register residents and gateways
        await client.post("/api/residents", json={"id": "r-1", "name": "One"})
        body = {"id": "gw-1", "type": "gateway", "resident_id": "r-1"}
        first = await client.post("/api/devices", json=body)
        assert first.status_code == 201 and first.headers["cache-control"] == "no-store"
        login = first.json()["mqtt"]
        assert login["username"] == "gw-1" and len(login["password"]) >= 32
        again = await client.post("/api/devices", json=body)
        assert again.status_code == 200 and "mqtt" not in again.json()
        pendant = await client.post("/api/devices", json={"id": "pd-1", "type": "pendant", "gateway_id": "gw-1",
                                                                 "resident_id": "r-1"})
        assert pendant.status_code == 201 and "mqtt" not in pendant.json()
    stored = await GatewayCredentials(db).get("gw-1")
    assert verify_mosquitto_hash(stored.password_hash, login["password"])


def _cli(*args: str, db_url: str) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if not k.startswith("TELECARE_")}
    env.update(TELECARE_LOG_LEVEL="WARNING", TELECARE_DATABASE_URL=db_url, TELECARE_MQTT_CLIENT_ID="telecare-ingest-x",
               TELECARE_MQTT_PASSWORD="ingest-secret")
    return subprocess.run([sys.executable, "-m", "entrypoints.cli", "devices", *args], env=env,
                          capture_output=True, text=True, timeout=120)


async def test_cli_rotates_a_gateways_password_and_exports_the_broker_files(db, db_url, tmp_path: Path) -> None:
    registry = Registry(db)
    await registry.upsert_resident(Resident(id="r-1", name="One"))
    await registry.register(Device("gw-1", DeviceType.GATEWAY, "gw-1", "r-1"))
    await registry.register(Device("pd-1", DeviceType.PENDANT, "gw-1", "r-1"))
    shown = _cli("credentials", "gw-1", db_url=db_url)
    assert shown.returncode == 0 and "username gw-1" in shown.stdout and "password" not in shown.stdout.split()
    rotated = _cli("credentials", "gw-1", "--rotate", db_url=db_url)
    assert rotated.returncode == 0, rotated.stderr[-2000:]
    password = rotated.stdout.split()[-1]
    assert verify_mosquitto_hash((await GatewayCredentials(db).get("gw-1")).password_hash, password)
    for wrong in ("pd-1", "gw-404"):
        refused = _cli("credentials", wrong, "--rotate", db_url=db_url)
        assert refused.returncode == 2 and "Traceback" not in refused.stderr

    exported = _cli("mqtt-acl", "-o", str(tmp_path / "broker"), db_url=db_url)
    assert exported.returncode == 0, exported.stderr[-2000:]
    passwd = (tmp_path / "broker" / "passwd").read_text().splitlines()
    acl = (tmp_path / "broker" / "acl").read_text()
    # One account per ingest session (username = client id), then the gateways.
    assert [line.split(":")[0] for line in passwd] == ["telecare-ingest-x-alarms", "telecare-ingest-x", "gw-1"]
    assert verify_mosquitto_hash(passwd[2].split(":", 1)[1], password)
    assert all(verify_mosquitto_hash(line.split(":", 1)[1], "ingest-secret") for line in passwd[:2])
    assert "user gw-1\ntopic write telecare/v1/gw-1/#" in acl
    for session in ("telecare-ingest-x-alarms", "telecare-ingest-x"):
        assert f"user {session}\ntopic read telecare/v1/#" in acl
    assert "read" not in acl.split("user gw-1", 1)[1]
    assert (tmp_path / "broker" / "passwd").stat().st_mode & 0o777 == 0o600


async def test_a_gateway_named_like_ingests_accounts_is_refused_and_nothing_is_stored(db) -> None:
    """The broker makes each client id its username: a gateway `telecare-ingest-1` would own ingest's session."""
    registry = Registry(db)
    await registry.upsert_resident(Resident(id="r-1", name="Resident one"))
    with pytest.raises(InvalidInput, match="reserved for ingest"):
        await registry.register(Device("telecare-ingest-1", DeviceType.GATEWAY, "telecare-ingest-1", "r-1"))
    assert await db.fetchval("SELECT count(*) FROM devices") == 0
    assert await db.fetchval("SELECT count(*) FROM gateway_credentials") == 0
