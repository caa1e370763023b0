"""Pure shaping of alerts and resident records for the operator screen (no I/O)."""
from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass
from datetime import date, datetime
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from telecare.alerts import SEVERITY_RANK, Alert, AlertChange, AlertStatus, Severity

# The telecare answer target is 60 s; the page turns amber before that so there is time to act.
AMBER_AFTER_SECONDS = 45
RED_AFTER_SECONDS = 60


def waiting_seconds(alert: Alert, now: datetime) -> float:
    """How long the alert waited for an operator: still running while open, frozen once acknowledged."""
    if alert.status is AlertStatus.OPEN:
        end = now
    else:
        end = alert.acknowledged_at or alert.resolved_at or now
    return max(0.0, round((end - alert.raised_at).total_seconds(), 1))


def escalation_view(row: Mapping[str, Any] | None) -> dict[str, Any] | None:
    """The escalation as clients see it (from an `escalations` row, or None when the alert has none)."""
    if not row or row.get("state") is None:
        return None
    next_at = row["next_at"]
    return {"tier": row["tier"], "state": row["state"], "round": row["round"],
            "next_at": next_at.isoformat() if isinstance(next_at, datetime) else next_at}


def nobody_reached(alert: Alert, escalation: Mapping[str, Any] | None) -> bool:
    """An open alarm whose key-holder round already ended with nobody reached (the loudest state there is)."""
    if alert.status is not AlertStatus.OPEN or not escalation:
        return False
    state = escalation["state"]
    return state == "exhausted" or (escalation.get("round", 1) > 1 and state not in ("accepted", "stopped"))


def queue_key(alert: Alert, escalation: Mapping[str, Any] | None = None) -> tuple[Any, ...]:
    """Alarms before technical alerts; nobody reached first; untouched above taken; then severity and age."""
    return (alert.severity is Severity.TECHNICAL, not nobody_reached(alert, escalation),
            alert.status is not AlertStatus.OPEN, SEVERITY_RANK[alert.severity], alert.raised_at, alert.id)


def queue_order(alerts: Iterable[Alert], escalations: Mapping[int, Any] | None = None) -> list[Alert]:
    """The active queue in the order an operator should take it (see queue_key)."""
    escalations = escalations or {}
    return sorted(alerts, key=lambda a: queue_key(a, escalations.get(a.id)))


def alert_view(alert: Alert, resident_name: str | None, now: datetime,
               escalation: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """An alert as the API and the live stream send it: the record, its escalation, and what the queue shows."""
    out = alert.to_dict()
    out["resident_name"] = resident_name
    out["waiting_seconds"] = waiting_seconds(alert, now)
    out["severity_rank"] = SEVERITY_RANK[alert.severity]
    out["escalation"] = dict(escalation) if escalation else None
    out["nobody_reached"] = nobody_reached(alert, escalation)
    # The 45 s / 60 s answer target is for alarms; a technical alert shows its age without turning red.
    out["answer_target"] = alert.severity is not Severity.TECHNICAL
    return out


def change_view(change: AlertChange, resident_name: str | None, now: datetime,
                escalation: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """One live-stream message for an AlertChange."""
    return {"kind": change.kind.value, "alert": alert_view(change.alert, resident_name, now, escalation)}


@dataclass(frozen=True, slots=True)
class ContactView:
    name: str
    phone: str
    relation: str
    priority: int
    key_holder: bool


@dataclass(frozen=True, slots=True)
class ResidentCard:
    """What an operator sees about a resident. The key-safe code is deliberately absent."""

    id: str
    name: str
    age: int | None
    date_of_birth: str | None
    address: str
    phones: tuple[str, ...]
    language: str
    timezone: str
    at_home: bool
    risk_flags: tuple[str, ...]
    contacts: tuple[ContactView, ...]
    key_holders: tuple[ContactView, ...]
    has_key_safe: bool

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return asdict(self)


def age_on(born: date | None, today: date) -> int | None:
    """Whole years between a birth date and `today`."""
    if born is None:
        return None
    return today.year - born.year - ((today.month, today.day) < (born.month, born.day))


def _local_today(tz_name: str, now: datetime) -> date:
    try:
        return now.astimezone(ZoneInfo(tz_name)).date()
    except (ZoneInfoNotFoundError, ValueError):
        return now.date()


def _contacts(raw: Any) -> tuple[ContactView, ...]:
    """Contacts from the jsonb column; malformed entries are skipped rather than breaking the card."""
    out = []
    for c in raw if isinstance(raw, list) else []:
        if not isinstance(c, Mapping) or not c.get("name"):
            continue
        out.append(ContactView(str(c["name"]), str(c.get("phone", "")), str(c.get("relation", "")),
                               int(c.get("priority", 1) or 1), bool(c.get("key_holder", False))))
    return tuple(sorted(out, key=lambda c: c.priority))


def card_from_row(row: Mapping[str, Any], now: datetime) -> ResidentCard:
    """Build the card from a `residents` row (which may include the code: only its presence is kept)."""
    contacts = _contacts(row.get("contacts"))
    born = row.get("date_of_birth")
    tz = row.get("timezone") or "Europe/Madrid"
    return ResidentCard(
        id=row["id"], name=row["name"], age=age_on(born, _local_today(tz, now)),
        date_of_birth=born.isoformat() if born else None, address=row.get("address") or "",
        phones=tuple(row.get("phones") or ()), language=row.get("language") or "", timezone=tz,
        at_home=bool(row.get("at_home", True)), risk_flags=tuple(sorted(row.get("risk_flags") or ())),
        contacts=contacts, key_holders=tuple(c for c in contacts if c.key_holder),
        has_key_safe=bool(row.get("has_key_safe") or row.get("key_safe_code")),
    )


def readable_errors(errors: Sequence[Mapping[str, Any]]) -> str:
    """Pydantic validation errors as one sentence an operator (or a script author) can act on."""
    parts = []
    for e in errors:
        loc = [str(p) for p in e.get("loc", ()) if p not in ("body", "query", "path", "cookie", "header")]
        where = ".".join(loc) or ".".join(str(p) for p in e.get("loc", ())) or "request"
        parts.append(f"{where}: {e.get('msg', 'invalid value')}")
    return "; ".join(parts) or "invalid request"
