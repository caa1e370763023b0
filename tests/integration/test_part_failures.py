"""A part that dies makes /healthz fail naming it and the process exit non-zero (real PostgreSQL + mosquitto)."""
from __future__ import annotations

import asyncio
import logging
import uuid
from contextlib import AsyncExitStack
from pathlib import Path

import pytest

from entrypoints import bootstrap, cli, outreach_web
from entrypoints.running import PartFailed, Running
from ingest.service import IngestService
from ingest.topics import device_topic
from telecare.health import Health, PartState
from telecare.mqtt import MqttPublisher
from telecare.settings import load_settings
from tests.e2e.browser import api_client


async def _broken(self, batch, results=None):
    raise RuntimeError("a bug outside any one message")


async def test_a_dead_ingest_loop_fails_healthz_and_stops_the_process(db_url: str, mqtt_url: str, tmp_path: Path,
                                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    tag = uuid.uuid4().hex[:8]
    settings = load_settings(database_url=db_url, mqtt_url=mqtt_url, data_dir=tmp_path,
                             mqtt_client_id=f"telecare-ingest-{tag}")
    async with AsyncExitStack() as stack:
        core = await bootstrap.open_core(settings, stack)
        running = await bootstrap.start_parts(core, {"ingest"}, mqtt_url)
        try:
            async with api_client(outreach_web.build_web(core, [])) as client:
                healthy = await client.get("/healthz")
                assert healthy.status_code == 200 and healthy.json()["parts"]["ingest"]["state"] == "ok"

                monkeypatch.setattr(IngestService, "_handle", _broken)  # the next batch hits a bug
                pub = MqttPublisher(mqtt_url, f"pub-{tag}")
                await pub.connect()
                await pub.publish(device_topic("gw-x", "pd-x", "motion"), b"{}")
                await pub.disconnect()
                with pytest.raises(PartFailed) as failed:
                    await asyncio.wait_for(running.wait(asyncio.Event()), 10)
                assert failed.value.part == "ingest"

                response = await client.get("/healthz")
                assert response.status_code == 503
                part = response.json()["parts"]["ingest"]
                assert part["state"] == "failed" and "RuntimeError" in part["detail"]
        finally:
            await running.stop()


async def test_a_part_reporting_failed_stops_the_process_too() -> None:
    health = Health()
    running = Running(health=health)
    waiting = asyncio.create_task(running.wait(asyncio.Event()))
    await asyncio.sleep(0)
    assert not waiting.done()
    health.report("bus-listener", PartState.FAILED, "listener died: OperationalError")
    with pytest.raises(PartFailed) as failed:
        await asyncio.wait_for(waiting, 5)
    assert (failed.value.part, failed.value.detail) == ("bus-listener", "listener died: OperationalError")


async def test_ctrl_c_is_not_a_failure() -> None:
    stop = asyncio.Event()
    running = Running([asyncio.create_task(asyncio.Event().wait(), name="rules")], health=Health())
    stop.set()
    await asyncio.wait_for(running.wait(stop), 5)
    await running.stop()


def test_telecare_run_exits_non_zero_naming_the_dead_part(db_url: str, mqtt_url: str, tmp_path: Path,
                                                          monkeypatch: pytest.MonkeyPatch,
                                                          caplog: pytest.LogCaptureFixture) -> None:
    tag = uuid.uuid4().hex[:8]
    for name, value in {"DATABASE_URL": db_url, "MQTT_URL": mqtt_url, "DATA_DIR": str(tmp_path),
                        "MQTT_CLIENT_ID": f"telecare-ingest-{tag}", "MQTT_SHARE_GROUP": f"grp-{tag}"}.items():
        monkeypatch.setenv(f"TELECARE_{name}", value)

    async def dies(self):
        raise RuntimeError("the loop dies at once")

    monkeypatch.setattr(IngestService, "_next_batch", dies)
    with caplog.at_level(logging.ERROR):
        assert cli.main(["run", "ingest"]) == 1
    [line] = [r.getMessage() for r in caplog.records if r.name == "telecare"]
    assert line.startswith("part ingest failed (") and "RuntimeError" in line and line.endswith("exiting")
