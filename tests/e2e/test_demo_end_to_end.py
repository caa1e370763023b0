"""The README's `telecare demo`, started as a user starts it: MQTT in, alert out via the API and the live stream."""
from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import time
from datetime import datetime, timezone
from pathlib import Path

import httpx
import pytest

from demo.broker import free_port
from telecare.mqtt import MqttPublisher
from tests.conftest import eventually, unavailable

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory):
    """A running `telecare demo --no-simulator` with its own data dir and ports."""
    data_dir = tmp_path_factory.mktemp("demo")
    http_port, mqtt_port = free_port(), free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("TELECARE_")}
    env["TELECARE_LOG_LEVEL"] = "WARNING"
    env["TELECARE_ESCALATION_SECOND_TIER_S"] = "10"  # the shortest allowed, so the test sees a step
    log_path = data_dir / "demo.log"
    with open(log_path, "wb") as log:
        proc = subprocess.Popen(
            [sys.executable, "-m", "entrypoints.cli", "demo", "--no-simulator", "--residents", "6",
             "--http-port", str(http_port), "--mqtt-port", str(mqtt_port), "--data-dir", str(data_dir)],
            stdout=log, stderr=subprocess.STDOUT, env=env,
        )
    base = f"http://127.0.0.1:{http_port}"
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            pytest.fail(f"telecare demo exited with {proc.returncode}:\n{log_path.read_text()[-4000:]}")
        try:
            if httpx.get(f"{base}/healthz", timeout=1).status_code == 200:
                break
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    else:
        proc.kill()
        unavailable(f"telecare demo did not become healthy:\n{log_path.read_text()[-4000:]}")
    _sign_in_demo_logins(base, data_dir)
    yield {"base": base, "mqtt": f"mqtt://127.0.0.1:{mqtt_port}", "proc": proc, "log": log_path,
           "data_dir": data_dir}
    if proc.poll() is None:
        proc.kill()


SIGNED: dict[str, dict[str, dict]] = {}  # base URL -> role -> httpx client options


def _sign_in_demo_logins(base: str, data_dir) -> None:
    """Sign in with the operator login the demo printed (demo-users.json) and use its admin token (demo-token)."""
    users = json.loads((data_dir / "demo-users.json").read_text())
    login = httpx.post(f"{base}/api/session", json={"name": "operator", "password": users["operator"]["password"]},
                       timeout=10)
    assert login.status_code == 200 and login.json()["landing"] == "/", login.text
    token = (data_dir / "demo-token").read_text().strip()
    SIGNED[base] = {"operator": {"cookies": dict(login.cookies), "headers": {"X-CSRF-Token": login.json()["csrf_token"]}},
                    "admin": {"headers": {"Authorization": f"Bearer {token}"}}}


def who(base: str, role: str = "operator") -> dict:
    """httpx.AsyncClient options of a demo login."""
    return SIGNED[base][role]


def _payload(msg_id: str, **extra) -> bytes:
    return json.dumps({"msg_id": msg_id, "ts": datetime.now(timezone.utc).isoformat(), **extra}).encode()


async def _first_device(base: str, device_type: str) -> dict:
    async with httpx.AsyncClient(base_url=base, **who(base, "admin")) as client:
        devices = (await client.get("/api/devices")).json()
    return next(d for d in devices if d["type"] == device_type)


async def _open_alerts(base: str) -> list[dict]:
    async with httpx.AsyncClient(base_url=base, **who(base)) as client:
        return (await client.get("/api/alerts", params={"status": "open"})).json()


async def test_help_press_over_mqtt_becomes_one_live_alert(demo):
    base = demo["base"]
    pendant = await _first_device(base, "pendant")
    seen: list[dict] = []

    async def read_stream() -> None:
        async with httpx.AsyncClient(base_url=base, timeout=None, **who(base)) as client:
            async with client.stream("GET", "/api/alerts/stream") as resp:
                async for line in resp.aiter_lines():
                    if line.startswith("data:"):
                        seen.append(json.loads(line[5:]))

    reader = asyncio.create_task(read_stream())
    publisher = _as_gateway(demo, pendant["gateway_id"], "e2e-gateway-sim")
    await publisher.connect()
    try:
        topic = f"telecare/v1/{pendant['gateway_id']}/{pendant['id']}/help_button"
        await publisher.publish(topic, _payload("e2e-help-1"))
        await publisher.publish(topic, _payload("e2e-help-1"))  # a redelivery: a duplicate, not a second incident

        def help_alert(alerts):
            return [a for a in alerts if a["resident_id"] == pendant["resident_id"] and a["type"] == "help_button"]

        found = await eventually(lambda: _matching(base, help_alert), timeout=15)
        assert len(found) == 1 and found[0]["severity"] == "critical" and found[0]["count"] == 1

        def streamed():
            return [m for m in seen if _alert_of(m).get("id") == found[0]["id"]]

        await eventually(streamed, timeout=10)
    finally:
        reader.cancel()
        await publisher.disconnect()


def _as_gateway(demo, gateway_id: str, client_id: str) -> MqttPublisher:
    """A publisher logged in as that home's gateway, with the login the demo wrote for test tools."""
    login = json.loads((demo["data_dir"] / "demo-gateways.json").read_text())[gateway_id]
    return MqttPublisher(demo["mqtt"], client_id, username=login["username"], password=login["password"])


async def _matching(base, select):
    return select(await _open_alerts(base))


def _alert_of(message: dict) -> dict:
    if "alert" in message:
        return message["alert"]
    return message


async def test_bad_input_is_counted_and_harmless(demo):
    base = demo["base"]
    pendant = await _first_device(base, "pendant")
    publisher = _as_gateway(demo, pendant["gateway_id"], "e2e-bad-input")
    await publisher.connect()
    try:
        gw, dev = pendant["gateway_id"], pendant["id"]
        await publisher.publish(f"telecare/v1/{gw}/{dev}/help_button", b"{not json")
        await publisher.publish(f"telecare/v1/{gw}/no-such-device/fall", _payload("e2e-bad-2"))
        await publisher.publish(f"telecare/v1/{gw}/{dev}/explode", _payload("e2e-bad-3"))
        # After the bad ones, a good one still goes through.
        await publisher.publish(f"telecare/v1/{gw}/{dev}/fall", _payload("e2e-good-4"))
    finally:
        await publisher.disconnect()

    async def rejected_count() -> float:
        async with httpx.AsyncClient(base_url=base, **who(base)) as client:
            text = (await client.get("/metrics")).text
        for line in text.splitlines():
            if line.startswith('telecare_ingest_messages_total{result="rejected"}'):
                return float(line.split()[-1])
        return 0.0

    assert await eventually(lambda: _ge(rejected_count(), 3), timeout=15)
    falls = await eventually(lambda: _matching(base, lambda a: [x for x in a if x["type"] == "fall"
                                                                and x["resident_id"] == pendant["resident_id"]]))
    assert len(falls) == 1
    assert demo["proc"].poll() is None


async def _ge(value_coro, minimum: float) -> bool:
    return (await value_coro) >= minimum


async def test_unacknowledged_alert_escalates_and_the_operator_sees_it(demo):
    from tests.e2e.browser import browser_page

    base = demo["base"]
    pendant = (await _devices(base, "pendant"))[1]
    publisher = _as_gateway(demo, pendant["gateway_id"], "e2e-escalation")
    await publisher.connect()
    try:
        await publisher.publish(f"telecare/v1/{pendant['gateway_id']}/{pendant['id']}/help_button",
                                _payload("e2e-esc-1"))
    finally:
        await publisher.disconnect()
    [alert] = await eventually(lambda: _matching(base, lambda a: [
        x for x in a if x["resident_id"] == pendant["resident_id"] and x["type"] == "help_button"]), timeout=15)

    async def second_tier():
        async with httpx.AsyncClient(base_url=base, **who(base)) as client:
            rows = (await client.get("/api/escalations", params={"alert_id": alert["id"]})).json()
        return [r for r in rows if r["escalated_tier"] >= 2]

    await eventually(second_tier, timeout=30, interval=0.5)
    async with browser_page() as page:
        await page.context.add_cookies([{"name": k, "value": v, "url": base}
                                         for k, v in who(base)["cookies"].items()])
        await page.goto(base + "/")
        badge = page.locator(f'tr[data-alert-id="{alert["id"]}"] .badge.escalated')
        await badge.wait_for(timeout=10_000)
        assert await badge.get_attribute("data-escalation") == "second_tier"
        assert await badge.inner_text() == "Segon nivell"  # the demo speaks the service's default language, Catalan
    async with httpx.AsyncClient(base_url=base, **who(base)) as client:
        still = (await client.get("/api/alerts", params={"status": "open"})).json()
    assert any(a["id"] == alert["id"] for a in still), "escalation never acknowledges or closes an alert"


async def _devices(base: str, device_type: str) -> list[dict]:
    async with httpx.AsyncClient(base_url=base, **who(base, "admin")) as client:
        return [d for d in (await client.get("/api/devices")).json() if d["type"] == device_type]


def test_ctrl_c_stops_cleanly(demo):
    proc: subprocess.Popen = demo["proc"]
    proc.send_signal(signal.SIGINT)
    try:
        code = proc.wait(timeout=30)
    except subprocess.TimeoutExpired:
        proc.kill()
        pytest.fail("telecare demo did not stop within 30 s of Ctrl-C")
    assert code == 0, Path(demo["log"]).read_text()[-3000:]
    # The embedded PostgreSQL and broker it started are gone too.
    leftovers = subprocess.run(["pgrep", "-f", str(demo["data_dir"])], capture_output=True, text=True).stdout
    assert leftovers.strip() == "", f"processes left running: {leftovers}"
