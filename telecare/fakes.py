"""In-memory fakes of the kernel's protocols (AlertSink, ResidentLookup) for orchestration unit tests."""
from __future__ import annotations

from dataclasses import replace
from datetime import datetime
from typing import Any

from telecare.alerts import (
    ACTIVE_STATUSES, SELF_CLEARING, SEVERITY_RANK, Alert, AlertChange, AlertChangeKind, AlertClear, AlertStatus,
    AlertTrigger, HistoryEntry, HistoryKind, Outcome,
)
from telecare.bus import ALERTS, Bus
from telecare.errors import ConflictError, InvalidInput, NotFound, StoreError
from telecare.people import Device, Resident

SYSTEM = "system"


class InMemoryAlertSink:
    """AlertSink in a dict with the store's rules (one active alert per resident and type); publishes each change
    on `bus` when given. `failing` makes every write raise StoreError, as a database outage would."""

    def __init__(self, bus: Bus | None = None) -> None:
        self._bus = bus
        self.alerts: dict[int, Alert] = {}
        self._history: dict[int, list[HistoryEntry]] = {}
        self.failing = False

    async def raise_or_attach(self, trigger: AlertTrigger, now: datetime) -> AlertChange:
        """Open an alert, or attach the trigger to the active one of the same resident and type."""
        self._check()
        active = self._active(trigger.resident_id, trigger.type)
        if active is None:
            alert = Alert(len(self.alerts) + 1, trigger.resident_id, trigger.type, trigger.severity,
                          AlertStatus.OPEN, now, trigger.at, trigger.at, 1, trigger.reason, trigger.device_id,
                          trigger.delayed, reason_template=trigger.template, reason_params=trigger.params)
            kind, line = AlertChangeKind.RAISED, (HistoryKind.RAISED, f"Raised: {trigger.reason}")
        else:
            alert = replace(active, count=active.count + 1, first_event_at=min(active.first_event_at, trigger.at),
                            last_event_at=max(active.last_event_at, trigger.at))
            kind, line = AlertChangeKind.UPDATED, (HistoryKind.ATTACHED, f"New trigger attached: {trigger.reason}")
        return await self._changed(kind, alert, now, *line)

    async def acknowledge(self, alert_id: int, by: str, now: datetime) -> AlertChange:
        """Mark an open alert as taken by `by` (ConflictError if it is not open)."""
        alert = await self._writable(alert_id, (AlertStatus.OPEN,))
        alert = replace(alert, status=AlertStatus.ACKNOWLEDGED, acknowledged_at=now, acknowledged_by=by)
        return await self._changed(AlertChangeKind.ACKNOWLEDGED, alert, now, HistoryKind.ACKNOWLEDGED,
                                   f"Acknowledged by {by}", by)

    async def resolve(self, alert_id: int, by: str, outcome: Outcome, note: str, now: datetime) -> AlertChange:
        """Close an active alert with an outcome and a note."""
        if outcome is Outcome.CONDITION_CLEARED:
            raise InvalidInput("outcome condition_cleared is set by the system when a technical fault ends")
        alert = await self._writable(alert_id, ACTIVE_STATUSES)
        alert = replace(alert, status=AlertStatus.RESOLVED, resolved_at=now, resolved_by=by, outcome=outcome,
                        note=note, acknowledged_at=alert.acknowledged_at or now,
                        acknowledged_by=alert.acknowledged_by or by)
        return await self._changed(AlertChangeKind.RESOLVED, alert, now, HistoryKind.RESOLVED,
                                   f"Resolved by {by}: {outcome.value}", by)

    async def clear(self, clear: AlertClear, now: datetime) -> AlertChange | None:
        """Close the active self-clearing alert of this resident and type; None if there is none."""
        self._check()
        active = self._active(clear.resident_id, clear.type)
        if clear.type not in SELF_CLEARING or active is None:
            return None
        alert = replace(active, status=AlertStatus.RESOLVED, resolved_at=now, resolved_by=SYSTEM,
                        outcome=Outcome.CONDITION_CLEARED, note=clear.reason)
        return await self._changed(AlertChangeKind.RESOLVED, alert, now, HistoryKind.CONDITION_CLEARED,
                                   f"Closed automatically: {clear.reason}")

    async def add_note(self, alert_id: int, by: str, text: str, now: datetime) -> HistoryEntry:
        """Append a note to an alert's history."""
        await self._writable(alert_id, tuple(AlertStatus))
        return self._log(alert_id, now, HistoryKind.NOTE, text, by)

    async def history(self, alert_id: int) -> list[HistoryEntry]:
        """The alert's history, oldest first."""
        await self.get(alert_id)
        return list(self._history[alert_id])

    async def get(self, alert_id: int) -> Alert:
        """One alert, or NotFound."""
        if alert_id not in self.alerts:
            raise NotFound(f"alert {alert_id} does not exist")
        return self.alerts[alert_id]

    async def list(self, status: AlertStatus | None = None, resident_id: str | None = None,
                   limit: int = 500) -> list[Alert]:
        """Alerts, most urgent first for active ones; newest first otherwise."""
        found = [a for a in self.alerts.values() if (status is None or a.status == status)
                 and (resident_id is None or a.resident_id == resident_id)]
        if status in ACTIVE_STATUSES:
            found.sort(key=lambda a: (SEVERITY_RANK[a.severity], a.raised_at))
        else:
            found.sort(key=lambda a: a.raised_at, reverse=True)
        return found[:limit]

    def _check(self) -> None:
        if self.failing:
            raise StoreError("alert store unavailable (fake)")

    def _active(self, resident_id: str, kind: Any) -> Alert | None:
        return next((a for a in self.alerts.values() if a.resident_id == resident_id and a.type == kind
                     and a.status in ACTIVE_STATUSES), None)

    async def _writable(self, alert_id: int, statuses: tuple[AlertStatus, ...]) -> Alert:
        self._check()
        alert = await self.get(alert_id)
        if alert.status not in statuses:
            raise ConflictError(f"alert {alert_id} is {alert.status.value}")
        return alert

    async def _changed(self, kind: AlertChangeKind, alert: Alert, now: datetime, line: HistoryKind, text: str,
                       actor: str = SYSTEM) -> AlertChange:
        self.alerts[alert.id] = alert
        self._log(alert.id, now, line, text, actor)
        change = AlertChange(kind, alert)
        if self._bus is not None:
            await self._bus.publish(ALERTS, alert.resident_id, change)
        return change

    def _log(self, alert_id: int, at: datetime, kind: HistoryKind, text: str, actor: str) -> HistoryEntry:
        entries = self._history.setdefault(alert_id, [])
        entry = HistoryEntry(sum(map(len, self._history.values())) + 1, alert_id, at, kind, actor, text, {})
        entries.append(entry)
        return entry


class InMemoryResidents:
    """ResidentLookup over lists (stands in for the device registry); `asked` counts single lookups."""

    def __init__(self, residents: list[Resident], devices: list[Device]) -> None:
        self.residents, self.devices = residents, devices
        self.asked = 0

    async def resident(self, resident_id: str) -> Resident | None:
        """One resident, or None."""
        self.asked += 1
        return next((r for r in self.residents if r.id == resident_id), None)

    async def all_residents(self) -> list[Resident]:
        """Every resident."""
        return list(self.residents)

    async def all_devices(self) -> list[Device]:
        """Every paired device."""
        return list(self.devices)
