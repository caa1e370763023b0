"""Real services for tests: embedded PostgreSQL and MQTT broker unless URLs are given.

TELECARE_TEST_DATABASE_URL / TELECARE_TEST_MQTT_URL / TELECARE_TEST_KAFKA_BOOTSTRAP point the suite at existing
servers.
With CI=true a test that would skip for a missing service fails instead.
"""
from __future__ import annotations

import asyncio
import contextlib
import os
import tempfile
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import Any
import time

import pytest

from telecare.store import Database
from telecare.store.migrate import upgrade

IN_CI = os.environ.get("CI", "").lower() == "true"
# The tests written before the pages spoke Catalan read English words; a test of the languages passes
# WebDeps(service_language=...) or sets its own (the service's default stays "ca": telecare/settings.py).
os.environ.setdefault("TELECARE_SERVICE_LANGUAGE", "en")


def unavailable(reason: str) -> None:
    """Skip locally, fail in CI: a missing service must never pass silently there."""
    if IN_CI:
        pytest.fail(f"required service unavailable in CI: {reason}")
    pytest.skip(reason)


@pytest.fixture(scope="session")
def tmp_root() -> Iterator[Path]:
    with tempfile.TemporaryDirectory(prefix="telecare-tests-") as d:
        yield Path(d)


@pytest.fixture(scope="session")
def pg_server_url(tmp_root: Path) -> Iterator[str]:
    """URL of a PostgreSQL server (the admin database)."""
    url = os.environ.get("TELECARE_TEST_DATABASE_URL")
    if url:
        yield url
        return
    from telecare.store.embedded import EmbeddedPostgres

    pg = EmbeddedPostgres(tmp_root / "pg")
    try:
        url = pg.start()
    except Exception as err:  # noqa: BLE001 - any failure here means "no database"
        unavailable(f"embedded PostgreSQL failed to start: {err}")
    yield url
    pg.stop()


def _with_database(url: str, name: str) -> str:
    """Same server, another database name (keeps host/socket query parameters)."""
    from urllib.parse import urlsplit, urlunsplit

    parts = urlsplit(url)
    return urlunsplit(parts._replace(path=f"/{name}"))


@pytest.fixture(scope="session")
async def pg_template(pg_server_url: str) -> str:
    """A migrated template database; each test clones it (CREATE DATABASE … TEMPLATE is fast)."""
    admin = await Database.connect(pg_server_url, min_size=1, max_size=2)
    name = f"telecare_tpl_{uuid.uuid4().hex[:8]}"
    await admin.execute(f'CREATE DATABASE "{name}"')
    db = await Database.connect(_with_database(pg_server_url, name), min_size=1, max_size=2)
    await upgrade(db)
    timescale = await db.fetchval("SELECT EXISTS (SELECT 1 FROM pg_extension WHERE extname = 'timescaledb')")
    if timescale:
        await _stop_timescale_workers(db)
    await db.close()
    if timescale:
        await _close_template(admin, name)
    await admin.close()
    return name


async def _stop_timescale_workers(db: Database) -> None:
    """Stop TimescaleDB's background scheduler of this database (it connects to it and would block every
    CREATE DATABASE … TEMPLATE). The function moved schemas in TimescaleDB 2.12."""
    from telecare.errors import StoreError

    for schema in ("_timescaledb_functions", "_timescaledb_internal"):
        try:
            await db.fetchval(f"SELECT {schema}.stop_background_workers()")
            return
        except StoreError:
            continue


async def _close_template(admin: Database, name: str) -> None:
    """Make the template a template that takes no connections: TimescaleDB (2.19+) starts no scheduler for such
    a database, so none reconnects to it between clones; any backend still there is ended."""
    await admin.execute(f'ALTER DATABASE "{name}" WITH IS_TEMPLATE true ALLOW_CONNECTIONS false')
    await admin.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                        "WHERE datname = %s AND pid <> pg_backend_pid()", (name,))


def _template_busy(err: BaseException) -> bool:
    """CREATE DATABASE … TEMPLATE refused because another session is connected to the template (55006)."""
    return getattr(err.__cause__, "sqlstate", None) == "55006"


async def _clone(admin: Database, name: str, template: str, deadline_s: float = 30.0) -> None:
    """CREATE DATABASE … TEMPLATE, retried while a background worker briefly holds the template (TimescaleDB's
    scheduler); any other failure, or a template still busy at the deadline, raises."""
    from telecare.errors import StoreError

    end, pause = time.monotonic() + deadline_s, 0.05
    while True:
        try:
            await admin.execute(f'CREATE DATABASE "{name}" TEMPLATE "{template}"')
            return
        except StoreError as err:
            if not _template_busy(err) or time.monotonic() > end:
                raise
        with contextlib.suppress(StoreError):  # needs pg_signal_backend; the retry says whether it mattered
            await admin.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                                "WHERE datname = %s AND pid <> pg_backend_pid()", (template,))
        await asyncio.sleep(pause)  # back-off between retries of a refused statement, bounded by the deadline
        pause = min(pause * 2, 1.0)


@pytest.fixture
async def db_url(pg_server_url: str, pg_template: str) -> AsyncIterator[str]:
    """URL of a fresh, migrated, empty database for one test."""
    admin = await Database.connect(pg_server_url, min_size=1, max_size=1)
    name = f"t_{uuid.uuid4().hex[:12]}"
    await _clone(admin, name, pg_template)
    yield _with_database(pg_server_url, name)
    await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    await admin.close()


@pytest.fixture
async def db(db_url: str) -> AsyncIterator[Database]:
    """An open pool on a fresh, migrated database."""
    database = await Database.connect(db_url, min_size=1, max_size=5)
    yield database
    await database.close()


@pytest.fixture(scope="session")
def mqtt_url(tmp_root: Path) -> Iterator[str]:
    """URL of a real MQTT broker (embedded mosquitto unless TELECARE_TEST_MQTT_URL is set)."""
    url = os.environ.get("TELECARE_TEST_MQTT_URL")
    if url:
        yield url
        return
    from demo.broker import EmbeddedBroker, free_port

    broker = EmbeddedBroker(tmp_root / "mqtt", free_port())
    try:
        url = broker.start()
    except Exception as err:  # noqa: BLE001
        unavailable(f"embedded MQTT broker failed to start: {err}")
    yield url
    broker.stop()


def start_kafka(data_dir: Path, port: int = 0):
    """An EmbeddedKafka started in `data_dir` (jars fetched on first use); skip locally / fail in CI if it cannot."""
    from demo.kafka_broker import EmbeddedKafka

    broker = EmbeddedKafka(data_dir, port)
    try:
        broker.start()
    except Exception as err:  # noqa: BLE001 - no Java/Maven, no Maven Central, or the broker died
        unavailable(f"embedded Kafka broker failed to start: {err}")
    return broker


@pytest.fixture(scope="session")
def kafka_bootstrap(tmp_root: Path) -> Iterator[str]:
    """host:port of a real Kafka broker: one embedded KRaft node per session unless TELECARE_TEST_KAFKA_BOOTSTRAP."""
    bootstrap = os.environ.get("TELECARE_TEST_KAFKA_BOOTSTRAP")
    if bootstrap:
        yield bootstrap
        return
    broker = start_kafka(tmp_root / "kafka")
    yield broker.bootstrap
    broker.stop()


async def eventually(check: Callable[[], Any], timeout: float = 10.0, interval: float = 0.05) -> Any:
    """Poll `check` (sync or async) until it returns something truthy, or fail at the deadline."""
    deadline = time.monotonic() + timeout
    last: Any = None
    while time.monotonic() < deadline:
        last = check()
        if asyncio.iscoroutine(last):
            last = await last
        if last:
            return last
        await asyncio.sleep(interval)
    raise AssertionError(f"condition not met within {timeout}s (last value: {last!r})")
