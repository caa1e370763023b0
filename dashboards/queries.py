"""Read-only queries over residents and events for the operator screen (writes live elsewhere)."""
from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from telecare.alerts import ACTIVE_STATUSES, Alert, AlertStatus, AlertType, Severity, alert_from_row
from telecare.errors import NotFound
from telecare.store import Database

from dashboards.views import ResidentCard, card_from_row, escalation_view

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

    async def active_alerts_by_severity(self) -> dict[str, int]:
        """Open or acknowledged alerts per severity (every severity present, zero included)."""
        rows = await self._db.fetch("SELECT severity, count(*) AS n FROM alerts"
                                    " WHERE status IN ('open', 'acknowledged') GROUP BY severity")
        counts = {s.value: 0 for s in Severity}
        counts.update({r["severity"]: int(r["n"]) for r in rows})
        return counts


_ALERT_COLUMNS = """a.id, a.resident_id, a.type, a.severity, a.status, a.raised_at, a.first_event_at, a.last_event_at,
    a.count, a.reason, a.device_id, a.delayed, a.acknowledged_at, a.acknowledged_by, a.resolved_at, a.resolved_by,
    a.outcome, a.note, a.reason_template, a.reason_params, r.name AS resident_name, e.tier, e.state, e.next_at, e.round"""


@dataclass(frozen=True, slots=True)
class AlertFilter:
    """What the queue asks for: statuses (active by default), optional severity/type/resident, a name search,
    and for resolved alerts how far back."""

    statuses: tuple[AlertStatus, ...] = ACTIVE_STATUSES
    resident_id: str | None = None
    severity: Severity | None = None
    type: AlertType | None = None
    search: str | None = None  # part of the resident's name (or id), case-insensitive
    resolved_since: datetime | None = None
    limit: int = 500


@dataclass(frozen=True, slots=True)
class AlertRow:
    """An alert with what the queue shows beside it: the resident's name and the escalation (or None)."""

    alert: Alert
    resident_name: str | None
    escalation: dict[str, Any] | None


def _like(text: str) -> str:
    """An ILIKE pattern matching `text` anywhere, with the user's % and _ taken literally."""
    return "%" + text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"


def _alert_row(row: dict[str, Any]) -> AlertRow:
    name = row.pop("resident_name")
    esc = {k: row.pop(k) for k in ("tier", "state", "next_at", "round")}
    return AlertRow(alert_from_row(row), name, escalation_view(esc))


class AlertQueries:
    """Read-only: alerts with resident names and escalation state in one JOIN (the escalator writes escalations,
    the alert store writes alerts; the web may run neither)."""

    def __init__(self, db: Database) -> None:
        self._db = db

    async def alerts(self, f: AlertFilter) -> list[AlertRow]:
        """Alerts matching the filter; resolved ones newest first, active ones most severe then oldest."""
        order = ("a.resolved_at DESC" if f.statuses == (AlertStatus.RESOLVED,) else
                 "CASE a.severity WHEN 'critical' THEN 0 WHEN 'high' THEN 1 WHEN 'medium' THEN 2 ELSE 3 END, a.raised_at")
        rows = await self._db.fetch(
            f"""SELECT {_ALERT_COLUMNS} FROM alerts a
                LEFT JOIN residents r ON r.id = a.resident_id
                LEFT JOIN escalations e ON e.alert_id = a.id
                WHERE a.status IN (SELECT jsonb_array_elements_text(%(statuses)s))
                  AND (%(resident)s::text IS NULL OR a.resident_id = %(resident)s)
                  AND (%(severity)s::text IS NULL OR a.severity = %(severity)s)
                  AND (%(type)s::text IS NULL OR a.type = %(type)s)
                  AND (%(search)s::text IS NULL OR r.name ILIKE %(search)s OR a.resident_id ILIKE %(search)s)
                  AND (%(since)s::timestamptz IS NULL OR a.resolved_at >= %(since)s)
                ORDER BY {order}, a.id LIMIT %(limit)s""",
            {"statuses": [s.value for s in f.statuses], "resident": f.resident_id,
             "severity": f.severity.value if f.severity else None, "type": f.type.value if f.type else None,
             "search": _like(f.search) if f.search else None, "since": f.resolved_since, "limit": f.limit})
        return [_alert_row(r) for r in rows]

    async def annotate(self, alert: Alert) -> AlertRow:
        """Name and escalation for one alert (what a live change frame needs), in one query."""
        row = await self._db.fetchrow(
            """SELECT r.name AS resident_name, e.tier, e.state, e.next_at, e.round
               FROM (SELECT %(rid)s::text AS rid, %(id)s::bigint AS aid) k
               LEFT JOIN residents r ON r.id = k.rid LEFT JOIN escalations e ON e.alert_id = k.aid""",
            {"rid": alert.resident_id, "id": alert.id})
        row = row or {}
        return AlertRow(alert, row.get("resident_name"),
                        escalation_view({k: row.get(k) for k in ("tier", "state", "next_at", "round")}))
