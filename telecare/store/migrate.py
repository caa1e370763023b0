"""Versioned SQL migrations: numbered files applied once each, under an advisory lock."""
from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime
from importlib import resources
from typing import Any

from telecare.errors import StoreError
from telecare.store.db import Database
from telecare.store.timescale import TimescaleMode, choose, probe

log = logging.getLogger(__name__)

# Any constant works; it only has to be the same for every process that migrates.
_MIGRATION_LOCK = 7_144_223


def migration_files() -> list[tuple[str, str]]:
    """(version, sql) for every bundled migration, in order."""
    folder = resources.files("telecare.store") / "migrations"
    files = sorted(p for p in folder.iterdir() if p.name.endswith(".sql"))
    return [(p.name.removesuffix(".sql"), p.read_text()) for p in files]


async def upgrade(db: Database, timescale: TimescaleMode | None = None) -> list[str]:
    """Apply pending migrations; return the versions applied now. `timescale`: TELECARE_TIMESCALE when None.
    A server with TimescaleDB packaged but not preloaded is refused with what to set (StoreError)."""
    if timescale is None:
        from telecare.settings import load_settings

        timescale = TimescaleMode(load_settings().timescale)
    choice = choose(await probe(db), timescale)
    if choice.error:
        raise StoreError(choice.error)
    if choice.warning:
        log.warning("%s", choice.warning)
    applied_now: list[str] = []
    async with db.transaction() as tx:
        await tx.execute("SELECT pg_advisory_xact_lock(%s)", (_MIGRATION_LOCK,))
        # Read by 0001 (events: hypertable or monthly partitions); local to this transaction.
        await tx.execute("SELECT set_config('telecare.timescale', %s, true)", ("on" if choice.use else "off",))
        await tx.execute(
            "CREATE TABLE IF NOT EXISTS schema_migrations (version text PRIMARY KEY, applied_at timestamptz NOT NULL DEFAULT now())"
        )
        done = {r["version"] for r in await tx.fetch("SELECT version FROM schema_migrations")}
        for version, sql in migration_files():
            if version in done:
                continue
            log.info("applying migration %s", version)
            await tx.execute(sql)
            await tx.execute("INSERT INTO schema_migrations (version) VALUES (%s)", (version,))
            applied_now.append(version)
    return applied_now


async def maintain(db: Database, now: datetime) -> None:
    """Periodic upkeep: event partitions ahead of time, old duplicate keys pruned."""
    await db.execute("SELECT telecare_ensure_event_partitions(%s)", (now,))
    await db.execute("DELETE FROM event_keys WHERE received_at < %s - interval '35 days'", (now,))


async def timescale_enabled(db: Database) -> bool:
    """True when the events table is a TimescaleDB hypertable."""
    return bool(await db.fetchval("SELECT EXISTS (SELECT 1 FROM pg_extension WHERE extname = 'timescaledb')"))


@dataclass(frozen=True, slots=True)
class DbFeatures:
    """What this database offers for the events table and retention (`telecare db upgrade` prints it)."""

    timescale: bool = False
    licence: str | None = None          # timescaledb.license: 'apache' (no policies) or 'timescale'
    hypertable: bool = False
    compression: bool = False
    retention_policy_days: float | None = None
    continuous_aggregates: int = 0
    event_partitions: int = 0           # plain PostgreSQL: monthly partitions attached to events
    audit_purge: bool = False           # the SECURITY DEFINER audit retention function (migration 0013)

    def lines(self) -> list[str]:
        """One line per feature, saying on/off and the fallback in use."""
        on = {True: "on", False: "off"}
        if not self.hypertable:
            return ["events: plain PostgreSQL, monthly partitions "
                    f"({self.event_partitions} attached); TimescaleDB {'installed but unused' if self.timescale else 'not installed'}",
                    "hypertable: off (fallback: native range partitions by month)",
                    "compression: off (not available without TimescaleDB)",
                    "retention policy: off (fallback: the maintenance job drops whole monthly partitions)",
                    "continuous aggregates: off (not available without TimescaleDB)",
                    f"audit retention function: {on[self.audit_purge]}"]
        policy = (f"on ({self.retention_policy_days:g} days)" if self.retention_policy_days is not None
                  else "off (fallback: the maintenance job calls drop_chunks)")
        return [f"events: TimescaleDB hypertable (licence {self.licence or 'unknown'})",
                "hypertable: on", f"compression: {on[self.compression]}", f"retention policy: {policy}",
                f"continuous aggregates: {self.continuous_aggregates or 'none'}",
                f"audit retention function: {on[self.audit_purge]}"]


async def _probe(db: Database, sql: str, default: Any = None) -> Any:
    """A feature query that may not apply here (no extension, old version): its default then."""
    try:
        value = await db.fetchval(sql)
    except StoreError:
        return default
    return default if value is None else value


async def features(db: Database) -> DbFeatures:
    """Probe the database for hypertable, compression, retention policy, continuous aggregates and fallbacks."""
    ts = await timescale_enabled(db)
    parts = int(await _probe(db, "SELECT count(*) FROM pg_inherits i JOIN pg_class p ON p.oid = i.inhparent "
                                 "WHERE p.relname = 'events'", 0))
    purge = bool(await _probe(db, "SELECT to_regprocedure('telecare_purge_audit(integer, timestamptz)') IS NOT NULL",
                              False))
    if not ts:
        return DbFeatures(event_partitions=parts, audit_purge=purge)
    # Code-reviewed path (no TimescaleDB in the test environment): timescaledb_information views, 2.x.
    hyper = "FROM timescaledb_information.hypertables WHERE hypertable_name = 'events'"
    policy = await _probe(db, "SELECT extract(epoch FROM (config->>'drop_after')::interval) / 86400 "
                              "FROM timescaledb_information.jobs WHERE proc_name = 'policy_retention' "
                              "AND hypertable_name = 'events' LIMIT 1")
    return DbFeatures(
        timescale=True, licence=await _probe(db, "SELECT current_setting('timescaledb.license', true)"),
        hypertable=bool(await _probe(db, f"SELECT EXISTS (SELECT 1 {hyper})", False)),
        compression=bool(await _probe(db, f"SELECT compression_enabled {hyper}", False)),
        retention_policy_days=None if policy is None else float(policy),
        continuous_aggregates=int(await _probe(db, "SELECT count(*) FROM timescaledb_information.continuous_aggregates", 0)),
        event_partitions=parts, audit_purge=purge)
