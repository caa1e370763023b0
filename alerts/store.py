"""The alerts table's one writer: raise-or-attach, acknowledge, resolve; publishes each change."""
from __future__ import annotations

from datetime import datetime

from telecare.alerts import (
    Alert, AlertChange, AlertChangeKind, AlertStatus, AlertTrigger, Outcome, alert_from_row,
)
from telecare.bus import ALERTS, Bus
from telecare.errors import ConflictError, NotFound
from telecare.metrics import ALERT_ACK_SECONDS, ALERTS_ATTACHED, ALERTS_RAISED
from telecare.store import Database

_COLUMNS = """id, resident_id, type, severity, status, raised_at, first_event_at, last_event_at, count,
    reason, device_id, delayed, acknowledged_at, acknowledged_by, resolved_at, resolved_by, outcome, note"""


class AlertStore:
    """Alert lifecycle in PostgreSQL. The partial unique index keeps one active alert per (resident, type)."""

    def __init__(self, db: Database, bus: Bus) -> None:
        self._db = db
        self._bus = bus

    async def raise_or_attach(self, trigger: AlertTrigger, now: datetime) -> AlertChange:
        """Open a new alert, or attach the trigger to the active one of the same resident and type."""
        row = await self._db.fetchrow(
            f"""INSERT INTO alerts (resident_id, type, severity, status, raised_at, first_event_at,
                                    last_event_at, count, reason, device_id, delayed)
                VALUES (%s, %s, %s, 'open', %s, %s, %s, 1, %s, %s, %s)
                ON CONFLICT (resident_id, type) WHERE status IN ('open', 'acknowledged')
                DO UPDATE SET count = alerts.count + 1,
                              first_event_at = LEAST(alerts.first_event_at, EXCLUDED.first_event_at),
                              last_event_at = GREATEST(alerts.last_event_at, EXCLUDED.last_event_at)
                RETURNING {_COLUMNS}, (xmax = 0) AS inserted""",
            (trigger.resident_id, trigger.type.value, trigger.severity.value, now, trigger.at, trigger.at,
             trigger.reason, trigger.device_id, trigger.delayed),
        )
        assert row is not None
        inserted = row.pop("inserted")
        alert = alert_from_row(row)
        if inserted:
            ALERTS_RAISED.labels(alert.type.value, alert.severity.value).inc()
        else:
            ALERTS_ATTACHED.labels(alert.type.value).inc()
        change = AlertChange(AlertChangeKind.RAISED if inserted else AlertChangeKind.UPDATED, alert)
        await self._bus.publish(ALERTS, alert.resident_id, change)
        return change

    async def acknowledge(self, alert_id: int, by: str, now: datetime) -> AlertChange:
        """Mark an open alert as being handled by `by`. Acknowledging twice is a conflict."""
        row = await self._db.fetchrow(
            f"""UPDATE alerts SET status = 'acknowledged', acknowledged_at = %s, acknowledged_by = %s
                WHERE id = %s AND status = 'open' RETURNING {_COLUMNS}""",
            (now, by, alert_id),
        )
        if row is None:
            current = await self.get(alert_id)
            raise ConflictError(f"alert {alert_id} is already {current.status.value}")
        alert = alert_from_row(row)
        ALERT_ACK_SECONDS.labels(alert.severity.value).observe((now - alert.raised_at).total_seconds())
        change = AlertChange(AlertChangeKind.ACKNOWLEDGED, alert)
        await self._bus.publish(ALERTS, alert.resident_id, change)
        return change

    async def resolve(self, alert_id: int, by: str, outcome: Outcome, note: str, now: datetime) -> AlertChange:
        """Close an open or acknowledged alert with an outcome and a note."""
        row = await self._db.fetchrow(
            f"""UPDATE alerts SET status = 'resolved', resolved_at = %s, resolved_by = %s, outcome = %s, note = %s,
                       acknowledged_at = COALESCE(acknowledged_at, %s),
                       acknowledged_by = COALESCE(acknowledged_by, %s)
                WHERE id = %s AND status IN ('open', 'acknowledged') RETURNING {_COLUMNS}""",
            (now, by, outcome.value, note, now, by, alert_id),
        )
        if row is None:
            current = await self.get(alert_id)
            raise ConflictError(f"alert {alert_id} is already {current.status.value}")
        change = AlertChange(AlertChangeKind.RESOLVED, alert_from_row(row))
        await self._bus.publish(ALERTS, change.alert.resident_id, change)
        return change

    async def get(self, alert_id: int) -> Alert:
        row = await self._db.fetchrow(f"SELECT {_COLUMNS} FROM alerts WHERE id = %s", (alert_id,))
        if row is None:
            raise NotFound(f"alert {alert_id} does not exist")
        return alert_from_row(row)

    async def list(self, status: AlertStatus | None = None, resident_id: str | None = None,
                   limit: int = 500) -> list[Alert]:
        """Alerts, most urgent first (severity, then oldest raised) for active ones; newest first otherwise."""
        order = ("CASE severity WHEN 'critical' THEN 0 WHEN 'high' THEN 1 WHEN 'medium' THEN 2 ELSE 3 END, raised_at"
                 if status in (AlertStatus.OPEN, AlertStatus.ACKNOWLEDGED) else "raised_at DESC")
        rows = await self._db.fetch(
            f"""SELECT {_COLUMNS} FROM alerts
                WHERE (%(status)s::text IS NULL OR status = %(status)s)
                  AND (%(resident)s::text IS NULL OR resident_id = %(resident)s)
                ORDER BY {order} LIMIT %(limit)s""",
            {"status": status.value if status else None, "resident": resident_id, "limit": limit},
        )
        return [alert_from_row(r) for r in rows]

    async def active_counts(self) -> dict[str, int]:
        """Active alerts per severity (for the gauge)."""
        rows = await self._db.fetch(
            "SELECT severity, count(*) AS n FROM alerts WHERE status IN ('open','acknowledged') GROUP BY severity"
        )
        return {r["severity"]: r["n"] for r in rows}
