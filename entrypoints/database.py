"""Opening the database: TELECARE_DATABASE_URL, or the embedded PostgreSQL in the data dir (never a new one by accident)."""
from __future__ import annotations

import asyncio
from contextlib import AsyncExitStack

from telecare.errors import ConfigError
from telecare.settings import Settings
from telecare.store import Database


class NoDatabase(ConfigError):
    """A command that needs an existing database found none (exit 2 with this message)."""


def no_database(settings: Settings, found: str) -> NoDatabase:
    """The refusal, saying what was (not) found and how to point the command at the right database."""
    d = settings.data_dir.resolve()
    return NoDatabase(
        f"{found}. Point --data-dir (or TELECARE_DATA_DIR) at the demo's data directory, set "
        f"TELECARE_DATABASE_URL, or create one with `telecare db upgrade --data-dir {d}` (or `telecare demo`)")


async def open_database(settings: Settings, stack: AsyncExitStack, *, create: bool = False) -> Database:
    """Connect to TELECARE_DATABASE_URL, or the embedded PostgreSQL in the data dir (shared with a running demo).

    Only `create=True` (demo, `db upgrade`) may make a new embedded database: any other command pointed at the
    wrong folder would otherwise report an empty platform ("0 devices") from a database it just made.
    """
    url = settings.database_url
    if url is None:
        from telecare.store.embedded import EmbeddedPostgres

        pgdata = settings.data_dir / "pg"
        if not create and not (pgdata / "PG_VERSION").exists():
            raise no_database(settings, f"no database in {settings.data_dir.resolve()}")
        settings.data_dir.mkdir(parents=True, exist_ok=True)
        # A second opener while the demo runs shares its server (pgserver reads postmaster.pid and counts
        # handles); the last handle to close stops it.
        pg = EmbeddedPostgres(pgdata)
        url = await asyncio.to_thread(pg.start)
        stack.callback(pg.stop)
    db = await Database.connect(url, min_size=2, max_size=settings.db_pool_size)
    stack.push_async_callback(db.close)
    return db


async def has_schema(db: Database) -> bool:
    """True when the telecare tables exist (at least one migration applied)."""
    return bool(await db.fetchval("SELECT to_regclass('schema_migrations') IS NOT NULL"))
