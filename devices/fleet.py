"""Every gateway and sensor with its last report, battery and commissioning state (reads only).

What an installer may see: ids, serials, rooms, the installation address, technical state. Never a phone,
a name, a note or what an event said. Last seen and battery come from the daily device rollup for the fleet
(kept by the insights job, ~30 s behind) and straight from the events table for one gateway's page.
"""
from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime
from enum import StrEnum

from insights.quality import OFFLINE_AFTER
from telecare.events import DeviceType
from telecare.store import Database

DEFAULT_LOW_BATTERY = 20  # percent; a resident's care plan may set its own (low_battery_percent)


class FleetStatus(StrEnum):
    """The fleet page's filters."""

    ALL = "all"
    OFFLINE = "offline"
    LOW_BATTERY = "low_battery"
    NEVER_COMMISSIONED = "never_commissioned"


@dataclass(frozen=True, slots=True)
class FleetDevice:
    """One device's row on the fleet page and in the visit list."""

    device_id: str
    type: DeviceType
    gateway_id: str
    resident_id: str
    serial: str
    room: str
    address: str
    registered_at: datetime
    last_seen: datetime | None
    battery: int | None
    low_battery_percent: int
    commissioned_at: datetime | None
    firmware: str | None = None
    model: str | None = None

    def online(self, now: datetime) -> bool:
        """Heard from within the last 24 h (the quality board's "offline" is the same rule)."""
        return self.last_seen is not None and now - self.last_seen <= OFFLINE_AFTER

    def low_battery(self) -> bool:
        """The last reported level is below the resident's threshold."""
        return self.battery is not None and self.battery < self.low_battery_percent

    def matches(self, status: FleetStatus, now: datetime) -> bool:
        """Whether the row passes the filter."""
        return {FleetStatus.ALL: True, FleetStatus.OFFLINE: not self.online(now),
                FleetStatus.LOW_BATTERY: self.low_battery(),
                FleetStatus.NEVER_COMMISSIONED: self.commissioned_at is None}[status]

    def to_dict(self, now: datetime) -> dict[str, object]:
        """JSON form (address included: the installer goes there)."""
        iso = lambda t: t.isoformat() if t else None  # noqa: E731
        return {"device_id": self.device_id, "type": self.type.value, "gateway_id": self.gateway_id,
                "resident_id": self.resident_id, "serial": self.serial, "room": self.room, "address": self.address,
                "registered_at": iso(self.registered_at), "last_seen": iso(self.last_seen), "battery": self.battery,
                "online": self.online(now), "low_battery": self.low_battery(),
                "commissioned": self.commissioned_at is not None, "commissioned_at": iso(self.commissioned_at),
                "firmware": self.firmware, "model": self.model}


CSV_COLUMNS = ("gateway_id", "device_id", "type", "serial", "room", "address", "online", "last_seen", "battery",
               "low_battery", "commissioned", "firmware", "model")

_ROLLUP_SEEN = """
    LEFT JOIN LATERAL (SELECT x.last_seen FROM device_rollup_daily x WHERE x.device_id = d.id
                       AND x.last_seen IS NOT NULL ORDER BY x.day DESC LIMIT 1) s ON true
    LEFT JOIN LATERAL (SELECT x.battery FROM device_rollup_daily x WHERE x.device_id = d.id
                       AND x.battery IS NOT NULL ORDER BY x.day DESC LIMIT 1) b ON true"""
_EVENTS_SEEN = """
    LEFT JOIN LATERAL (SELECT e.received_at AS last_seen FROM events e WHERE e.device_id = d.id
                       AND e.type <> 'gateway_offline' ORDER BY e.ts DESC LIMIT 1) s ON true
    LEFT JOIN LATERAL (SELECT e.battery FROM events e WHERE e.device_id = d.id AND e.battery IS NOT NULL
                       ORDER BY e.ts DESC LIMIT 1) b ON true"""
_SELECT = """
    SELECT d.id, d.type, d.gateway_id, d.resident_id, d.registered_at,
           COALESCE(i.serial, gs.serial, '') AS serial, COALESCE(i.room, '') AS room,
           COALESCE(NULLIF(site.address, ''), r.address, '') AS address,
           COALESCE((r.care_plan->>'low_battery_percent')::int, {low}) AS low_pct,
           s.last_seen, b.battery,
           (SELECT max(cr.reported_at) FROM commissioning_results cr WHERE cr.device_id = d.id) AS commissioned_at
    FROM devices d JOIN residents r ON r.id = d.resident_id
    LEFT JOIN device_installs i ON i.device_id = d.id
    LEFT JOIN gateway_sites gs ON gs.gateway_id = d.id
    LEFT JOIN gateway_sites site ON site.gateway_id = d.gateway_id
    {seen}
    WHERE {where}
    ORDER BY d.gateway_id, d.type <> 'gateway', d.id"""
_REPORTED = """
    SELECT DISTINCT ON (e.device_id) e.device_id, e.value->>'firmware' AS firmware, e.value->>'model' AS model
    FROM events e WHERE e.device_id IN (SELECT jsonb_array_elements_text(%s)) AND jsonb_typeof(e.value) = 'object'
                    AND (e.value ? 'firmware' OR e.value ? 'model')
    ORDER BY e.device_id, e.ts DESC"""


def _row(r: dict) -> FleetDevice:
    return FleetDevice(r["id"], DeviceType(r["type"]), r["gateway_id"], r["resident_id"], r["serial"], r["room"],
                       r["address"], r["registered_at"], r["last_seen"], r["battery"], r["low_pct"],
                       r["commissioned_at"])


class FleetQueries:
    """The fleet and one gateway's devices."""

    def __init__(self, db: Database) -> None:
        self._db = db

    async def _select(self, where: str, params: tuple, seen: str) -> list[dict]:
        return await self._db.fetch(_SELECT.format(low=DEFAULT_LOW_BATTERY, seen=seen, where=where), params)

    async def with_reports(self, rows: list[FleetDevice]) -> list[FleetDevice]:
        """Rows with the firmware and model their devices last reported (in an event's value)."""
        ids = [r.device_id for r in rows]
        reported = {r["device_id"]: r for r in await self._db.fetch(_REPORTED, (ids,))} if ids else {}
        return [replace(r, firmware=reported[r.device_id]["firmware"], model=reported[r.device_id]["model"])
                if r.device_id in reported else r for r in rows]

    async def fleet(self) -> list[FleetDevice]:
        """Every device's row (without firmware: `with_reports` adds it to the rows shown)."""
        return [_row(r) for r in await self._select("true", (), _ROLLUP_SEEN)]

    async def gateway(self, gateway_id: str) -> list[FleetDevice]:
        """One gateway and its sensors, fresh from the events table."""
        return await self.with_reports([_row(r) for r in await self._select("d.gateway_id = %s", (gateway_id,),
                                                                             _EVENTS_SEEN)])


def page_of(rows: list[FleetDevice], status: FleetStatus, now: datetime, page: int, size: int
            ) -> tuple[list[FleetDevice], int]:
    """The rows passing the filter on page `page` (1-based), and how many passed."""
    kept = [r for r in rows if r.matches(status, now)]
    return kept[(page - 1) * size: page * size], len(kept)
