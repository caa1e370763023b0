"""The protocols gdpr/ receives from the composition root: one Eraser per data kind, and the audit append."""
from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from enum import StrEnum
from typing import Any, Protocol

from telecare.store import Tx


class DataKind(StrEnum):
    """The owners that erase (each is its tables' one writer), in the order they run."""

    TASKS = "tasks"            # outreach/tasks.py: call_tasks
    CALLS = "calls"            # outreach/call_log.py: call_log
    ALERTS = "alerts"          # alerts/store.py: alerts, alert_history
    EVENTS = "events"          # ingest/sink.py: events, dead_letters (needs the devices: before the registry)
    RULE_STATE = "rule_state"  # rules/state.py: rule_state
    INSIGHTS = "insights"      # insights/rollups.py: event_rollup_hourly, device_rollup_daily
    CARE_RECORD = "care_record"  # carerecord/store.py: visits, resident_notes
    REGISTRY = "registry"      # devices/registry.py: devices, residents (last: the others select through it)


class GdprAction(StrEnum):
    """The audit actions gdpr/ appends (the `.export` suffix counts as a read in the breach report)."""

    EXPORT = "resident.data.export"
    ERASE = "resident.data.erase"


class Eraser(Protocol):
    """One owner's erasure of a resident inside the caller's transaction: (table, action, count, kept row ids)."""

    async def __call__(self, tx: Tx, resident_id: str, now: datetime) -> Sequence[tuple[str, str, int, Sequence[str]]]:
        ...


class AuditAppend(Protocol):
    """Appends one audit row (dashboards/audit.py is the audit log's writer; the composition root adapts it)."""

    async def __call__(self, actor: Any, action: GdprAction, subject: str, at: datetime,
                      detail: dict[str, Any]) -> Any: ...
    # `actor`: who acted, as the edge knows them (the web edge's authenticated actor with its address and
    # user agent, or the CLI's "cli:<os user>"); gdpr/ only passes it on to the audit log.
