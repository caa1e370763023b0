"""Versioned SQL migrations: numbered files applied once each, under an advisory lock."""
from __future__ import annotations

import logging
from datetime import datetime
from importlib import resources

from telecare.store.db import Database

log = logging.getLogger(__name__)

# Any constant works; it only has to be the same for every process that migrates.
_MIGRATION_LOCK = 7_144_223


def migration_files() -> list[tuple[str, str]]:
    """(version, sql) for every bundled migration, in order."""
    folder = resources.files("telecare.store") / "migrations"
    files = sorted(p for p in folder.iterdir() if p.name.endswith(".sql"))
    return [(p.name.removesuffix(".sql"), p.read_text()) for p in files]


async def upgrade(db: Database) -> list[str]:
    """Apply pending migrations; return the versions applied now."""
    applied_now: list[str] = []
    async with db.transaction() as tx:
        await tx.execute("SELECT pg_advisory_xact_lock(%s)", (_MIGRATION_LOCK,))
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
