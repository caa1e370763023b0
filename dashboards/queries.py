"""Read-only queries over residents and events for the operator screen (writes live elsewhere)."""
from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from telecare.errors import NotFound
from telecare.store import Database

from dashboards.views import ResidentCard, card_from_row

_CARD_COLUMNS = """id, name, timezone, date_of_birth, address, phones, language, at_home, risk_flags, contacts,
    (key_safe_code IS NOT NULL AND key_safe_code <> '') AS has_key_safe"""

# The resident card's day: alarms always shown whole, other activity newest first, heartbeats as counts.
ALARM_EVENT_TYPES = ("help_button", "fall", "medication_missed", "tamper", "low_battery", "gateway_offline")
HEARTBEAT_EVENT_TYPES = ("heartbeat",)
DAY_ALARMS_LIMIT = 200
DAY_ACTIVITY_LIMIT = 300

# Names are looked up for every alert on the live stream; a small cache keeps that off the database.
_NAME_CACHE_LIMIT = 5_000


@dataclass(frozen=True, slots=True)
class EventRow:
    """One stored event as the resident card lists it."""

    id: str
    ts: datetime
    received_at: datetime
    device_id: str
    type: str
    battery: int | None
    value: Any

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return {"id": self.id, "ts": self.ts.isoformat(), "received_at": self.received_at.isoformat(),
                "device_id": self.device_id, "type": self.type, "battery": self.battery, "value": self.value}


@dataclass(frozen=True, slots=True)
class HeartbeatSummary:
    """A device's heartbeats in the period: how many, first and last seen."""

    device_id: str
    count: int
    first_seen: datetime
    last_seen: datetime

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return {"device_id": self.device_id, "count": self.count, "first_seen": self.first_seen.isoformat(),
                "last_seen": self.last_seen.isoformat()}


@dataclass(frozen=True, slots=True)
class DaySummary:
    """The resident card's recent period: alarms first, then activity, heartbeats summarised."""

    alarms: tuple[EventRow, ...]
    activity: tuple[EventRow, ...]
    activity_total: int  # activity events in the period (more than listed when capped)
    heartbeats: tuple[HeartbeatSummary, ...]

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form; `events` is alarms then activity, each newest first."""
        return {"alarms": [e.to_dict() for e in self.alarms], "activity": [e.to_dict() for e in self.activity],
                "activity_total": self.activity_total, "heartbeats": [h.to_dict() for h in self.heartbeats],
                "events": [e.to_dict() for e in self.alarms + self.activity]}


def _event_row(r: dict[str, Any]) -> EventRow:
    return EventRow(str(r["id"]), r["ts"], r["received_at"], r["device_id"], r["type"], r["battery"], r["value"])


class ResidentQueries:
    """Resident cards, names, key-safe codes and recent events, read straight from the tables."""

    def __init__(self, db: Database) -> None:
        self._db = db
        self._names: dict[str, str] = {}

    async def card(self, resident_id: str, now: datetime) -> ResidentCard:
        """The resident card (no key-safe code); NotFound for an unknown id."""
        row = await self._db.fetchrow(f"SELECT {_CARD_COLUMNS} FROM residents WHERE id = %s", (resident_id,))
        if row is None:
            raise NotFound(f"resident {resident_id} does not exist")
        return card_from_row(row, now)

    async def key_safe_code(self, resident_id: str) -> str:
        """The key-safe code; NotFound if the resident or the code is missing. Callers must audit."""
        row = await self._db.fetchrow("SELECT key_safe_code FROM residents WHERE id = %s", (resident_id,))
        if row is None:
            raise NotFound(f"resident {resident_id} does not exist")
        if not row["key_safe_code"]:
            raise NotFound(f"resident {resident_id} has no key-safe code on record")
        return row["key_safe_code"]

    async def names(self, resident_ids: Iterable[str]) -> dict[str, str]:
        """Display names for the given ids (unknown ids are left out)."""
        wanted = set(resident_ids)
        missing = [r for r in wanted if r not in self._names]
        if missing:
            rows = await self._db.fetch(
                "SELECT id, name FROM residents WHERE id IN (SELECT jsonb_array_elements_text(%s))", (missing,))
            if len(self._names) + len(rows) > _NAME_CACHE_LIMIT:
                self._names.clear()
            self._names.update({r["id"]: r["name"] for r in rows})
        return {r: self._names[r] for r in wanted if r in self._names}

    async def events(self, resident_id: str, since: datetime, limit: int = 500) -> list[EventRow]:
        """The resident's events since `since`, newest first; NotFound for an unknown resident."""
        if not await self._db.fetchval("SELECT EXISTS (SELECT 1 FROM residents WHERE id = %s)", (resident_id,)):
            raise NotFound(f"resident {resident_id} does not exist")
        rows = await self._db.fetch(
            """SELECT id, ts, received_at, device_id, type, battery, value FROM events
               WHERE resident_id = %s AND ts >= %s ORDER BY ts DESC LIMIT %s""",
            (resident_id, since, limit),
        )
        return [_event_row(r) for r in rows]

    async def day(self, resident_id: str, since: datetime) -> DaySummary:
        """The card's "last N hours": every alarm, the latest activity and a heartbeat count per device.

        Heartbeats outnumber everything else (one per device every few minutes): listed one by one they
        pushed the fall of the morning out of the list, so they are counted, never listed.
        """
        if not await self._db.fetchval("SELECT EXISTS (SELECT 1 FROM residents WHERE id = %s)", (resident_id,)):
            raise NotFound(f"resident {resident_id} does not exist")
        cols = "id, ts, received_at, device_id, type, battery, value"
        alarms = await self._db.fetch(
            f"""SELECT {cols} FROM events WHERE resident_id = %s AND ts >= %s
                  AND type IN (SELECT jsonb_array_elements_text(%s)) ORDER BY ts DESC LIMIT %s""",
            (resident_id, since, list(ALARM_EVENT_TYPES), DAY_ALARMS_LIMIT))
        skip = list(ALARM_EVENT_TYPES + HEARTBEAT_EVENT_TYPES)
        activity = await self._db.fetch(
            f"""SELECT {cols}, count(*) OVER () AS total FROM events WHERE resident_id = %s AND ts >= %s
                  AND type NOT IN (SELECT jsonb_array_elements_text(%s)) ORDER BY ts DESC LIMIT %s""",
            (resident_id, since, skip, DAY_ACTIVITY_LIMIT))
        beats = await self._db.fetch(
            """SELECT device_id, count(*) AS n, min(ts) AS first, max(ts) AS last FROM events
               WHERE resident_id = %s AND ts >= %s AND type IN (SELECT jsonb_array_elements_text(%s))
               GROUP BY device_id ORDER BY device_id""", (resident_id, since, list(HEARTBEAT_EVENT_TYPES)))
        return DaySummary(
            tuple(_event_row(r) for r in alarms), tuple(_event_row(r) for r in activity),
            int(activity[0]["total"]) if activity else 0,
            tuple(HeartbeatSummary(r["device_id"], int(r["n"]), r["first"], r["last"]) for r in beats))

    async def ping(self) -> bool:
        """True when the database answers."""
        return await self._db.fetchval("SELECT 1") == 1
