"""One coroutine per CLI command; each builds only what its process needs."""
from __future__ import annotations

import argparse
import asyncio
import logging
from contextlib import AsyncExitStack

from entrypoints import bootstrap, broker_setup
from telecare.clock import SystemClock
from telecare.settings import Settings, bus_for

log = logging.getLogger("telecare")


async def cmd_demo(settings: Settings, args: argparse.Namespace, stop: asyncio.Event) -> int:
    """Everything in one process, embedded PostgreSQL and broker, a seeded fleet and the simulator."""
    from entrypoints.demo import run_demo

    return await run_demo(settings, residents=args.residents, simulator=not args.no_simulator, stop=stop,
                          kafka=args.kafka, kafka_port=args.kafka_port)


async def cmd_run(settings: Settings, args: argparse.Namespace, stop: asyncio.Event) -> int:
    """One part of the platform as its own process (or `all` of them)."""
    from entrypoints.kafka_parts import refuse_without_kafka

    parts = set(bootstrap.PARTS) if args.part == "all" else {args.part}
    # A part alone must use a bus the other processes hear (a screen must never say "Live" when it is not).
    settings = settings.model_copy(update={"bus": bus_for(settings, args.part)})
    refuse_without_kafka(settings, args.part)
    if "ingest" in parts and not settings.mqtt_url:
        broker_setup.check_mqtt_port(settings)  # before the database starts: a taken port stops us at once
    async with AsyncExitStack() as stack:
        core = await bootstrap.open_core(settings, stack)
        mqtt_url = await broker_setup.start_broker(core) if "ingest" in parts else None
        running = await bootstrap.start_parts(core, parts, mqtt_url)
        if "web" in parts:
            log.info("web on http://%s:%d/", settings.http_host, settings.http_port)
        await running.run_until(stop)
    return 0


async def cmd_db(settings: Settings, args: argparse.Namespace, stop: asyncio.Event) -> int:
    """`telecare db upgrade`: create the database if there is none, apply pending migrations."""
    from telecare.store.migrate import upgrade

    async with AsyncExitStack() as stack:
        db = await bootstrap.open_database(settings, stack, create=True)
        applied = await upgrade(db)
        print("applied: " + ", ".join(applied) if applied else "database is up to date")
        from telecare.store.migrate import features

        print("\n".join((await features(db)).lines()))
    return 0


async def cmd_devices(settings: Settings, args: argparse.Namespace, stop: asyncio.Event) -> int:
    """`telecare devices import FILE | list | mqtt-acl -o DIR | credentials GATEWAY [--rotate]`."""
    from devices.importer import cli_import, cli_list

    async with AsyncExitStack() as stack:
        core = await bootstrap.open_core(settings, stack, need_schema=True)
        if args.action == "import":
            out = await cli_import(core.db, args.file)
        elif args.action == "mqtt-acl":
            out = await _mqtt_acl(core, args.out)
        elif args.action == "credentials":
            out = await _credentials(core, args.gateway, args.rotate)
        else:
            out = await cli_list(core.db)
        print(out)
    return 0


async def _mqtt_acl(core: bootstrap.Core, out_dir) -> str:
    from devices.credentials import GatewayCredentials

    files = await broker_setup.write_broker_auth(core, out_dir)
    lines = [f"wrote {files.password_file} and {files.acl_file}: {files.gateways} gateway account(s) and ingest's "
             f"(one per session of {', '.join(core.settings.ingest_client_ids)})",
             *(f"left out: {reason}" for reason in files.skipped)]
    if missing := await GatewayCredentials(core.db).gateways_without():
        lines.append(f"{len(missing)} gateway(s) without credentials cannot connect (e.g. {missing[0]}): "
                     "`telecare devices credentials GATEWAY --rotate`")
    if not core.settings.mqtt_password:
        lines.append("ingest's password: the one generated in "
                     f"{core.settings.data_dir / 'mqtt' / broker_setup.INGEST_ACCOUNT_FILE} "
                     "(set TELECARE_MQTT_PASSWORD to choose it)")
    lines.append("reload the broker to apply them (SIGHUP, e.g. `docker kill -s HUP mosquitto`)")
    return "\n".join(lines)


async def _credentials(core: bootstrap.Core, gateway_id: str, rotate: bool) -> str:
    from devices.credentials import GatewayCredentials

    store = GatewayCredentials(core.db)
    if rotate:
        issued = await store.rotate(gateway_id, core.clock.now())
        return (f"gateway {gateway_id}: new MQTT credentials (shown once; re-export with `telecare devices mqtt-acl`"
                f" and reload the broker)\nusername {issued.username}\npassword {issued.password}")
    stored = await store.get(gateway_id)
    if stored is None:
        return f"gateway {gateway_id}: no MQTT credentials (issue them with --rotate)"
    return (f"gateway {gateway_id}: username {stored.username}, issued {stored.issued_at.isoformat()} "
            "(only a hash is stored; --rotate issues a new password)")


async def cmd_users(settings: Settings, args: argparse.Namespace, stop: asyncio.Event) -> int:
    """`telecare users create|token|list|disable`."""
    import sys

    from identity import admin
    from identity.service import Identity, IdentityConfig
    from telecare.store.migrate import upgrade

    async with AsyncExitStack() as stack:
        settings.data_dir.mkdir(parents=True, exist_ok=True)
        db = await bootstrap.open_database(settings, stack)
        await upgrade(db)
        identity = Identity(db, SystemClock(), IdentityConfig.from_settings(settings))
        if args.action == "create":
            password = sys.stdin.readline().rstrip("\r\n") if args.password_stdin else None
            out = await admin.cli_create(identity, args.name, args.role, args.team, password, args.display_name,
                                         args.organisation)
        elif args.action == "token":
            out = await admin.cli_token(identity, args.name, args.role, args.days, args.token_name)
        elif args.action == "list":
            out = await admin.cli_list(identity)
        else:
            out = await admin.cli_disable(identity, args.name)
        print(out)
    return 0


async def cmd_gdpr(settings: Settings, args: argparse.Namespace, stop: asyncio.Event) -> int:
    """`telecare gdpr export RESIDENT -o FILE` / `telecare gdpr erase RESIDENT [--dry-run]`."""
    import os

    from entrypoints.gdpr_wiring import build_gdpr, cli_actor

    async with AsyncExitStack() as stack:
        core = await bootstrap.open_core(settings, stack, need_schema=True)
        gdpr = build_gdpr(core.db, core.clock)
        if args.action == "export":
            body = await gdpr.export_zip(args.resident, cli_actor())
            fd = os.open(args.output, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            with os.fdopen(fd, "wb") as out:
                out.write(body)
            os.chmod(args.output, 0o600)  # an existing file keeps its old mode otherwise
            print(f"wrote {args.output} ({len(body)} bytes)")
        else:
            print((await gdpr.erase(args.resident, cli_actor(), dry_run=args.dry_run)).text())
    return 0


async def cmd_audit(settings: Settings, args: argparse.Namespace, stop: asyncio.Event) -> int:
    """`telecare audit report --since T [--until T] [--format table|csv]`."""
    from gdpr.audit_report import as_csv, as_table, parse_time, reads

    async with AsyncExitStack() as stack:
        core = await bootstrap.open_core(settings, stack, need_schema=True)
        now = core.clock.now()
        since = parse_time(args.since, now)
        until = parse_time(args.until, now) if args.until else now
        found = await reads(core.db, since, until)
        print(as_csv(found).rstrip("\n") if args.format == "csv" else as_table(found, since, until))
    return 0


async def cmd_simulate(settings: Settings, args: argparse.Namespace, stop: asyncio.Event) -> int:
    """Run the simulated homes against any broker until Ctrl-C."""
    from demo.simulator import simulate

    from demo.simulator import load_credentials

    logins = load_credentials(args.credentials) if args.credentials else None
    running = bootstrap.Running([asyncio.create_task(simulate(args.mqtt, args.residents, args.seed, logins))])
    await running.run_until(stop)
    return 0


async def cmd_weather(settings: Settings, args: argparse.Namespace, stop: asyncio.Event) -> int:
    """`telecare weather ingest PATH_OR_URL`: a CAP warning becomes a call campaign."""
    from outreach.campaigns import weather_ingest_cli

    async with AsyncExitStack() as stack:
        core = await bootstrap.open_core(settings, stack, need_schema=True)
        print(await weather_ingest_cli(core.db, core.registry, args.source, core.clock.now(),
                                       settings.service_zone))
    return 0


async def cmd_bench(settings: Settings, args: argparse.Namespace, stop: asyncio.Event) -> int:
    """Benchmarks; results printed as JSON."""
    import json

    if args.what == "ingest":
        from bench.ingest import run_ingest_bench

        result = await run_ingest_bench(args.events, live_load_s=args.live_seconds)
    elif args.what == "resident-page":
        from bench.resident_page import run_resident_page_bench

        result = await run_resident_page_bench(args.residents or 115_000, args.sample, days=args.days)
    elif args.what == "copy":
        from bench.sink_copy import run_copy_bench

        result = await run_copy_bench(args.rows, batch_size=args.batch)
    elif args.what == "rules-state":
        from bench.rules_state import run_rules_state_bench

        result = await run_rules_state_bench(args.rule_residents)
    elif args.what == "rules-kafka":
        from bench.rules_kafka import run_rules_kafka_bench

        result = await run_rules_kafka_bench(args.events)
    elif args.what == "rules-restart":
        from bench.rules_restart import run_rules_restart_bench

        outage = 10.0 if args.outage_minutes is None else args.outage_minutes
        result = await run_rules_restart_bench(args.rule_residents, outage)
    elif args.what == "timer-lag":
        from bench.timer_lag import run_timer_lag_bench

        outage = 0.0 if args.outage_minutes is None else args.outage_minutes
        result = await run_timer_lag_bench(args.devices, args.window_seconds, outage)
    elif args.what == "kafka-latency":
        from bench.kafka_latency import run_kafka_latency_bench

        result = await run_kafka_latency_bench(args.events, live_seconds=args.live_seconds)
    else:
        from bench.outreach_calls import run_calls_bench
        from bench.outreach_plan import run_plan_bench

        result = {"plan": run_plan_bench(args.residents or 100_000),
                  "calls": await run_calls_bench(args.calls, args.cps)}
    print(json.dumps(result, indent=2, default=str))
    return 0
