"""The only module that imports psycopg: a small async facade over a connection pool."""
from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any

import psycopg
from psycopg import errors as pg_errors
from psycopg.rows import dict_row
from psycopg.types.json import JsonbBinaryDumper
from psycopg_pool import AsyncConnectionPool

from telecare.errors import ConflictError, StoreError

log = logging.getLogger(__name__)

# A new connection to a server that does not answer gives up after this (a refused one fails at once).
CONNECT_TIMEOUT_S = 5
# Waiting for a pooled connection ends in StoreError after this, so no caller hangs while the server is down.
ACQUIRE_TIMEOUT_S = 10.0
# psycopg_pool backs off 1, 2, 4, 8 s... without a cap while refilling; ending each refill attempt early
# lets the next request start a fresh one, so the pool is back within ~2 s of the server.
POOL_RECONNECT_WINDOW_S = 4.0
# The LISTEN connection's reconnect back-off: capped exponential with jitter.
LISTEN_BACKOFF_MIN_S, LISTEN_BACKOFF_MAX_S = 0.1, 2.0
# A silent LISTEN connection is probed this often: a server that vanished without a word is noticed.
LISTEN_PROBE_S = 5.0


def _translate(err: psycopg.Error) -> StoreError:
    """One place where driver errors become ours, with a message fit for an operator."""
    if isinstance(err, pg_errors.UniqueViolation):
        return ConflictError(f"conflicting record: {err.diag.constraint_name or 'unique key'}")
    if isinstance(err, pg_errors.ForeignKeyViolation):
        return ConflictError(f"refers to a record that does not exist ({err.diag.constraint_name})")
    if isinstance(err, pg_errors.CheckViolation):
        return ConflictError(f"value not allowed ({err.diag.constraint_name})")
    if isinstance(err, psycopg.OperationalError):
        return StoreError("the database is unavailable")
    return StoreError(f"database error: {err.sqlstate or type(err).__name__}")


@dataclass(frozen=True, slots=True)
class ListenerState:
    """Yielded by Database.listen when its connection comes up (connected) or drops (not connected)."""

    connected: bool
    at: datetime
    detail: str = ""  # operator-safe: the error class, never a payload


class Tx:
    """A transaction on one connection; same query methods as Database."""

    def __init__(self, conn: psycopg.AsyncConnection) -> None:
        self._conn = conn

    async def execute(self, sql: str, params: Sequence[Any] | dict[str, Any] | None = None) -> int:
        """Run a statement; return the affected row count."""
        try:
            cur = await self._conn.execute(sql, params)
        except psycopg.Error as err:
            raise _translate(err) from err
        return cur.rowcount

    async def executemany(self, sql: str, rows: Sequence[Sequence[Any]]) -> None:
        """Run one statement for many parameter rows (pipelined)."""
        try:
            async with self._conn.cursor() as cur:
                await cur.executemany(sql, rows)
        except psycopg.Error as err:
            raise _translate(err) from err

    async def fetch(self, sql: str, params: Sequence[Any] | dict[str, Any] | None = None) -> list[dict[str, Any]]:
        """All rows as dicts."""
        try:
            cur = await self._conn.execute(sql, params)
            return await cur.fetchall() if cur.description else []
        except psycopg.Error as err:
            raise _translate(err) from err

    async def fetchrow(self, sql: str, params: Sequence[Any] | dict[str, Any] | None = None) -> dict[str, Any] | None:
        """The first row as a dict, or None."""
        rows = await self.fetch(sql, params)
        return rows[0] if rows else None

    async def fetchval(self, sql: str, params: Sequence[Any] | dict[str, Any] | None = None) -> Any:
        """The first column of the first row, or None."""
        row = await self.fetchrow(sql, params)
        return next(iter(row.values())) if row else None

    async def copy_rows(self, table: str, columns: Sequence[str], rows: Sequence[Sequence[Any]]) -> int:
        """Bulk-load rows with COPY (dicts/lists go into jsonb columns)."""
        cols = ", ".join(columns)
        try:
            async with self._conn.cursor() as cur:
                async with cur.copy(f"COPY {table} ({cols}) FROM STDIN") as copy:
                    for row in rows:
                        await copy.write_row(row)
        except psycopg.Error as err:
            raise _translate(err) from err
        return len(rows)

    async def copy_binary(self, table: str, columns: Sequence[str], types: Sequence[str],
                          rows: Sequence[Sequence[Any]]) -> int:
        """Bulk-load rows with binary COPY (`types`: the columns' PostgreSQL types; no text formatting)."""
        cols = ", ".join(columns)
        try:
            async with self._conn.cursor() as cur:
                async with cur.copy(f"COPY {table} ({cols}) FROM STDIN (FORMAT BINARY)") as copy:
                    copy.set_types(types)
                    for row in rows:
                        await copy.write_row(row)
        except psycopg.Error as err:
            raise _translate(err) from err
        return len(rows)


class Database:
    """The pool. Build one per process in the bootstrap and pass it in."""

    def __init__(self, pool: AsyncConnectionPool, url: str) -> None:
        self._pool = pool
        self.url = url

    @classmethod
    async def connect(cls, url: str, *, min_size: int = 1, max_size: int = 10,
                      acquire_timeout: float = ACQUIRE_TIMEOUT_S) -> Database:
        """Open a pool and check that the server answers."""

        async def configure(conn: psycopg.AsyncConnection) -> None:
            conn.adapters.register_dumper(dict, JsonbBinaryDumper)
            conn.adapters.register_dumper(list, JsonbBinaryDumper)

        # check: a connection broken by a server restart is replaced when taken, not handed to a caller.
        pool = AsyncConnectionPool(
            url, min_size=min_size, max_size=max_size, open=False, configure=configure,
            check=AsyncConnectionPool.check_connection, timeout=acquire_timeout,
            reconnect_timeout=POOL_RECONNECT_WINDOW_S,
            kwargs={"row_factory": dict_row, "autocommit": True, "connect_timeout": CONNECT_TIMEOUT_S},
        )
        try:
            await pool.open(wait=True, timeout=15)
        except psycopg.Error as err:
            raise StoreError("cannot connect to the database") from err
        except Exception as err:  # PoolTimeout is not a psycopg.Error subclass in every version
            await pool.close()
            raise StoreError(f"cannot connect to the database: {type(err).__name__}") from err
        return cls(pool, url)

    async def close(self) -> None:
        await self._pool.close()

    @asynccontextmanager
    async def _pooled(self) -> AsyncIterator[psycopg.AsyncConnection]:
        """A pooled connection; no connection in time (server down, pool closed) is a StoreError."""
        try:
            conn = await self._pool.getconn()
        except psycopg.Error as err:
            raise _translate(err) from err
        try:
            async with conn:  # what pool.connection() does: commit or roll back, keep it for the pool
                yield conn
        finally:
            await self._pool.putconn(conn)

    @asynccontextmanager
    async def transaction(self, *, durable: bool = True) -> AsyncIterator[Tx]:
        """A connection in a transaction; commits on success, rolls back on error.

        durable=False: the commit does not wait for its WAL flush (`synchronous_commit = off` for this
        transaction only): a crash may lose it, never half of it. Only for writes that can be redone.
        """
        async with self._pooled() as conn:
            try:
                async with conn.transaction():
                    if not durable:
                        await conn.execute("SET LOCAL synchronous_commit = off")
                    yield Tx(conn)
            except psycopg.Error as err:
                raise _translate(err) from err

    @asynccontextmanager
    async def connection(self) -> AsyncIterator[Tx]:
        """A pooled autocommit connection (each statement commits on its own)."""
        async with self._pooled() as conn:
            yield Tx(conn)

    async def execute(self, sql: str, params: Sequence[Any] | dict[str, Any] | None = None) -> int:
        async with self.connection() as tx:
            return await tx.execute(sql, params)

    async def fetch(self, sql: str, params: Sequence[Any] | dict[str, Any] | None = None) -> list[dict[str, Any]]:
        async with self.connection() as tx:
            return await tx.fetch(sql, params)

    async def fetchrow(self, sql: str, params: Sequence[Any] | dict[str, Any] | None = None) -> dict[str, Any] | None:
        async with self.connection() as tx:
            return await tx.fetchrow(sql, params)

    async def fetchval(self, sql: str, params: Sequence[Any] | dict[str, Any] | None = None) -> Any:
        async with self.connection() as tx:
            return await tx.fetchval(sql, params)

    async def notify(self, channel: str, payload: str) -> None:
        """pg_notify on a channel (payload < 8000 bytes)."""
        await self.execute("SELECT pg_notify(%s, %s)", (channel, payload))

    async def listen(self, channel: str) -> AsyncIterator[str | ListenerState]:
        """NOTIFY payloads on a channel, on a dedicated connection, until cancelled; never ends on a lost server.

        Yields ListenerState(connected=True) each time LISTEN is live (first time included) and
        ListenerState(connected=False) once per outage; meanwhile it reconnects with capped back-off.
        """
        delay, down = LISTEN_BACKOFF_MIN_S, False
        while True:
            failure: psycopg.Error | None = None
            try:
                conn = await psycopg.AsyncConnection.connect(self.url, autocommit=True,
                                                             connect_timeout=CONNECT_TIMEOUT_S)
            except psycopg.Error as err:
                failure = err
            else:
                try:
                    await conn.execute(f'LISTEN "{channel}"')
                    delay, down = LISTEN_BACKOFF_MIN_S, False
                    yield ListenerState(True, _now())
                    while True:
                        async for note in conn.notifies(timeout=LISTEN_PROBE_S):
                            yield note.payload
                        await conn.execute("SELECT 1")  # notifies arriving meanwhile wait in psycopg's backlog
                except psycopg.Error as err:
                    failure = err
                finally:
                    await conn.close()
            if not down:
                down = True
                log.warning("LISTEN %s lost its connection (%s); reconnecting", channel, type(failure).__name__)
                yield ListenerState(False, _now(), f"{type(failure).__name__}: the database is unavailable")
            await asyncio.sleep(delay * random.uniform(0.5, 1.0))  # jitter: listeners do not retry in step
            delay = min(delay * 2, LISTEN_BACKOFF_MAX_S)


def _now() -> datetime:
    return datetime.now(timezone.utc)
