"""The audit_log table's one writer: who read or revealed personal data, and when."""
from __future__ import annotations

import logging
from collections.abc import Iterable
from datetime import datetime
from enum import StrEnum
from typing import Any

from telecare.metrics import PERSONAL_DATA_READS
from telecare.store import Database

log = logging.getLogger(__name__)


class AuditAction(StrEnum):
    CARD_READ = "resident.card.read"
    EVENTS_READ = "resident.events.read"
    KEY_SAFE_REVEAL = "resident.key_safe.reveal"
    CALL_LOG_NAMES_READ = "resident.name.read"  # a call-log page or export that shows residents' names


class AuditLog:
    """Appends audit rows; a failed write raises, so the data is never shown unaudited."""

    def __init__(self, db: Database) -> None:
        self._db = db

    async def record(self, actor: str, action: AuditAction, subject: str, at: datetime,
                     detail: dict[str, Any] | None = None) -> int:
        """Write one audit row and count the read; return the row id."""
        row_id = await self._db.fetchval(
            "INSERT INTO audit_log (at, actor, action, subject, detail) VALUES (%s, %s, %s, %s, %s) RETURNING id",
            (at, actor, action.value, subject, detail or {}),
        )
        PERSONAL_DATA_READS.labels(action.value).inc()
        # Ids only: the actor's name and the detail (e.g. a reason) stay in the database.
        log.info("audit %s on resident %s (row %s)", action.value, subject, row_id)
        return int(row_id)

    async def record_many(self, actor: str, action: AuditAction, subjects: Iterable[str], at: datetime,
                          detail: dict[str, Any] | None = None) -> int:
        """One audit row per distinct subject, in one statement (a list shows many residents); return the count."""
        wanted = sorted(set(subjects))
        if not wanted:
            return 0
        await self._db.execute(
            "INSERT INTO audit_log (at, actor, action, subject, detail) "
            "SELECT %s, %s, %s, s, %s FROM jsonb_array_elements_text(%s) AS s",
            (at, actor, action.value, detail or {}, wanted))
        PERSONAL_DATA_READS.labels(action.value).inc(len(wanted))
        log.info("audit %s on %s resident(s)", action.value, len(wanted))
        return len(wanted)

    async def recent(self, subject: str, limit: int = 50) -> list[dict[str, Any]]:
        """The latest audit rows about one subject (for the care team and tests)."""
        return await self._db.fetch(
            "SELECT id, at, actor, action, subject, detail FROM audit_log WHERE subject = %s ORDER BY at DESC, id DESC "
            "LIMIT %s", (subject, limit),
        )
