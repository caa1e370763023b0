"""Composition root: builds each process's adapters from typed settings and wires the components."""
from __future__ import annotations

import asyncio
import gc
import logging
from contextlib import AsyncExitStack
from dataclasses import dataclass, field
from typing import Any

from entrypoints import broker_setup, outreach_web
from entrypoints.running import Running, watched_task
from telecare.bus import Bus, InProcessBus
from telecare.clock import Clock, SystemClock
from telecare.errors import ConfigError
from telecare.health import Health
from telecare.settings import Settings
from telecare.store import Database
from telecare.store.migrate import maintain, upgrade

from entrypoints.database import NoDatabase, has_schema, no_database, open_database  # noqa: F401 - re-exported

log = logging.getLogger(__name__)

MAINTENANCE_EVERY_S = 6 * 3600


@dataclass
class Core:
    """What every process needs: settings, clock, database, bus, the registry and the alert store."""

    settings: Settings
    clock: Clock
    db: Database
    bus: Bus
    registry: Any
    alerts: Any
    stack: AsyncExitStack = field(repr=False)
    health: Health = field(default_factory=Health)


# Bus groups every process needs its own copy of: each web process serves browsers that must see every change.
PER_PROCESS_GROUPS = frozenset({"web"})


def make_bus(settings: Settings, db: Database, health: Health | None = None) -> Bus:
    """The bus the settings ask for (TELECARE_KAFKA_BOOTSTRAP alone means Kafka); its consumers report to `health`."""
    kind = settings.bus or ("kafka" if settings.kafka_bootstrap else "inprocess")
    if kind == "inprocess":
        return InProcessBus()
    if kind == "postgres":
        from telecare.pgbus import PostgresBus

        return PostgresBus(db, health)
    if not settings.kafka_bootstrap:
        raise ConfigError("TELECARE_BUS=kafka needs TELECARE_KAFKA_BOOTSTRAP (host:port of the Kafka brokers)")
    from telecare.kafkabus import KafkaBus

    return KafkaBus(settings.kafka_bootstrap, partitions=settings.kafka_partitions,
                    replication=settings.kafka_replication, client_id=settings.kafka_client_id,
                    process_groups=PER_PROCESS_GROUPS, health=health)


async def open_core(settings: Settings, stack: AsyncExitStack, clock: Clock | None = None, *,
                    create: bool = False, need_schema: bool = False) -> Core:
    """Database (migrated), bus, registry and alert store for one process.

    `create`: may make a new database (demo). `need_schema`: one-shot commands refuse a database without the
    telecare tables rather than create them and report an empty platform.
    """
    from devices.registry import Registry
    from alerts.store import AlertStore

    clock = clock or SystemClock()
    db = await open_database(settings, stack, create=create)
    if need_schema and not await has_schema(db):
        raise no_database(settings, "the database has no telecare tables")
    applied = await upgrade(db)
    if applied:
        log.info("database migrated: %s", ", ".join(applied))
    await _maintain_at_start(db, clock.now())
    health = Health()
    bus = make_bus(settings, db, health)
    stack.push_async_callback(bus.close)
    return Core(settings, clock, db, bus, Registry(db), AlertStore(db, bus), stack, health)


async def _maintain_at_start(db: Database, now) -> None:
    """maintain(), tolerating the processes of a deployment that start together (the Kafka path's parts):
    two creating the same event partition at once collide on the catalog; the loser finds it made."""
    from telecare.errors import ConflictError

    for attempt in range(3):
        try:
            await maintain(db, now)
            return
        except ConflictError:
            if attempt == 2:
                raise
            log.info("another process created the same event partition meanwhile; maintaining again")
            await asyncio.sleep(0.2 * (attempt + 1))  # let the other process's creation commit


async def maintenance_loop(core: Core) -> None:
    """Keep event partitions ahead, prune old duplicate keys, enforce retention (at start, then periodically)."""
    from entrypoints.gdpr_wiring import run_retention

    first = True
    while True:
        try:
            if not first:  # open_core already ran maintain() for this start
                await maintain(core.db, core.clock.now())
            # At start too: a process restarted more often than the period would otherwise never prune.
            await run_retention(core.db, core.settings, core.clock.now())
        except Exception:  # noqa: BLE001 - upkeep must never stop the platform
            log.exception("maintenance failed; will retry")
        first = False
        await asyncio.sleep(MAINTENANCE_EVERY_S)


def build_ingest(core: Core, mqtt_url: str):
    """The ingest service for this process (on Kafka: it publishes to `events`, the store writer stores)."""
    from entrypoints.kafka_parts import kafka_ingest_sink, on_kafka
    from ingest.service import IngestService

    s = core.settings
    return IngestService(
        mqtt_url, core.db, core.bus, core.registry, core.clock,
        client_id=s.mqtt_client_id,
        batch_size=s.ingest_batch_size, batch_ms=s.ingest_batch_ms, health=core.health,
        mqtt_password=broker_setup.ingest_password(s),  # each of its sessions logs in as its own client id
        sink=kafka_ingest_sink(core) if on_kafka(s) else None,
    )


def build_rules(core: Core):
    """The rule runner for this process: the Kafka rules worker on a Kafka bus, else the in-process runner."""
    from rules.runner import RulesRunner
    from rules.stores import pg_rule_stores

    if core.settings.kafka_bootstrap and type(core.bus).__name__ == "KafkaBus":
        return build_kafka_rules(core)
    return RulesRunner(pg_rule_stores(core.db), core.bus, core.registry, core.alerts, core.clock,
                       tick_seconds=core.settings.tick_seconds, health=core.health)


def build_kafka_rules(core: Core):
    """A rules worker on Kafka (group "rules", state in the compacted rules-state topic, verdicts to alert-triggers)."""
    from rules.kafka_host import KafkaRulesHost

    return KafkaRulesHost(core.bus, core.registry, core.clock, tick_seconds=core.settings.tick_seconds,
                          health=core.health)


# Start order: the rules' start-up replay of stored-but-unevaluated events ends before ingest publishes
# new ones; outreach before web, whose app mounts outreach's routes. `store` and `alerts` exist only on
# Kafka (entrypoints/kafka_parts.py): their consumer groups are declared before anyone publishes.
PARTS = ("store", "alerts", "rules", "ingest", "outreach", "web")


async def start_parts(core: Core, parts: set[str], mqtt_url: str | None) -> Running:
    """Start the named parts in PARTS order; returns once the web server (if any) is serving."""
    from entrypoints import kafka_parts

    kafka = kafka_parts.on_kafka(core.settings)
    if not kafka:
        parts = parts - kafka_parts.KAFKA_ONLY_PARTS  # in-process / PostgreSQL bus: ingest and rules do their work
    running = Running([watched_task(core.health, maintenance_loop(core), "maintenance")], health=core.health)
    routers: list[Any] = []
    own_outreach = None  # this process's outreach, when it runs one
    if "web" in parts and "outreach" not in parts:
        from entrypoints.web_alone import care_routers_without_outreach

        routers = care_routers_without_outreach(core)  # every nav link works in a web-only process
    for part in (p for p in PARTS if p in parts):
        if part in kafka_parts.KAFKA_ONLY_PARTS:
            service = (kafka_parts.build_store_writer if part == "store" else kafka_parts.build_alerts_part)(core)
            await service.start()
            running.tasks.append(watched_task(core.health, service.run(), part))
        elif part == "rules":
            rules = build_rules(core)  # on Kafka: the rules host (its own wiring in build_rules)
            await rules.start()
            running.tasks.append(watched_task(core.health, rules.run(), "rules"))
        elif part == "ingest":
            if mqtt_url is None:
                raise ConfigError("ingest needs an MQTT broker URL")
            ingest = build_ingest(core, mqtt_url)
            await ingest.start()
            running.services.append(ingest)
            running.watched.append(ingest.loop_task)
        elif part == "outreach":
            outreach = own_outreach = outreach_web.build_outreach(core)
            await outreach.start()
            running.services.append(outreach)
            routers = outreach_web.outreach_routers(outreach)
            # The rollups and quality gauges ride with outreach, the process a deployment runs once (the job
            # also takes a lock, so a second copy would only wait).
            running.tasks.append(insights_task(core))
        else:
            app = outreach_web.build_web(core, routers)
            await _serve(running, core, lambda ready: outreach_web.serve_web_app(app, core.settings, ready), "web")
    # What start-up loaded (the registry view, rule states, catalogues) lives as long as the process: freezing
    # it keeps the collector's full passes from scanning it again and again (their pauses were the live
    # publish -> alert p99 tail: docs/performance.md, TELECARE_BENCH_GC_FREEZE).
    gc.freeze()
    if "web" not in parts:
        from entrypoints.part_endpoints import part_endpoints

        # A part run alone serves /healthz and /metrics (compose healthchecks, Prometheus) when a port is set;
        # outreach on Twilio also Twilio's callbacks, which only the process that placed the calls can take.
        if (serve := part_endpoints(core, own_outreach)) is not None:
            await _serve(running, core, serve, "http")
    return running


async def _serve(running: Running, core: Core, serve: Any, name: str) -> None:
    """Start `serve(ready)` as a watched task; return once it listens, or stop everything and raise why not."""
    ready = asyncio.Event()
    task = watched_task(core.health, serve(ready), name)
    running.tasks.append(task)
    listening = asyncio.create_task(ready.wait())
    await asyncio.wait([listening, task], return_when=asyncio.FIRST_COMPLETED)
    listening.cancel()  # a server that died before listening leaves it waiting for good
    if task.done():
        await running.stop()
        await task  # re-raises why the server could not start


def build_insights(core: Core):
    """The insights job (rollups of the events table, quality gauges); run its .run() as a watched task."""
    from insights.job import InsightsJob

    return InsightsJob(core.db, core.clock, core.settings.service_zone, core.health)


def insights_task(core: Core) -> asyncio.Task:
    """Start the insights loop as a watched task (its death fails /healthz like every other loop)."""
    return watched_task(core.health, build_insights(core).run(), "insights")
