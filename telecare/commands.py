"""One coroutine per CLI command; each builds only what its process needs."""
from __future__ import annotations

import argparse
import asyncio
import logging
from contextlib import AsyncExitStack, suppress

from telecare import bootstrap
from telecare.settings import Settings

log = logging.getLogger("telecare")


async def _wait_or_fail(stop: asyncio.Event, tasks: list[asyncio.Task]) -> None:
    """Block until Ctrl-C, or until a background task dies (then re-raise its error)."""
    stopper = asyncio.create_task(stop.wait())
    done, _ = await asyncio.wait([stopper, *tasks], return_when=asyncio.FIRST_COMPLETED)
    stopper.cancel()
    for task in done:
        if task is not stopper and not task.cancelled() and task.exception():
            raise task.exception()  # type: ignore[misc]


async def _cancel(tasks: list[asyncio.Task]) -> None:
    for task in tasks:
        task.cancel()
    for task in tasks:
        with suppress(asyncio.CancelledError, Exception):
            await task


async def cmd_demo(settings: Settings, args: argparse.Namespace, stop: asyncio.Event) -> int:
    """Everything in one process, embedded PostgreSQL and broker, a seeded fleet and the simulator."""
    from telecare.demo import run_demo

    return await run_demo(settings, residents=args.residents, simulator=not args.no_simulator, stop=stop)


async def cmd_run(settings: Settings, args: argparse.Namespace, stop: asyncio.Event) -> int:
    """One part of the platform as its own process (or `all` of them)."""
    parts = {"ingest", "rules", "web", "outreach"} if args.part == "all" else {args.part}
    async with AsyncExitStack() as stack:
        core = await bootstrap.open_core(settings, stack)
        tasks: list[asyncio.Task] = [asyncio.create_task(bootstrap.maintenance_loop(core))]
        services: list = []
        if "rules" in parts:  # before ingest: the rules' start-up replay ends before new events flow
            rules = bootstrap.build_rules(core)
            await rules.start()
            tasks.append(asyncio.create_task(rules.run()))
        if "ingest" in parts:
            ingest = bootstrap.build_ingest(core, bootstrap.start_broker(settings, stack))
            await ingest.start()
            services.append(ingest)
        routers: list = []
        if "outreach" in parts:
            outreach = _build_outreach(core)
            await outreach.start()
            services.append(outreach)
            routers = outreach.routers()
        if "web" in parts:
            app = bootstrap.build_web(core, routers)
            tasks.append(asyncio.create_task(bootstrap.serve_web(app, settings.http_host, settings.http_port)))
            log.info("web on http://%s:%d/", settings.http_host, settings.http_port)
        try:
            await _wait_or_fail(stop, tasks)
        finally:
            await _cancel(tasks)
            for service in reversed(services):
                await service.stop()
    return 0


def _build_outreach(core: bootstrap.Core):
    from outreach.service import OutreachService

    return OutreachService(core.db, core.bus, core.alerts, core.registry, bootstrap.build_telephony(core),
                           core.clock, core.settings)


async def cmd_db(settings: Settings, args: argparse.Namespace, stop: asyncio.Event) -> int:
    """`telecare db upgrade`: apply pending migrations."""
    from telecare.store.migrate import upgrade

    async with AsyncExitStack() as stack:
        db = await bootstrap.open_database(settings, stack)
        applied = await upgrade(db)
        print("applied: " + ", ".join(applied) if applied else "database is up to date")
    return 0


async def cmd_devices(settings: Settings, args: argparse.Namespace, stop: asyncio.Event) -> int:
    """`telecare devices import FILE` / `telecare devices list`."""
    from devices.importer import cli_import, cli_list

    async with AsyncExitStack() as stack:
        core = await bootstrap.open_core(settings, stack)
        out = await (cli_import(core.db, args.file) if args.action == "import" else cli_list(core.db))
        print(out)
    return 0


async def cmd_simulate(settings: Settings, args: argparse.Namespace, stop: asyncio.Event) -> int:
    """Run the simulated homes against any broker until Ctrl-C."""
    from devices.simulator import simulate

    task = asyncio.create_task(simulate(args.mqtt, args.residents, args.seed))
    try:
        await _wait_or_fail(stop, [task])
    finally:
        await _cancel([task])
    return 0


async def cmd_weather(settings: Settings, args: argparse.Namespace, stop: asyncio.Event) -> int:
    """`telecare weather ingest PATH_OR_URL`: a CAP warning becomes a call campaign."""
    from outreach.campaigns import weather_ingest_cli

    async with AsyncExitStack() as stack:
        core = await bootstrap.open_core(settings, stack)
        print(await weather_ingest_cli(core.db, core.registry, args.source, core.clock.now()))
    return 0


async def cmd_bench(settings: Settings, args: argparse.Namespace, stop: asyncio.Event) -> int:
    """Benchmarks; results printed as JSON."""
    import json

    if args.what == "ingest":
        from bench.ingest import run_ingest_bench

        result = await run_ingest_bench(args.events)
    else:
        from bench.outreach_calls import run_calls_bench
        from bench.outreach_plan import run_plan_bench

        plan = run_plan_bench(args.residents)
        if asyncio.iscoroutine(plan):
            plan = await plan
        calls = run_calls_bench(args.calls, args.cps)
        if asyncio.iscoroutine(calls):
            calls = await calls
        result = {"plan": plan, "calls": calls}
    print(json.dumps(result, indent=2, default=str))
    return 0
