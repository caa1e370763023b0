"""`telecare demo`: the whole platform in one process, a seeded Barcelona-like fleet and simulated homes."""
from __future__ import annotations

import asyncio
import logging
from contextlib import AsyncExitStack
from zoneinfo import ZoneInfo

from telecare import bootstrap
from telecare.commands import _build_outreach, _cancel, _wait_or_fail
from telecare.settings import Settings

log = logging.getLogger("telecare.demo")

DEMO_SEED = 7


async def seed_fleet(core: bootstrap.Core, residents_n: int) -> None:
    """Register the demo fleet once; a restarted demo keeps its residents and history."""
    from devices.fleet import barcelona_fleet, demo_care_plan_overrides

    if await core.registry.all_residents():
        return
    today = core.clock.now().astimezone(ZoneInfo("Europe/Madrid")).date()
    residents, devices = barcelona_fleet(residents_n, seed=DEMO_SEED, today=today)
    residents = demo_care_plan_overrides(residents, core.clock.now())
    for resident in residents:
        await core.registry.upsert_resident(resident)
    # Gateways first: other devices refer to them.
    for device in sorted(devices, key=lambda d: d.type.value != "gateway"):
        await core.registry.register_device(device)
    log.info("seeded %d residents and %d devices", len(residents), len(devices))


async def run_demo(settings: Settings, *, residents: int, simulator: bool, stop: asyncio.Event) -> int:
    """Start everything, print the URLs, run until Ctrl-C, stop cleanly."""
    async with AsyncExitStack() as stack:
        core = await bootstrap.open_core(settings, stack)
        mqtt_url = bootstrap.start_broker(settings, stack)
        await seed_fleet(core, residents)

        tasks: list[asyncio.Task] = [asyncio.create_task(bootstrap.maintenance_loop(core))]
        ingest = bootstrap.build_ingest(core, mqtt_url)
        await ingest.start()
        tasks.append(asyncio.create_task(bootstrap.build_rules(core).run()))
        outreach = _build_outreach(core)
        await outreach.start()

        app = bootstrap.build_web(core, outreach.routers())
        web_ready = asyncio.Event()
        tasks.append(asyncio.create_task(
            bootstrap.serve_web(app, settings.http_host, settings.http_port, web_ready)))
        waiter = asyncio.create_task(web_ready.wait())
        await asyncio.wait([waiter, tasks[-1]], return_when=asyncio.FIRST_COMPLETED)
        if not web_ready.is_set():
            await tasks[-1]

        if simulator:
            from devices.simulator import Simulator

            sim = Simulator(mqtt_url, await core.registry.all_residents(), await core.registry.all_devices(),
                            core.clock, seed=DEMO_SEED)
            tasks.append(asyncio.create_task(sim.run()))

        base = f"http://{settings.http_host}:{settings.http_port}"
        print(
            "\nTelecare demo is running.\n"
            f"  Operator alert queue : {base}/\n"
            f"  Care team worklist   : {base}/care/worklist\n"
            f"  Call log / campaigns : {base}/care/calls  {base}/care/campaigns\n"
            f"  Phone simulator      : {base}/phones\n"
            f"  API docs             : {base}/docs   metrics: {base}/metrics\n"
            f"  MQTT broker          : {mqtt_url}\n"
            f"  Data directory       : {settings.data_dir.resolve()}\n"
            "Press Ctrl-C to stop.\n",
            flush=True,
        )
        try:
            await _wait_or_fail(stop, tasks)
        finally:
            log.info("stopping")
            await _cancel(tasks)
            await outreach.stop()
            await ingest.stop()
    return 0
