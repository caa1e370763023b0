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
    """Register the demo fleet once; on later starts only re-time the demo roles' care plans to "now"."""
    from devices.fleet import barcelona_fleet, demo_care_plan_overrides

    now = core.clock.now()
    today = now.astimezone(ZoneInfo("Europe/Madrid")).date()
    stored = await core.registry.all_residents()
    if stored:
        # A restarted demo keeps its residents and history. The night window and dose time that make the
        # bed-exit and missed-dose alerts appear within minutes were set for the first start: set them anew,
        # from the fleet's original care plans so nothing accumulates across restarts.
        fleet, _ = barcelona_fleet(len(stored), seed=DEMO_SEED, today=today)
        if {r.id for r in fleet} != {r.id for r in stored}:
            return  # not the demo fleet (e.g. residents imported by hand): leave it alone
        for original, timed in zip(fleet, demo_care_plan_overrides(fleet, now)):
            if timed is not original:
                await core.registry.upsert_resident(timed)
        return
    residents, devices = barcelona_fleet(residents_n, seed=DEMO_SEED, today=today)
    residents = demo_care_plan_overrides(residents, now)
    counts = await core.registry.write_batch(residents, devices)
    log.info("seeded the demo fleet: %s", counts)


async def run_demo(settings: Settings, *, residents: int, simulator: bool, stop: asyncio.Event) -> int:
    """Start everything, print the URLs, run until Ctrl-C, stop cleanly."""
    async with AsyncExitStack() as stack:
        core = await bootstrap.open_core(settings, stack)
        mqtt_url = bootstrap.start_broker(settings, stack)
        await seed_fleet(core, residents)

        tasks: list[asyncio.Task] = [asyncio.create_task(bootstrap.maintenance_loop(core))]
        # Rules first: their start-up replay of stored-but-unevaluated events ends before new ones flow.
        rules = bootstrap.build_rules(core)
        await rules.start()
        tasks.append(asyncio.create_task(rules.run()))
        ingest = bootstrap.build_ingest(core, mqtt_url)
        await ingest.start()
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
