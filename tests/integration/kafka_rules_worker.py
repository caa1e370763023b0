"""A rules worker process for the fault tests: `python -m tests.integration.kafka_rules_worker SPEC.json`.

SPEC: {"bootstrap", "group", "residents": [ids], "status": path, "host": "aiokafka"|"faust", "session_timeout_ms"}.
Residents get a pendant, a fall sensor and a bed sensor, a night that lasts all day and a 1-minute bed window (the
test backdates bed exits so their timers fall due seconds later). The worker writes {"owned", "evaluated"} to the
status file every 0.2 s; it runs until killed (the test's kill -9) or SIGTERM.
"""
from __future__ import annotations

import asyncio
import json
import logging
import os
import signal
import sys
import time as wall
from datetime import time
from pathlib import Path

from telecare.clock import SystemClock
from telecare.events import DeviceType
from telecare.fakes import InMemoryResidents
from telecare.health import Health
from telecare.people import CarePlan, Device, Resident

PLAN = CarePlan(night_start=time(0, 0), night_end=time(23, 59, 59), bed_return_minutes=1)
DEVICES = (DeviceType.PENDANT, DeviceType.FALL_SENSOR, DeviceType.BED_SENSOR)


def lookup(rids: list[str]) -> InMemoryResidents:
    """The residents of the fault tests (the parent builds the same to compute what to expect)."""
    residents = [Resident(rid, "Test Resident", care_plan=PLAN) for rid in rids]
    devices = [Device(f"{rid}-{k.value}", k, f"{rid}-gateway", rid) for rid in rids for k in DEVICES]
    return InMemoryResidents(residents, devices)


async def report(host, path: Path) -> None:
    while True:
        tmp = path.with_suffix(".tmp")
        tmp.write_text(json.dumps({"owned": sorted(host.owned), "evaluated": host.evaluated, "pid": os.getpid()}))
        tmp.replace(path)
        await asyncio.sleep(0.2)


def faust_main(spec: dict) -> None:
    """The Faust host: Faust runs its own event loop; the status file is written by a Faust timer."""
    while spec.get("gate") and not Path(spec["gate"]).exists():
        wall.sleep(0.02)
    from rules.faust_host import FaustRulesHost

    host = FaustRulesHost(spec["bootstrap"], lookup(spec["residents"]), SystemClock(), group=spec["group"],
                          session_timeout_ms=spec["session_timeout_ms"],
                          data_dir=Path(spec["status"]).parent / f"faust-{os.getpid()}")

    @host.app.timer(0.2)
    async def status() -> None:
        path = Path(spec["status"])
        path.with_suffix(".tmp").write_text(json.dumps({"owned": sorted(host.owned), "evaluated": host.evaluated,
                                                        "pid": os.getpid()}))
        path.with_suffix(".tmp").replace(path)

    sys.argv = [sys.argv[0], "worker"]
    host.run_forever()


async def main(spec: dict) -> None:
    if spec.get("gate"):  # imported and ready: join the group the moment the test opens the gate
        while not Path(spec["gate"]).exists():
            await asyncio.sleep(0.02)
    health = Health()
    residents, clock = lookup(spec["residents"]), SystemClock()
    from rules.kafka_host import KafkaRulesHost
    from telecare.kafkabus import KafkaBus

    bus = KafkaBus(spec["bootstrap"], health=health)
    host = KafkaRulesHost(bus, residents, clock, tick_seconds=0.2, group=spec["group"], health=health,
                          session_timeout_ms=spec["session_timeout_ms"])
    run = asyncio.create_task(host.run())
    status = asyncio.create_task(report(host, Path(spec["status"])))
    stop = asyncio.Event()
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stop.set)
    await asyncio.wait([run, asyncio.create_task(stop.wait())], return_when=asyncio.FIRST_COMPLETED)
    for task in (run, status):
        task.cancel()
    await asyncio.gather(run, status, return_exceptions=True)
    await bus.close()
    if run.done() and not run.cancelled() and run.exception() is not None:
        raise run.exception()


if __name__ == "__main__":
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(process)d %(name)s %(levelname)s %(message)s")
    logging.getLogger("aiokafka").setLevel(logging.WARNING)
    worker_spec = json.loads(Path(sys.argv[1]).read_text())
    if worker_spec.get("host") == "faust":
        faust_main(worker_spec)
    else:
        asyncio.run(main(worker_spec))
