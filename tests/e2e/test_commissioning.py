"""An installer registers and commissions a home in Chromium while a real gateway publishes over MQTT.

Real parts: PostgreSQL, mosquitto with accounts and ACL (the gateway logs in with the password the page showed
once, after the broker reloads the exported password file), ingest storing and dead-lettering, the app served
by uvicorn. Three of four devices report; a bad payload shows in the rejected list with its plain reason;
finishing names the door sensor; the operator sees the installation test as a test and closes it in one click.
"""
from __future__ import annotations

import json
import uuid
from datetime import datetime, timezone

import pytest

from alerts.store import AlertStore
from dashboards.routes.commissioning import router as commissioning_router
from dashboards.routes.devices import router as devices_router
from dashboards.routes.fleet import router as fleet_router
from demo.broker import EmbeddedBroker, free_port
from devices.credentials import GatewayCredentials
from devices.mqtt_acl import IngestAccounts, write_broker_auth
from devices.registry import Registry
from ingest.service import IngestService, session_ids
from ingest.topics import device_topic, status_topic
from telecare.bus import InProcessBus
from telecare.clock import SystemClock
from telecare.mqtt import MqttPublisher
from tests.conftest import eventually, unavailable
from tests.e2e.browser import browser_page, insert_resident, serve
from tests.web_helpers import app_with, sign_in_browser

pytestmark = pytest.mark.e2e
INGEST_ID = "telecare-ingest-commissioning"
INGEST = IngestAccounts(session_ids(INGEST_ID), "ingest-password-for-commissioning")
PHONE, NAME, HOME = "+34600999888", "Teresa Camps Bosch", "Carrer de Sants 200, 4t 1a, Barcelona"


def payload(msg_id: str, **extra: object) -> bytes:
    return json.dumps({"msg_id": msg_id, "ts": datetime.now(timezone.utc).isoformat(), **extra}).encode()


async def test_an_installer_commissions_a_home_while_the_gateway_publishes(db, tmp_root):
    await insert_resident(db, "r-com", NAME, address=HOME, phones=[PHONE])
    bus, clock = InProcessBus(), SystemClock()
    alerts, registry = AlertStore(db, bus), Registry(db)
    auth_dir = tmp_root / f"com-{uuid.uuid4().hex[:6]}"
    files = write_broker_auth(auth_dir / "auth", INGEST, await GatewayCredentials(db).all())
    broker = EmbeddedBroker(auth_dir / "mqtt", free_port(), auth=(files.password_file, files.acl_file))
    try:
        url = broker.start()
    except Exception as err:  # noqa: BLE001
        unavailable(f"embedded MQTT broker failed to start: {err}")
    if broker.kind != "mosquitto":
        broker.stop()
        unavailable("mosquitto is not installed (the amqtt fallback enforces no accounts)")
    ingest = IngestService(url, db, bus, registry, clock, client_id=INGEST_ID, batch_ms=10,
                           mqtt_password=INGEST.password)
    await ingest.start()
    app = app_with(db, bus, alerts, clock, [devices_router(registry, clock),
                                           commissioning_router(db, alerts, clock, poll_seconds=0.3),
                                           fleet_router(db, clock)])
    gateway = None
    try:
        async with serve(app) as base, browser_page() as page:
            from playwright.async_api import expect

            errors: list[str] = []
            page.on("pageerror", lambda err: errors.append(str(err)))
            await sign_in_browser(page, base, app, ["installer"], name="ivan-installer")
            await page.goto(base + "/devices")
            await page.fill("#gw-id", "gw-com")
            await page.fill("#gw-serial", "SN-COM-1")
            await page.fill("#gw-resident", "r-com")
            await page.fill("#gw-rooms", "Bedroom, Hall")
            await page.click("#register-form button[type=submit]")
            await expect(page.locator("#mqtt-login")).to_be_visible()
            password = await page.locator("#mqtt-password").text_content()
            assert await page.locator("#mqtt-username").text_content() == "gw-com" and len(password) >= 24
            await page.click("#mqtt-next")
            await expect(page.locator("#gateway-address")).to_have_text(HOME)  # the resident's, none typed
            for sid, kind, room in (("pd-com", "pendant", "Bedroom"), ("mo-com", "motion_sensor", "Hall"),
                                    ("dr-com", "door_sensor", "Hall")):
                await page.fill("#sensor-id", sid)
                await page.select_option("#sensor-type", kind)
                await page.fill("#sensor-serial", f"SN-{sid}")
                await page.select_option("#sensor-room", room)
                await page.click("#sensor-form button[type=submit]")
                await expect(page.locator(f'#sensor-rows tr[data-device-id="{sid}"]')).to_be_visible()
            # The broker learns the new account from the exported files (as `telecare devices mqtt-acl` + SIGHUP).
            write_broker_auth(auth_dir / "auth", INGEST, await GatewayCredentials(db).all())
            broker.reload()

            await page.click("#commission-start")
            await expect(page.locator("#commission-live")).to_have_attribute("data-live", "on")
            await expect(page.locator('#checklist li[data-device-id="pd-com"] .prompt')).to_have_text(
                "Press the pendant's button now")
            await expect(page.locator('#checklist li[data-reported="true"]')).to_have_count(0)

            async def gateway_online() -> bool:
                nonlocal gateway
                try:
                    gateway = MqttPublisher(url, "gw-com", username="gw-com", password=password)
                    await gateway.connect()
                    return True
                except Exception:  # noqa: BLE001 - refused until mosquitto has reloaded its password file
                    gateway = None
                    return False
            await eventually(gateway_online, timeout=15)
            await gateway.publish(status_topic("gw-com"), b"online", retain=True)
            await gateway.publish(device_topic("gw-com", "pd-com", "help_button"), payload("t-1", battery=88))
            await gateway.publish(device_topic("gw-com", "mo-com", "motion"), payload("t-2", battery=64))
            await gateway.publish(device_topic("gw-com", "dr-com", "door_open"), b'{"msg_id": "t-3", ')  # cut short

            for device in ("gw-com", "pd-com", "mo-com"):
                await expect(page.locator(f'#checklist li[data-device-id="{device}"]')).to_have_attribute(
                    "data-reported", "true", timeout=15000)
            await expect(page.locator('#checklist li[data-device-id="dr-com"]')).to_have_attribute("data-reported",
                                                                                                  "false")
            rejected = page.locator('#rejected-rows tr[data-reason="invalid_json"]')
            await expect(rejected).to_contain_text("The message was not valid JSON")
            await expect(page.locator("#commission-progress")).to_have_text("3 of 4 devices reported")

            await page.click("#commission-finish")
            await expect(page.locator('#commission-result [data-missing="dr-com"]')).to_contain_text("dr-com")
            await expect(page.locator("#commission-result [data-missing]")).to_have_count(1)
            await expect(page.locator('#sensor-rows tr[data-device-id="pd-com"] [data-commissioned]')).to_have_text("Yes")
            await expect(page.locator('#sensor-rows tr[data-device-id="dr-com"] [data-commissioned]')).to_have_text("No")
            shown = await page.content()
            assert PHONE not in shown and NAME not in shown and not errors, errors

            # The operator's queue shows the installation test as a test and closes it in one click.
            await sign_in_browser(page, base, app, ["operator"], name="olga-operator")
            await page.goto(base + "/")
            row = page.locator('#queue-body tr[data-test="true"]')
            await expect(row).to_have_count(1)
            await expect(row.locator("[data-test-badge]")).to_have_text("Test")
            await expect(row.locator('[data-action="acknowledge"]')).to_have_count(0)
            await row.locator('[data-action="close-test"]').click()
            await expect(page.locator('#queue-body tr[data-test="true"]')).to_have_count(0)
        closed = await db.fetchrow("SELECT type, severity, status, resolved_by FROM alerts WHERE type = 'installation_test'")
        assert dict(closed) == {"type": "installation_test", "severity": "technical", "status": "resolved",
                                "resolved_by": "olga-operator"}
    finally:
        if gateway is not None:
            await gateway.disconnect()
        await ingest.stop()
        broker.stop()
