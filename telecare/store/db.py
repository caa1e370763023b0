"""The only module that imports psycopg: a small async facade over a connection pool."""
from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from typing import Any

import psycopg
from psycopg import errors as pg_errors
from psycopg.rows import dict_row
from psycopg.types.json import JsonbBinaryDumper
from psycopg_pool import AsyncConnectionPool

from telecare.errors import ConflictError, StoreError

log = logging.getLogger(__name__)


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


class Database:
    """The pool. Build one per process in the bootstrap and pass it in."""

    def __init__(self, pool: AsyncConnectionPool, url: str) -> None:
        self._pool = pool
        self.url = url

    @classmethod
    async def connect(cls, url: str, *, min_size: int = 1, max_size: int = 10) -> Database:
        """Open a pool and check that the server answers."""

        async def configure(conn: psycopg.AsyncConnection) -> None:
            conn.adapters.register_dumper(dict, JsonbBinaryDumper)
            conn.adapters.register_dumper(list, JsonbBinaryDumper)

        pool = AsyncConnectionPool(
            url, min_size=min_size, max_size=max_size, open=False, configure=configure,
            kwargs={"row_factory": dict_row, "autocommit": True},
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
    async def transaction(self) -> AsyncIterator[Tx]:
        """A connection in a transaction; commits on success, rolls back on error."""
        async with self._pool.connection() as conn:
            try:
                async with conn.transaction():
                    yield Tx(conn)
            except psycopg.Error as err:
                raise _translate(err) from err

    @asynccontextmanager
    async def connection(self) -> AsyncIterator[Tx]:
        """A pooled autocommit connection (each statement commits on its own)."""
        async with self._pool.connection() as conn:
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

    async def listen(self, channel: str) -> AsyncIterator[str]:
        """Yield NOTIFY payloads on a channel, on a dedicated connection, until cancelled."""
        try:
            conn = await psycopg.AsyncConnection.connect(self.url, autocommit=True)
        except psycopg.Error as err:
            raise _translate(err) from err
        try:
            await conn.execute(f'LISTEN "{channel}"')
            async for note in conn.notifies():
                yield note.payload
        finally:
            await conn.close()
