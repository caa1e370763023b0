"""Reads for the resident page's series: the rollups, the call log and the devices of one resident."""
from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime

from outreach.task_records import REACHED_OUTCOMES
from telecare.store import Database

from insights.rollup_rows import DeviceDay, RollupRow
from insights.rollups import hourly_source


@dataclass(frozen=True, slots=True)
class CallRow:
    """One call attempt to the resident: when it started and whether it reached them."""

    started_at: datetime
    reached: bool


@dataclass(frozen=True, slots=True)
class DeviceRow:
    """A registered device of the resident."""

    device_id: str
    type: str


class RollupReader:
    """One resident's rollup rows, calls and devices (index range scans on (resident_id, time))."""

    def __init__(self, db: Database) -> None:
        self._db = db
        self._source: str | None = None

    async def hourly(self, resident_id: str, start: datetime, end: datetime,
                     types: list[str] | None = None) -> list[RollupRow]:
        """Hourly rows with start <= hour < end, optionally of some event types, by (hour, type)."""
        if self._source is None:
            self._source = await hourly_source(self._db)
        rows = await self._db.fetch(
            f"""SELECT resident_id, hour, event_type, count, first_ts, last_ts, offsets FROM {self._source}
                WHERE resident_id = %s AND hour >= %s AND hour < %s
                  AND (%s::jsonb IS NULL OR event_type IN (SELECT jsonb_array_elements_text(%s::jsonb)))
                ORDER BY hour, event_type""", (resident_id, start, end, types, types))
        return [RollupRow(r["resident_id"], r["hour"], r["event_type"], r["count"], r["first_ts"], r["last_ts"],
                          tuple(r["offsets"] or ())) for r in rows]

    async def device_days(self, resident_id: str, first: date, last: date) -> list[DeviceDay]:
        """Per-device daily rows with first <= day <= last, by (day, device)."""
        rows = await self._db.fetch(
            """SELECT resident_id, device_id, day, events, last_seen, battery, min_battery FROM device_rollup_daily
               WHERE resident_id = %s AND day BETWEEN %s AND %s ORDER BY day, device_id""",
            (resident_id, first, last))
        return [DeviceDay(r["resident_id"], r["device_id"], r["day"], r["events"], r["last_seen"], r["battery"],
                          r["min_battery"]) for r in rows]

    async def last_seen(self, resident_id: str) -> dict[str, tuple[datetime | None, int | None]]:
        """Each device's newest last-seen and latest battery over all its days."""
        rows = await self._db.fetch(
            """SELECT DISTINCT ON (device_id) device_id, last_seen, battery FROM device_rollup_daily
               WHERE resident_id = %s ORDER BY device_id, day DESC""", (resident_id,))
        return {r["device_id"]: (r["last_seen"], r["battery"]) for r in rows}

    async def calls(self, resident_id: str, start: datetime, end: datetime) -> list[CallRow]:
        """Call attempts to the resident started in [start, end); key-holder calls about alerts left out."""
        rows = await self._db.fetch(
            """SELECT started_at, outcome FROM call_log
               WHERE resident_id = %s AND started_at >= %s AND started_at < %s AND purpose <> 'escalation'
               ORDER BY started_at""", (resident_id, start, end))
        return [CallRow(r["started_at"], r["outcome"] in REACHED_OUTCOMES) for r in rows]

    async def devices(self, resident_id: str) -> list[DeviceRow]:
        """The resident's registered devices."""
        rows = await self._db.fetch("SELECT id, type FROM devices WHERE resident_id = %s ORDER BY id", (resident_id,))
        return [DeviceRow(r["id"], r["type"]) for r in rows]
