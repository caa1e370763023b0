"""Whether migrations may use TimescaleDB on this server: probed facts in, one decision out (pure), so a server
with the extension installed but not preloaded fails with what to set instead of a bare XX000."""
from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Any

PRELOAD_HINT = "shared_preload_libraries = 'timescaledb'"


class TimescaleMode(StrEnum):
    """TELECARE_TIMESCALE: auto (use it when the server offers it; refuse a half-installed one) or off."""

    AUTO = "auto"
    OFF = "off"


@dataclass(frozen=True, slots=True)
class TimescaleProbe:
    """What the server says: the extension packaged (pg_available_extensions), created here (pg_extension),
    and the server's shared_preload_libraries."""

    available: bool
    installed: bool
    preload_libraries: str = ""


@dataclass(frozen=True, slots=True)
class TimescaleChoice:
    """use: migrations create the events table as a hypertable. error: refuse to migrate, with this message.
    warning: go on, and log this."""

    use: bool
    error: str | None = None
    warning: str | None = None


def preloaded(shared_preload_libraries: str) -> bool:
    """True when the timescaledb library is in a shared_preload_libraries value ("pg_stat_statements,
    timescaledb", "'$libdir/timescaledb'", "timescaledb-2.28.3" ...)."""
    for entry in shared_preload_libraries.split(","):
        name = entry.strip().strip("'\"").rsplit("/", 1)[-1]
        if name == "timescaledb" or name.startswith("timescaledb-") or name.startswith("timescaledb."):
            return True
    return False


def choose(probe: TimescaleProbe, mode: TimescaleMode) -> TimescaleChoice:
    """The decision (pure). A packaged but not preloaded TimescaleDB is refused in auto mode: CREATE EXTENSION
    would fail with XX000, and quietly building plain partitions would fix the events table's layout for good
    on a server whose operator meant to use TimescaleDB. TELECARE_TIMESCALE=off chooses plain PostgreSQL."""
    loaded = preloaded(probe.preload_libraries)
    if probe.installed:
        if not loaded:
            return TimescaleChoice(False, error=(
                "TimescaleDB is created in this database but the server does not preload it: set "
                f"{PRELOAD_HINT} in postgresql.conf (or ALTER SYSTEM SET shared_preload_libraries = 'timescaledb') "
                "and restart PostgreSQL"))
        warning = ("TELECARE_TIMESCALE=off, but the events table already uses TimescaleDB here: it stays so"
                   if mode is TimescaleMode.OFF else None)
        return TimescaleChoice(True, warning=warning)
    if not probe.available:
        return TimescaleChoice(False)
    if mode is TimescaleMode.OFF:
        return TimescaleChoice(False, warning=(
            "TimescaleDB is available on this server but TELECARE_TIMESCALE=off: events use plain PostgreSQL "
            "monthly partitions (choosing TimescaleDB later means migrating the events table)"))
    if not loaded:
        return TimescaleChoice(False, error=(
            "TimescaleDB is installed on this server but not preloaded, so CREATE EXTENSION timescaledb fails. "
            f"Set {PRELOAD_HINT} in postgresql.conf (or ALTER SYSTEM SET shared_preload_libraries = 'timescaledb') "
            "and restart PostgreSQL; or set TELECARE_TIMESCALE=off to keep the events on plain PostgreSQL partitions"))
    return TimescaleChoice(True)


async def probe(db: Any) -> TimescaleProbe:
    """The facts `choose` needs, from the server (works on any PostgreSQL; no Timescale function is called)."""
    row = await db.fetchrow(
        "SELECT EXISTS (SELECT 1 FROM pg_available_extensions WHERE name = 'timescaledb') AS available, "
        "EXISTS (SELECT 1 FROM pg_extension WHERE extname = 'timescaledb') AS installed, "
        "coalesce(current_setting('shared_preload_libraries', true), '') AS preload")
    return TimescaleProbe(bool(row["available"]), bool(row["installed"]), str(row["preload"]))
