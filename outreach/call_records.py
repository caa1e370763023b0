"""A call attempt as stored (CallRecord), the call-log query (CallFilter) and the CSV form of the log."""
from __future__ import annotations

import csv
import io
from dataclasses import dataclass, fields
from datetime import datetime
from typing import Any

from outreach.call_vocabulary import CallMode, CallOutcome, CallPurpose


@dataclass(frozen=True, slots=True)
class CallRecord:
    """One call attempt as stored."""

    id: int
    task_id: int | None
    resident_id: str
    purpose: CallPurpose
    campaign_id: int | None
    alert_id: int | None
    caller: str
    mode: CallMode
    phone: str
    attempt: int
    started_at: datetime
    answered_at: datetime | None
    ended_at: datetime | None
    outcome: CallOutcome | None
    digits: str | None
    note: str | None
    provider_call_id: str | None
    not_done_reason: str | None
    urgent: bool = False  # started outside calling hours because a person marked it urgent

    def __post_init__(self) -> None:
        # Rows hold the stored strings; the record holds the vocabularies (the table's CHECKs and writes match).
        object.__setattr__(self, "purpose", CallPurpose(self.purpose))
        object.__setattr__(self, "mode", CallMode(self.mode))
        if self.outcome is not None:
            object.__setattr__(self, "outcome", CallOutcome(self.outcome))

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form for the API."""
        return {f.name: (v.isoformat() if isinstance(v := getattr(self, f.name), datetime) else v)
                for f in fields(self)}


@dataclass(frozen=True, slots=True)
class CallFilter:
    """Call-log query: every field optional; `start`/`end` bound started_at (end exclusive)."""

    resident_id: str | None = None
    start: datetime | None = None
    end: datetime | None = None
    purpose: CallPurpose | str | None = None
    outcome: CallOutcome | str | None = None
    campaign_id: int | None = None
    limit: int = 1000
    teams: tuple[str, ...] | None = None  # only residents of these care teams (None: every resident)


def csv_text(rows: list[tuple[CallRecord, str | None]], *, with_names: bool) -> str:
    """Call records (with names from query_named when `with_names`) as CSV; free text made formula-safe."""
    out = io.StringIO()
    writer = csv.writer(out)
    names = [fl.name for fl in fields(CallRecord)] + (["resident_name"] if with_names else [])
    writer.writerow(names)
    for record, resident_name in rows:
        data = {**record.to_dict(), "resident_name": resident_name}
        writer.writerow(["" if data[n] is None else _safe_cell(data[n]) if n in _FREE_TEXT else data[n]
                         for n in names])
    return out.getvalue()


_FREE_TEXT = frozenset({"note", "caller", "resident_name"})


def _safe_cell(value: Any) -> Any:
    """Neutralise spreadsheet formulas in free text (CSV injection): notes are typed by people."""
    if isinstance(value, str) and value[:1] in ("=", "+", "-", "@"):
        return "'" + value
    return value
