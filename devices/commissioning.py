"""The commissioning_sessions and commissioning_results tables' one writer, and the session's live state.

A session starts when the installer begins the visit; its checklist is read from the events and dead_letters
tables since then (so it works whichever process runs ingest), and finishing stores one result per device
and raises an installation TEST alert (technical: no escalation) through the AlertSink.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from devices.commissioning_plan import (Check, InstalledDevice, checklist, installation_test_reason, missing,
                                        plain_reason, reason_field)
from telecare.alerts import AlertSink, AlertTrigger, AlertType, Severity
from telecare.errors import ConflictError, NotFound
from telecare.events import DeviceType, EventType
from telecare.store import Database

REJECTED_SHOWN = 50
CLOCK_SLACK = timedelta(hours=1)  # a test event's gateway timestamp may lag its arrival by this much


@dataclass(frozen=True, slots=True)
class Session:
    """One commissioning visit of one gateway."""

    id: int
    gateway_id: str
    resident_id: str
    started_by: str
    started_at: datetime
    finished_by: str | None = None
    finished_at: datetime | None = None
    test_alert_id: int | None = None

    def to_dict(self) -> dict[str, Any]:
        """JSON form."""
        return {"id": self.id, "gateway_id": self.gateway_id, "started_by": self.started_by,
                "started_at": self.started_at.isoformat(), "finished_by": self.finished_by,
                "finished_at": self.finished_at.isoformat() if self.finished_at else None,
                "test_alert_id": self.test_alert_id}


_SESSION = """SELECT s.*, d.resident_id FROM commissioning_sessions s JOIN devices d ON d.id = s.gateway_id
              WHERE s.id = %s"""


def _session(r: dict) -> Session:
    return Session(r["id"], r["gateway_id"], r["resident_id"], r["started_by"], r["started_at"], r["finished_by"],
                   r["finished_at"], r["test_alert_id"])


class Commissioning:
    """Start, follow and finish commissioning sessions."""

    def __init__(self, db: Database, alerts: AlertSink) -> None:
        self._db, self._alerts = db, alerts

    async def start(self, gateway_id: str, by: str, now: datetime) -> tuple[Session, bool]:
        """A new session for the gateway, or its open one; (session, created)."""
        async with self._db.transaction() as tx:
            gw = await tx.fetchrow("SELECT type FROM devices WHERE id = %s FOR UPDATE", (gateway_id,))
            if gw is None or gw["type"] != DeviceType.GATEWAY.value:
                raise NotFound(f"gateway {gateway_id} is not registered")
            open_id = await tx.fetchval("SELECT id FROM commissioning_sessions WHERE gateway_id = %s "
                                        "AND finished_at IS NULL", (gateway_id,))
            created = open_id is None
            if created:
                open_id = await tx.fetchval(
                    "INSERT INTO commissioning_sessions (gateway_id, started_by, started_at) VALUES (%s, %s, %s) "
                    "RETURNING id", (gateway_id, by, now))
            row = await tx.fetchrow(_SESSION, (open_id,))
        return _session(row), created

    async def get(self, gateway_id: str, session_id: int) -> Session:
        """The session, if it belongs to this gateway; NotFound otherwise."""
        row = await self._db.fetchrow(_SESSION, (session_id,))
        if row is None or row["gateway_id"] != gateway_id:
            raise NotFound(f"no commissioning session {session_id} for gateway {gateway_id}")
        return _session(row)

    async def latest(self, gateway_id: str) -> Session | None:
        """The gateway's most recent session, open or finished."""
        row = await self._db.fetchrow(
            "SELECT s.*, d.resident_id FROM commissioning_sessions s JOIN devices d ON d.id = s.gateway_id "
            "WHERE s.gateway_id = %s ORDER BY s.started_at DESC, s.id DESC LIMIT 1", (gateway_id,))
        return _session(row) if row else None

    async def checks(self, session: Session) -> list[Check]:
        """The checklist: every device of the gateway, ticked at its first test event since the start."""
        devices = [InstalledDevice(r["id"], DeviceType(r["type"]), r["room"] or "") for r in await self._db.fetch(
            "SELECT d.id, d.type, i.room FROM devices d LEFT JOIN device_installs i ON i.device_id = d.id "
            "WHERE d.gateway_id = %s", (session.gateway_id,))]
        until = session.finished_at or datetime.max.replace(tzinfo=session.started_at.tzinfo)
        rows = await self._db.fetch(
            """SELECT device_id, type, min(received_at) AS first FROM events
               WHERE device_id IN (SELECT jsonb_array_elements_text(%s)) AND ts >= %s
                     AND received_at >= %s AND received_at <= %s
               GROUP BY device_id, type""",
            ([d.device_id for d in devices], session.started_at - CLOCK_SLACK, session.started_at, until))
        return checklist(devices, {(r["device_id"], EventType(r["type"])): r["first"] for r in rows})

    async def rejected(self, session: Session) -> list[dict[str, Any]]:
        """The gateway's rejected messages since the start, newest first, each with its reason in words."""
        until = session.finished_at or datetime.max.replace(tzinfo=session.started_at.tzinfo)
        rows = await self._db.fetch(
            """SELECT id, received_at, topic, reason, device_id FROM dead_letters
               WHERE gateway_id = %s AND received_at >= %s AND received_at <= %s ORDER BY id DESC LIMIT %s""",
            (session.gateway_id, session.started_at, until, REJECTED_SHOWN))
        return [{"id": r["id"], "received_at": r["received_at"].isoformat(), "topic": r["topic"],
                 "device_id": r["device_id"], "reason": r["reason"], "reason_text": plain_reason(r["reason"]),
                 "reason_field": reason_field(r["reason"])}
                for r in rows]

    async def state(self, session: Session) -> dict[str, Any]:
        """What the commissioning screen shows."""
        checks = await self.checks(session)
        return {"session": session.to_dict(), "checks": [c.to_dict() for c in checks],
                "reported": sum(c.reported_at is not None for c in checks), "devices": len(checks),
                "missing": [c.to_dict() for c in missing(checks)] if session.finished_at else [],
                "rejected": await self.rejected(session)}

    async def finish(self, session: Session, by: str, now: datetime) -> dict[str, Any]:
        """Store each device's result, raise the installation test alert, name what never reported."""
        if session.finished_at is not None:
            raise ConflictError(f"commissioning session {session.id} was already finished")
        checks = await self.checks(session)
        reason, template, params = installation_test_reason(session.gateway_id, checks)
        change = await self._alerts.raise_or_attach(AlertTrigger(
            session.resident_id, AlertType.INSTALLATION_TEST, Severity.TECHNICAL, now, reason,
            device_id=session.gateway_id, template=template, params=params), now)
        async with self._db.transaction() as tx:
            done = await tx.execute(
                "UPDATE commissioning_sessions SET finished_by = %s, finished_at = %s, test_alert_id = %s "
                "WHERE id = %s AND finished_at IS NULL", (by, now, change.alert.id, session.id))
            if not done:
                raise ConflictError(f"commissioning session {session.id} was already finished")
            await tx.executemany(
                "INSERT INTO commissioning_results (session_id, device_id, device_type, reported_at) "
                "VALUES (%s, %s, %s, %s)", [(session.id, c.device_id, c.type.value, c.reported_at) for c in checks])
        return await self.state(await self.get(session.gateway_id, session.id))
