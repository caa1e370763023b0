"""Alert history rows: the SQL the alert store appends with each change, and the ordered read."""
from __future__ import annotations

from typing import Any

from telecare.alerts import HistoryEntry, HistoryKind, Outcome

HISTORY_COLUMNS = "id, alert_id, at, kind, actor, text, detail"

# Appended to an UPDATE/INSERT ... RETURNING in a data-modifying CTE named `changed`, so the alert row and
# its history line commit together in one statement.
APPEND_FROM_CHANGED = """, logged AS (
    INSERT INTO alert_history (alert_id, at, kind, actor, text, detail)
    SELECT id, %(at)s, %(kind)s, %(actor)s, %(text)s, %(detail)s FROM changed)"""

OUTCOME_TEXT = {
    Outcome.FALSE_ALARM: "false alarm", Outcome.RESOLVED_BY_PHONE: "resolved by phone",
    Outcome.CONTACT_ATTENDED: "a contact or key-holder attended", Outcome.MOBILE_UNIT_SENT: "mobile unit sent",
    Outcome.EMERGENCY_SERVICES: "emergency services", Outcome.TECHNICAL_FIXED: "technical issue fixed",
    Outcome.OTHER: "other", Outcome.CONDITION_CLEARED: "the condition ended",
}


def entry_from_row(row: dict[str, Any]) -> HistoryEntry:
    """Build a HistoryEntry from an `alert_history` row."""
    return HistoryEntry(row["id"], row["alert_id"], row["at"], HistoryKind(row["kind"]), row["actor"], row["text"],
                        dict(row["detail"] or {}))


def resolved_params(by: str, outcome: Outcome, note: str, now: Any) -> dict[str, Any]:
    """History parameters for an operator's resolve."""
    text = f"Resolved by {by}: {OUTCOME_TEXT[outcome]}" + (f" — {note}" if note else "")
    return {"at": now, "kind": HistoryKind.RESOLVED.value, "actor": by, "text": text,
            "detail": {"outcome": outcome.value}}
