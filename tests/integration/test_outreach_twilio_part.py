"""`telecare run outreach` on Twilio, as the production stack runs it: its calls' callbacks reach it through the
compose's nginx config. A weather warning makes the dialer call a resident through the official Twilio client (a
local fake Twilio checks the requests); Twilio's signed status and key-press callbacks, sent to the public
address the call named, go through the proxy to the outreach process, and the call log shows the answer."""
from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest

from demo.broker import free_port
from telecare.store import Database
from tests import compose_spec as cs
from tests.compose_native import native_nginx, need
from tests.conftest import eventually
from tests.fakes.fake_twilio import FakeTwilio

pytestmark = pytest.mark.integration
SAMPLE_CAP = cs.ROOT / "outreach/samples/barcelona_heat_warning.xml"
FROM = "+34930001122"
FLEET = """residents:
  - id: r-tw1
    name: Teresa Vidal
    timezone: Europe/Madrid
    latitude: 41.3934
    longitude: 2.1612
    phones: ["+34 612 000 111"]
    language: ca
    risk_flags: [heat_vulnerable]
    care_plan:
      calling_start: "00:00"   # any hour, so the call is placed now whatever time the test runs
      calling_end: "23:59"
"""


@pytest.fixture
def fake() -> Iterator[FakeTwilio]:
    with FakeTwilio() as server:
        yield server


def _cli(args: list[str], env: dict[str, str]) -> str:
    proc = subprocess.run([sys.executable, "-m", "entrypoints.cli", *args], capture_output=True, text=True, env=env,
                          cwd=cs.ROOT, timeout=120)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return proc.stdout


async def test_twilio_callbacks_reach_the_outreach_process_through_the_proxy(db_url: str, db: Database,
                                                                            fake: FakeTwilio, tmp_path: Path) -> None:
    need("nginx")
    outreach_port = free_port()
    nginx_cmd, proxy_port = native_nginx(tmp_path / "nginx", {"web-1": free_port(), "web-2": free_port(),
                                                              "outreach": outreach_port})
    public = f"http://127.0.0.1:{proxy_port}"
    env = {k: v for k, v in os.environ.items() if not k.startswith("TELECARE_")}
    env.update(PYTHONPATH=str(cs.ROOT), TELECARE_DATABASE_URL=db_url, TELECARE_LOG_LEVEL="WARNING",
               TELECARE_DATA_DIR=str(tmp_path / "data"), TELECARE_HTTP_HOST="127.0.0.1",
               TELECARE_HTTP_PORT=str(outreach_port), TELECARE_TELEPHONY="twilio",
               TELECARE_TWILIO_ACCOUNT_SID=fake.account_sid, TELECARE_TWILIO_AUTH_TOKEN=fake.auth_token,
               TELECARE_TWILIO_FROM_NUMBER=FROM, TELECARE_TWILIO_BASE_URL=fake.base_url,
               TELECARE_PUBLIC_BASE_URL=public)
    (tmp_path / "fleet.yaml").write_text(FLEET)
    _cli(["devices", "import", str(tmp_path / "fleet.yaml")], env)
    log = tmp_path / "outreach.log"
    proxy = subprocess.Popen(nginx_cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    with log.open("wb") as out:
        outreach = subprocess.Popen([sys.executable, "-m", "entrypoints.cli", "run", "outreach"], env=env,
                                    cwd=cs.ROOT, stdout=out, stderr=subprocess.STDOUT)
    try:
        async with httpx.AsyncClient(timeout=10) as http:
            async def healthy() -> bool:
                assert outreach.poll() is None, log.read_text()[-3000:]
                try:
                    return (await http.get(f"http://127.0.0.1:{outreach_port}/healthz")).status_code == 200
                except httpx.HTTPError:
                    return False

            await eventually(healthy, timeout=60, interval=0.2)
            assert "campaign" in _cli(["weather", "ingest", str(SAMPLE_CAP)], env)
            await eventually(lambda: fake.calls_created(), timeout=30, interval=0.2)
            [created] = fake.calls_created()
            assert created.field("To") == "+34612000111" and created.field("From") == FROM
            callback = urlsplit(created.field("StatusCallback") or "")
            assert f"{callback.scheme}://{callback.netloc}" == public and callback.path == "/twilio/status"
            call_id = int(parse_qs(callback.query)["ref"][0])

            # A forged callback through the proxy is refused by outreach and changes nothing.
            forged = await fake.callback(http, created.field("StatusCallback") or "",
                                         {"CallSid": created.sid or "", "CallStatus": "completed"}, signature=None)
            assert forged.status_code == 403, forged.text
            for response in await fake.drive(http, created.sid or "", "initiated", "ringing", "in-progress"):
                assert response.status_code == 204, response.text
            pressed = await fake.press(http, created.sid or "", "1")
            assert pressed.status_code == 200 and pressed.text.startswith("<?xml") and "Gràcies" in pressed.text
            [done] = await fake.drive(http, created.sid or "", "completed", CallDuration="31")
            assert done.status_code == 204, done.text

            row = await db.fetchrow("SELECT outcome, digits, answered_at, ended_at, provider_call_id, resident_id "
                                    "FROM call_log WHERE id = %s", (call_id,))
            assert row["resident_id"] == "r-tw1" and row["provider_call_id"] == created.sid
            assert row["outcome"] == "fine" and row["digits"] == "1"
            assert row["answered_at"] is not None and row["ended_at"] is not None
            status = await db.fetchval("SELECT t.status FROM call_tasks t JOIN call_log c ON c.task_id = t.id "
                                       "WHERE c.id = %s", (call_id,))
            assert status == "done"
            # The part's own endpoints still answer beside the callbacks; the proxy does not expose them.
            metrics = await http.get(f"http://127.0.0.1:{outreach_port}/metrics")
            assert 'telecare_telephony_webhooks_total{endpoint="status",result="accepted"}' in metrics.text
            assert 'result="forbidden"' in metrics.text
            assert (await http.get(f"{public}/metrics")).status_code == 404
    finally:
        outreach.terminate()
        try:
            code: int | str = await asyncio.to_thread(outreach.wait, 30)
        except subprocess.TimeoutExpired:
            outreach.kill()
            code = "killed: still running 30 s after SIGTERM"
        proxy.terminate()
        proxy.wait(10)
    assert code == 0, log.read_text()[-3000:]
