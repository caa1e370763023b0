"""The alerts table's one writer: raise-or-attach, acknowledge, resolve, clear, notes; publishes each change."""
from __future__ import annotations

from datetime import datetime
from typing import Any

from alerts.history import APPEND_FROM_CHANGED, HISTORY_COLUMNS, entry_from_row, resolved_params
from telecare.alerts import (
    COMMISSIONING_TESTABLE, SELF_CLEARING, Alert, AlertChange, AlertChangeKind, AlertClear, AlertStatus, AlertTrigger, HistoryEntry,
    HistoryKind, Outcome, alert_from_row, as_installation_test,
)
from telecare.bus import ALERTS, Bus
from telecare.errors import ConflictError, InvalidInput, NotFound
from telecare.metrics import ALERT_ACK_SECONDS, ALERT_RAISE_LATENCY, ALERT_ANSWER_SECONDS, ALERTS_ATTACHED, ALERTS_CLEARED, ALERTS_RAISED
from telecare.store import Database

_COLUMNS = """id, resident_id, type, severity, status, raised_at, first_event_at, last_event_at, count,
    reason, device_id, delayed, acknowledged_at, acknowledged_by, resolved_at, resolved_by, outcome, note,
    reason_template, reason_params"""
SYSTEM = "system"  # the actor of history lines nobody typed
# The device's gateway has an open commissioning session (devices/commissioning.py writes them).
_IN_COMMISSIONING = """SELECT EXISTS (SELECT 1 FROM devices d JOIN commissioning_sessions s ON s.gateway_id = d.gateway_id
                                     WHERE d.id = %(dev)s AND s.finished_at IS NULL)"""


class AlertStore:
    """Alert lifecycle in PostgreSQL. The partial unique index keeps one active alert per (resident, type)."""

    def __init__(self, db: Database, bus: Bus) -> None:
        self._db = db
        self._bus = bus

    async def raise_or_attach(self, trigger: AlertTrigger, now: datetime) -> AlertChange:
        """Open a new alert, or attach the trigger to the active one of the same resident and type."""
        return await self.announce(self.counted(await self.upsert(self._db, trigger, now)))

    async def upsert(self, tx: Any, trigger: AlertTrigger, now: datetime) -> dict[str, Any]:
        """The raise-or-attach statement on `tx` (a Tx of the caller's transaction, or the Database); its row."""
        if trigger.type in COMMISSIONING_TESTABLE and trigger.device_id and await tx.fetchval(_IN_COMMISSIONING,
                                                                                             {"dev": trigger.device_id}):
            trigger = as_installation_test(trigger)
        row = await tx.fetchrow(
            f"""WITH changed AS (
                  INSERT INTO alerts (resident_id, type, severity, status, raised_at, first_event_at,
                                      last_event_at, count, reason, device_id, delayed, reason_template,
                                      reason_params)
                  VALUES (%(rid)s, %(type)s, %(sev)s, 'open', %(now)s, %(at)s, %(at)s, 1, %(reason)s, %(dev)s,
                          %(delayed)s, %(template)s, %(params)s)
                  ON CONFLICT (resident_id, type) WHERE status IN ('open', 'acknowledged')
                  DO UPDATE SET count = alerts.count + 1,
                                first_event_at = LEAST(alerts.first_event_at, EXCLUDED.first_event_at),
                                last_event_at = GREATEST(alerts.last_event_at, EXCLUDED.last_event_at)
                  RETURNING {_COLUMNS}, (xmax = 0) AS inserted),
                logged AS (
                  INSERT INTO alert_history (alert_id, at, kind, actor, text, detail)
                  SELECT id, %(now)s, CASE WHEN inserted THEN 'raised' ELSE 'attached' END, 'system',
                         CASE WHEN inserted THEN 'Raised: ' ELSE 'New trigger attached: ' END || %(reason)s,
                         %(detail)s FROM changed)
                SELECT * FROM changed""",
            {"rid": trigger.resident_id, "type": trigger.type.value, "sev": trigger.severity.value, "now": now,
             "at": trigger.at, "reason": trigger.reason, "dev": trigger.device_id, "delayed": trigger.delayed,
             "template": trigger.template, "params": dict(trigger.params) if trigger.template else None,
             "detail": {"event_at": trigger.at.isoformat(), "device_id": trigger.device_id, "delayed": trigger.delayed,
                        "event_id": str(trigger.event_id) if trigger.event_id else None}},
        )
        assert row is not None
        if row["inserted"]:  # publish (or timer due) -> raised, for the latency panel
            ALERT_RAISE_LATENCY.labels("event" if trigger.event_id else "timer").observe(
                max(0.0, (now - trigger.at).total_seconds()))
        return row

    def counted(self, row: dict[str, Any]) -> AlertChange:
        """The change an upsert row stands for (RAISED or UPDATED), counted in the metrics."""
        inserted = row.pop("inserted")
        alert = alert_from_row(row)
        if inserted:
            ALERTS_RAISED.labels(alert.type.value, alert.severity.value).inc()
        else:
            ALERTS_ATTACHED.labels(alert.type.value).inc()
        return AlertChange(AlertChangeKind.RAISED if inserted else AlertChangeKind.UPDATED, alert)

    async def announce(self, change: AlertChange) -> AlertChange:
        """Publish a change on `alerts` (web, outreach); returns it."""
        await self._bus.publish(ALERTS, change.alert.resident_id, change)
        return change

    async def announce_many(self, changes: list[AlertChange]) -> None:
        """Publish changes in order (pipelined on a bus that can: the Kafka path's alerts part)."""
        publish_many = getattr(self._bus, "publish_many", None)
        if publish_many is not None and changes:
            await publish_many(ALERTS, [(c.alert.resident_id, c) for c in changes])
            return
        for change in changes:
            await self.announce(change)

    async def acknowledge(self, alert_id: int, by: str, now: datetime) -> AlertChange:
        """Mark an open alert as being handled by `by`. Acknowledging twice is a conflict."""
        row = await self._changed(
            """UPDATE alerts SET status = 'acknowledged', acknowledged_at = %(at)s, acknowledged_by = %(actor)s
               WHERE id = %(id)s AND status = 'open'""", alert_id,
            {"at": now, "kind": HistoryKind.ACKNOWLEDGED.value, "actor": by, "text": f"Acknowledged by {by}",
             "detail": {}})
        alert = alert_from_row(row)
        ALERT_ACK_SECONDS.labels(alert.severity.value).observe((now - alert.raised_at).total_seconds())
        ALERT_ANSWER_SECONDS.labels(alert.type.value).observe((now - alert.raised_at).total_seconds())
        return await self._publish(AlertChangeKind.ACKNOWLEDGED, alert)

    async def resolve(self, alert_id: int, by: str, outcome: Outcome, note: str, now: datetime) -> AlertChange:
        """Close an open or acknowledged alert with an outcome and a note."""
        if outcome is Outcome.CONDITION_CLEARED:
            raise InvalidInput("outcome condition_cleared is set by the system when a technical fault ends")
        row = await self._changed(
            """UPDATE alerts SET status = 'resolved', resolved_at = %(at)s, resolved_by = %(actor)s,
                      outcome = %(outcome)s, note = %(note)s,
                      acknowledged_at = COALESCE(acknowledged_at, %(at)s),
                      acknowledged_by = COALESCE(acknowledged_by, %(actor)s)
               WHERE id = %(id)s AND status IN ('open', 'acknowledged')""", alert_id,
            {**resolved_params(by, outcome, note, now), "outcome": outcome.value, "note": note})
        alert = alert_from_row(row)
        if alert.acknowledged_at == now:  # resolved while still open: this is its answer
            ALERT_ANSWER_SECONDS.labels(alert.type.value).observe((now - alert.raised_at).total_seconds())
        return await self._publish(AlertChangeKind.RESOLVED, alert)

    async def clear(self, clear: AlertClear, now: datetime) -> AlertChange | None:
        """Close the active technical alert whose condition ended (outcome condition_cleared); alarms never."""
        row = await self.close_cleared(self._db, clear, now)
        return None if row is None else await self.announce(self.cleared(clear, row))

    def cleared(self, clear: AlertClear, row: dict[str, Any]) -> AlertChange:
        """The RESOLVED change a close_cleared row stands for, counted in the metrics."""
        ALERTS_CLEARED.labels(clear.type.value).inc()
        return AlertChange(AlertChangeKind.RESOLVED, alert_from_row(row))

    async def close_cleared(self, tx: Any, clear: AlertClear, now: datetime) -> dict[str, Any] | None:
        """The clear statement on `tx`; the closed alert's row, or None (no active technical alert)."""
        if clear.type not in SELF_CLEARING:
            return None
        return await tx.fetchrow(
            f"""WITH changed AS (
                  UPDATE alerts SET status = 'resolved', resolved_at = %(at)s, resolved_by = 'system',
                         outcome = 'condition_cleared', note = %(text)s
                  WHERE resident_id = %(rid)s AND type = %(type)s AND severity = 'technical'
                    AND status IN ('open', 'acknowledged')
                  RETURNING {_COLUMNS}){APPEND_FROM_CHANGED}
                SELECT * FROM changed""",
            {"rid": clear.resident_id, "type": clear.type.value, "at": now,
             "kind": HistoryKind.CONDITION_CLEARED.value, "actor": SYSTEM,
             "text": f"Closed automatically: {clear.reason}",
             "detail": {"event_at": clear.at.isoformat(), "device_id": clear.device_id}})

    async def add_note(self, alert_id: int, by: str, text: str, now: datetime) -> HistoryEntry:
        """Append an operator's note to the alert's history (any status: notes are for the hand-over)."""
        row = await self._db.fetchrow(
            f"""INSERT INTO alert_history (alert_id, at, kind, actor, text)
                SELECT id, %s, 'note', %s, %s FROM alerts WHERE id = %s RETURNING {HISTORY_COLUMNS}""",
            (now, by, text, alert_id))
        if row is None:
            raise NotFound(f"alert {alert_id} does not exist")
        return entry_from_row(row)

    async def history(self, alert_id: int) -> list[HistoryEntry]:
        """The alert's history, oldest first (the order things happened in)."""
        await self.get(alert_id)  # NotFound for an unknown alert, rather than an empty list
        rows = await self._db.fetch(
            f"SELECT {HISTORY_COLUMNS} FROM alert_history WHERE alert_id = %s ORDER BY at, id", (alert_id,))
        return [entry_from_row(r) for r in rows]

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

    async def _changed(self, update: str, alert_id: int, history: dict[str, Any]) -> dict[str, Any]:
        """Run `update` (… WHERE id = %(id)s …) with its history line in one statement; a miss is a conflict."""
        row = await self._db.fetchrow(
            f"WITH changed AS ({update} RETURNING {_COLUMNS}){APPEND_FROM_CHANGED} SELECT * FROM changed",
            {**history, "id": alert_id})
        if row is None:
            current = await self.get(alert_id)
            raise ConflictError(f"alert {alert_id} is already {current.status.value}")
        return row

    async def _publish(self, kind: AlertChangeKind, alert: Alert) -> AlertChange:
        change = AlertChange(kind, alert)
        await self._bus.publish(ALERTS, alert.resident_id, change)
        return change


# GDPR erasure: alerts are care records (kept); their free text goes, only structural detail keys stay.
_HISTORY_KEEP_KEYS = ["outcome", "tier", "round", "position", "delayed", "event_at", "device_id", "event_id"]


async def erase_resident(tx: Any, resident_id: str, now: datetime) -> list[tuple[str, str, int, list[str]]]:
    """Delete the resident's alert notes and history notes; keep alerts and history lines without free text."""
    alerts = "SELECT id FROM alerts WHERE resident_id = %(r)s"
    notes = await tx.execute(f"DELETE FROM alert_history WHERE kind = 'note' AND alert_id IN ({alerts})",
                             {"r": resident_id})
    lines = await tx.fetch(
        f"""UPDATE alert_history SET text = initcap(replace(kind, '_', ' ')),
                   detail = (SELECT coalesce(jsonb_object_agg(k, v), '{{}}') FROM jsonb_each(detail) AS e(k, v)
                             WHERE %(keep)s::jsonb ? k)
            WHERE alert_id IN ({alerts}) RETURNING id""", {"r": resident_id, "keep": _HISTORY_KEEP_KEYS})
    kept = await tx.fetch("UPDATE alerts SET note = NULL WHERE resident_id = %(r)s RETURNING id", {"r": resident_id})
    return [("alert_history", "deleted", notes, []),
            ("alert_history", "kept", len(lines), [str(r["id"]) for r in lines]),
            ("alerts", "kept", len(kept), [str(r["id"]) for r in kept])]
