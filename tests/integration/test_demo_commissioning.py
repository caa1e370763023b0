"""The demo's simulated installer answers a commissioning session through the simulator, mosquitto and ingest."""
from __future__ import annotations

import asyncio
from datetime import datetime, timezone

import pytest

from alerts.store import AlertStore
from demo.installer_visit import answer_commissioning
from demo.simulator import Simulator, status_topic
from devices.commissioning import Commissioning
from devices.registry import Registry
from ingest.service import IngestService
from telecare.bus import InProcessBus
from telecare.clock import SystemClock
from telecare.events import DeviceType
from telecare.mqtt import MqttPublisher
from telecare.people import Device, Resident
from tests.conftest import eventually

pytestmark = pytest.mark.integration


async def test_starting_commissioning_on_a_demo_gateway_gets_every_device_ticked_and_one_reject(db, mqtt_url):
    registry, bus, clock = Registry(db), InProcessBus(), SystemClock()
    home = Resident(id="r-demo", name="Demo resident")
    devices = [Device("gw-demo", DeviceType.GATEWAY, "gw-demo", "r-demo"),
               Device("pd-demo", DeviceType.PENDANT, "gw-demo", "r-demo"),
               Device("md-demo", DeviceType.MEDICATION_DISPENSER, "gw-demo", "r-demo"),
               Device("bd-demo", DeviceType.BED_SENSOR, "gw-demo", "r-demo")]
    await registry.write_batch([home], devices)
    ingest = IngestService(mqtt_url, db, bus, registry, clock, client_id="ingest-demo-commissioning", batch_ms=10)
    await ingest.start()
    sim = Simulator(mqtt_url, [home], devices, clock, demo=False, poll_seconds=0.05)
    tasks = [asyncio.create_task(sim.run()), asyncio.create_task(answer_commissioning(db, sim, clock, poll_s=0.1))]
    sessions = Commissioning(db, AlertStore(db, bus))
    try:
        await eventually(lambda: all(gw.online for gw in sim.gateways.values()) and bool(sim.gateways), timeout=10)
        session, _ = await sessions.start("gw-demo", "demo-installer", datetime.now(timezone.utc))

        async def all_reported() -> bool:
            state = await sessions.state(session)
            return state["reported"] == state["devices"] == 4 and bool(state["rejected"])
        await eventually(all_reported, timeout=30)
        state = await sessions.state(session)
        assert [r["reason"] for r in state["rejected"]] == ["invalid_json"]
        done = await sessions.finish(session, "demo-installer", datetime.now(timezone.utc))
        assert done["missing"] == []
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        await ingest.stop()
        # The simulated gateway's retained "online" status would reach every later subscriber of the shared
        # broker as an unknown gateway's message: an empty retained message deletes it.
        cleaner = MqttPublisher(mqtt_url, "cleanup-demo-commissioning")
        await cleaner.connect()
        await cleaner.publish(status_topic("gw-demo"), b"", retain=True)
        await cleaner.disconnect()
