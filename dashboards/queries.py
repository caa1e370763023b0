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
        return [EventRow(str(r["id"]), r["ts"], r["received_at"], r["device_id"], r["type"], r["battery"],
                         r["value"]) for r in rows]

    async def ping(self) -> bool:
        """True when the database answers."""
        return await self._db.fetchval("SELECT 1") == 1
