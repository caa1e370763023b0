"""`telecare demo`: the whole platform in one process, a seeded Barcelona-like fleet and simulated homes."""
from __future__ import annotations

import asyncio
import json
import logging
from contextlib import AsyncExitStack
from zoneinfo import ZoneInfo

from entrypoints import bootstrap, broker_setup
from telecare.settings import Settings

log = logging.getLogger("entrypoints.demo")

DEMO_SEED = 7


async def seed_fleet(core: bootstrap.Core, residents_n: int) -> None:
    """Register the demo fleet once; on later starts only re-time the demo roles' care plans to "now"."""
    from demo.fleet import barcelona_fleet, demo_care_plan_overrides

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


GATEWAYS_FILE = "demo-gateways.json"


async def demo_gateway_logins(core: bootstrap.Core) -> dict[str, tuple[str, str]]:
    """Fresh MQTT credentials for every gateway on each start (only hashes are stored, so the demo re-issues
    them), written for test tools to <data-dir>/demo-gateways.json (0600); {gateway_id: (username, password)}."""
    from devices.credentials import GatewayCredentials
    from devices.mqtt_acl import write_private
    from telecare.events import DeviceType

    store = GatewayCredentials(core.db)
    logins = {}
    for device in await core.registry.all_devices():
        if device.type is DeviceType.GATEWAY:
            issued = await store.rotate(device.id, core.clock.now())
            logins[device.id] = (issued.username, issued.password)
    core.settings.data_dir.mkdir(parents=True, exist_ok=True)
    write_private(core.settings.data_dir / GATEWAYS_FILE, json.dumps(
        {gw: {"username": u, "password": p} for gw, (u, p) in logins.items()}, indent=2) + "\n")
    return logins


async def demo_logins(core: bootstrap.Core) -> str:
    """One demo user per role (fresh passwords each start), an admin token in <data-dir>/demo-token; the text to print."""
    from identity.demo_users import ensure_demo_users, format_logins
    from identity.service import Identity, IdentityConfig

    identity = Identity(core.db, core.clock, IdentityConfig.from_settings(core.settings))
    teams = sorted({r.care_plan.team for r in await core.registry.all_residents() if r.care_plan.team})
    made = await ensure_demo_users(identity, core.settings.data_dir, teams[0] if teams else "Equip demo")
    return format_logins(made, core.settings.data_dir)


async def start_demo_kafka(settings: Settings, port: int, stack: AsyncExitStack) -> Settings:
    """`demo --kafka`: an embedded Kafka node under <data-dir>/kafka (stopped with the demo); settings on it."""
    from demo.kafka_broker import EmbeddedKafka

    broker = EmbeddedKafka(settings.data_dir / "kafka", port)
    bootstrap_servers = await asyncio.to_thread(broker.start)  # blocking: fetch jars, format, launch, probe
    stack.callback(broker.stop)
    return settings.model_copy(update={"kafka_bootstrap": bootstrap_servers, "bus": "kafka"})


async def run_demo(settings: Settings, *, residents: int, simulator: bool, stop: asyncio.Event,
                   kafka: bool = False, kafka_port: int = 0) -> int:
    """Start everything, print the URLs, run until Ctrl-C, stop cleanly (`kafka`: every part on a local Kafka)."""
    if not settings.mqtt_url:
        broker_setup.check_mqtt_port(settings)  # before the database starts: a taken port stops the demo at once
    async with AsyncExitStack() as stack:
        if kafka:
            settings = await start_demo_kafka(settings, kafka_port, stack)
        core = await bootstrap.open_core(settings, stack, create=True)
        await seed_fleet(core, residents)
        gateway_logins = await demo_gateway_logins(core)
        mqtt_url = await broker_setup.start_broker(core)  # its password file and ACL include those gateways
        logins = await demo_logins(core)

        running = await bootstrap.start_parts(core, set(bootstrap.PARTS), mqtt_url)

        if simulator:
            from demo.simulator import Simulator

            sim = Simulator(mqtt_url, await core.registry.all_residents(), await core.registry.all_devices(),
                            core.clock, seed=DEMO_SEED, credentials=gateway_logins)
            running.tasks.append(asyncio.create_task(sim.run()))
            from demo.installer_visit import answer_commissioning

            # The installer's commissioning screen works on any demo gateway: the simulated home answers.
            running.tasks.append(asyncio.create_task(answer_commissioning(core.db, sim, core.clock)))

        base = f"http://{settings.http_host}:{settings.http_port}"
        print(
            "\nTelecare demo is running.\n"
            f"  Operator alert queue : {base}/\n"
            f"  Care team worklist   : {base}/care/worklist\n"
            f"  Call log / campaigns : {base}/care/calls  {base}/care/campaigns\n"
            f"  Phone simulator      : {base}/phones\n"
            f"  API docs             : {base}/docs   metrics: {base}/metrics\n"
            f"  MQTT broker          : {mqtt_url} (one account per gateway: "
            f"{settings.data_dir.resolve() / GATEWAYS_FILE})\n"
            + (f"  Kafka broker         : {settings.kafka_bootstrap} (every part on the Kafka bus: ingest -> "
               "events -> store writer, rules -> alert-triggers -> alerts part -> alerts)\n"
               if kafka else "")
            + f"  Data directory       : {settings.data_dir.resolve()}\n"
            f"{logins}\n"
            "  After sign-in each lands on its own page: operator /, care-team and coordinator /care,\n"
            "  installer /devices (Commission on any gateway: the simulated home answers), admin and auditor\n"
            "  /audit.\n"
            "Press Ctrl-C to stop.\n",
            flush=True,
        )
        await running.run_until(stop)
    return 0
