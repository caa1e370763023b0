"""The audit_log table's one writer: who read or changed whose personal data, from where, allowed or not."""
from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any

from telecare.metrics import PERSONAL_DATA_READS
from telecare.store import Database

log = logging.getLogger(__name__)

MAX_USER_AGENT = 300  # a header is attacker-chosen: keep what identifies a browser, not a novel


class AuditAction(StrEnum):
    """What was done. Reads of personal data end in `.read`; everything else is a change or a denial."""

    CARD_READ = "resident.card.read"
    EVENTS_READ = "resident.events.read"
    KEY_SAFE_REVEAL = "resident.key_safe.reveal"
    CALL_LOG_NAMES_READ = "resident.name.read"  # a call-log page or export that shows residents' names
    DIRECTORY_READ = "resident.directory.read"  # a page of the residents directory (the ids shown)
    TIMELINE_READ = "resident.timeline.read"
    SERIES_READ = "resident.series.read"
    CARE_PLAN_READ = "resident.care_plan.read"
    CARE_PLAN_UPDATE = "resident.care_plan.update"
    VISIT_RECORD = "resident.visit.record"
    NOTE_ADD = "resident.note.add"
    WORKLIST_READ = "worklist.read"
    ALERTS_READ = "alerts.read"                 # the queue, or the live stream's snapshot on connect
    ALERT_HISTORY_READ = "alert.history.read"
    ALERT_ACKNOWLEDGE = "alert.acknowledge"
    ALERT_RESOLVE = "alert.resolve"
    ALERT_NOTE = "alert.note"
    RESIDENT_UPSERT = "resident.upsert"
    DEVICE_REGISTER = "device.register"
    DEVICE_PAIR = "device.pair"
    INSTALL_ADDRESS_READ = "resident.address.read"  # a gateway page, the fleet or its visit list (installers)
    COMMISSIONING = "gateway.commissioning"         # a commissioning session started or finished
    CALL_START = "call.start"
    CALL_OUTCOME = "call.outcome"
    CAMPAIGN_START = "campaign.start"
    CAMPAIGN_READ = "campaign.read"
    USER_CREATE = "user.create"
    USER_DISABLE = "user.disable"
    TOKEN_ISSUE = "user.token.issue"
    TOKEN_REVOKE = "user.token.revoke"
    AUDIT_READ = "audit.read"
    EXPORT = "resident.export"
    ACCESS_DENIED = "access.denied"


class Outcome(StrEnum):
    ALLOWED = "allowed"
    DENIED = "denied"


@dataclass(frozen=True, slots=True)
class Actor:
    """Who, as authenticated, and from where (the web edge builds it from the principal and the request)."""

    name: str
    kind: str  # identity.model.PrincipalKind value, or "anonymous"/"system"
    client_addr: str = ""
    user_agent: str = ""


_COLUMNS = "at, actor, actor_kind, action, subject, residents, client_addr, user_agent, outcome, detail"


class AuditLog:
    """Appends audit rows; a failed write raises, so the data is never shown (nor the change made) unaudited."""

    def __init__(self, db: Database) -> None:
        self._db = db

    async def record(self, actor: Actor, action: AuditAction, residents: Iterable[str], at: datetime,
                     detail: dict[str, Any] | None = None, outcome: Outcome = Outcome.ALLOWED) -> int:
        """Write ONE row naming every resident involved (possibly none); return its id."""
        wanted = sorted({r for r in residents if r})
        row_id = await self._db.fetchval(
            f"INSERT INTO audit_log ({_COLUMNS}) VALUES (%s, %s, %s, %s, %s, "
            "ARRAY(SELECT jsonb_array_elements_text(%s)), %s, %s, %s, %s) RETURNING id",
            (at, actor.name, actor.kind, action.value, wanted[0] if len(wanted) == 1 else "", wanted,
             actor.client_addr[:100], actor.user_agent[:MAX_USER_AGENT], outcome.value, detail or {}))
        if wanted and action.value.endswith((".read", ".reveal", ".export")) and outcome is Outcome.ALLOWED:
            PERSONAL_DATA_READS.labels(action.value).inc(len(wanted))
        # Ids and counts only: the actor's name and the detail (e.g. a reason) stay in the database.
        log.info("audit %s %s on %d resident(s) (row %s)", action.value, outcome.value, len(wanted), row_id)
        return int(row_id)

    async def search(self, *, resident_id: str | None = None, user: str | None = None,
                     action: str | None = None, since: datetime | None = None, until: datetime | None = None,
                     limit: int = 200) -> list[dict[str, Any]]:
        """Rows newest first, filtered by resident, user, action and time (`until` exclusive)."""
        return await self._db.fetch(
            f"""SELECT id, {_COLUMNS} FROM audit_log
                WHERE (%(resident)s::text IS NULL OR %(resident)s = ANY(residents))
                  AND (%(user)s::text IS NULL OR actor = %(user)s)
                  AND (%(action)s::text IS NULL OR action = %(action)s)
                  AND (%(since)s::timestamptz IS NULL OR at >= %(since)s)
                  AND (%(until)s::timestamptz IS NULL OR at < %(until)s)
                ORDER BY at DESC, id DESC LIMIT %(limit)s""",
            {"resident": resident_id, "user": user, "action": action, "since": since, "until": until,
             "limit": limit})

    async def recent(self, subject: str, limit: int = 50) -> list[dict[str, Any]]:
        """The latest audit rows about one resident (for their export and tests)."""
        return await self.search(resident_id=subject, limit=limit)
