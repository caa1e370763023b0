"""Pure: timeline rows -> the JSON items the resident page draws (times as ISO, no phone numbers)."""
from __future__ import annotations

from datetime import datetime
from typing import Any

# The monitoring centre (operators, escalation, the dialer) belongs to the service provider.
PROVIDER = "provider"


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value else None


def alert_item(r: dict[str, Any], history: list[dict[str, Any]]) -> dict[str, Any]:
    """An alert with how it was handled: its history lines (escalation steps, notes), outcome and note."""
    return {"kind": "alert", "id": int(r["id"]), "at": r["raised_at"].isoformat(), "type": r["type"],
            "severity": r["severity"], "status": r["status"], "reason": r["reason"], "count": r["count"],
            "acknowledged_at": _iso(r["acknowledged_at"]), "acknowledged_by": r["acknowledged_by"],
            "resolved_at": _iso(r["resolved_at"]), "resolved_by": r["resolved_by"], "outcome": r["outcome"],
            "note": r["note"], "organisation": PROVIDER,
            "history": [{"at": h["at"].isoformat(), "kind": h["kind"], "actor": h["actor"], "text": h["text"]}
                        for h in history]}


def call_item(r: dict[str, Any]) -> dict[str, Any]:
    """A call attempt with its outcome and note (the number dialled is left out)."""
    return {"kind": "call", "id": int(r["id"]), "at": r["started_at"].isoformat(), "purpose": r["purpose"],
            "caller": r["caller"], "mode": r["mode"], "attempt": r["attempt"], "answered_at": _iso(r["answered_at"]),
            "ended_at": _iso(r["ended_at"]), "outcome": r["outcome"], "note": r["note"], "alert_id": r["alert_id"],
            "campaign_id": r["campaign_id"], "organisation": PROVIDER}


def plan_item(r: dict[str, Any]) -> dict[str, Any]:
    """One care-plan edit: who, their organisation, and each field before and after."""
    return {"kind": "care_plan", "id": int(r["id"]), "at": r["at"].isoformat(), "changed_by": r["changed_by"],
            "organisation": r["organisation"], "changes": r["changes"]}


def activity_item(r: dict[str, Any]) -> dict[str, Any]:
    """A local day's sensor activity: events per type (from the hourly rollup) and the last one's time."""
    counts = {k: int(v) for k, v in sorted(r["counts"].items())}
    return {"kind": "activity", "id": r["day"].toordinal(), "at": r["last_ts"].isoformat(),
            "day": r["day"].isoformat(), "counts": counts, "total": sum(counts.values())}
