"""The residents directory: search by name, id, phone, address or team, filters, pages (read-only)."""
from __future__ import annotations

import asyncio
import re
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from telecare.people import RiskFlag
from telecare.store import Database

PAGE_SIZE = 50
COUNT_CAP = 1000  # "1000+" beyond this: counting every match of a broad search would cost a full scan
_PHONE = re.compile(r"^[\d\s+().\-/]+$")
_WORD = re.compile(r"\w+", re.UNICODE)


@dataclass(frozen=True, slots=True)
class DirectoryFilter:
    """What the directory asks for (every field optional); `teams` None: every team."""

    q: str = ""
    team: str | None = None
    flag: RiskFlag | None = None
    level: int | None = None
    open_alerts: bool | None = None
    unreached: bool | None = None  # a follow-up left unreached this (local) week
    page: int = 1
    page_size: int = PAGE_SIZE
    teams: tuple[str, ...] | None = None


def prefix_query(q: str) -> str | None:
    """The tsquery text for a search box: every word as a prefix; a phone number as its digits; None if empty.

    Matches the words telecare_resident_search (migration 0006) puts in the index."""
    text = q.strip()
    digits = re.sub(r"\D", "", text)
    if _PHONE.match(text) and len(digits) >= 4:
        return digits + ":*"
    words = [w.lower() for w in _WORD.findall(text)][:8]
    return " & ".join(f"{w}:*" for w in words) or None


def week_start(now: datetime, zone: ZoneInfo) -> date:
    """Monday of the service's current week."""
    today = now.astimezone(zone).date()
    return today - timedelta(days=today.weekday())


_OPEN = "EXISTS (SELECT 1 FROM alerts a WHERE a.resident_id = r.id AND a.status IN ('open', 'acknowledged'))"
_UNREACHED = ("EXISTS (SELECT 1 FROM call_tasks t WHERE t.resident_id = r.id AND t.due_date >= %(monday)s "
              "AND t.status = 'unreached')")
_SEARCH = "(r.search_doc @@ to_tsquery('simple', %(tsq)s) OR r.id = %(q)s)"
_COLUMNS = f"""r.id, r.name, r.address, r.phones, r.risk_flags, r.care_plan->>'team' AS team,
    coalesce((r.care_plan->>'follow_up_level')::int, 2) AS level,
    (SELECT count(*) FROM alerts a WHERE a.resident_id = r.id AND a.status IN ('open', 'acknowledged')) AS open_alerts,
    {_UNREACHED} AS unreached_this_week"""


def where(f: DirectoryFilter) -> str:
    """Only the conditions the filter uses (a generic plan over `x IS NULL OR …` would not use the indexes)."""
    parts = ["true"]
    if f.q.strip():
        parts.append(_SEARCH)
    if f.teams is not None:
        # One parameter per team: against a jsonb array the planner cannot use the (team, name) index.
        teams = ", ".join(f"%(team_{i})s" for i in range(len(f.teams))) or "NULL"
        parts.append(f"r.care_plan->>'team' IN ({teams})")
    if f.team is not None:
        parts.append("r.care_plan->>'team' = %(team)s")
    if f.flag is not None:
        parts.append("r.risk_flags @> ARRAY[%(flag)s::text]")  # @>: the GIN index on risk_flags
    if f.level is not None:
        parts.append("coalesce((r.care_plan->>'follow_up_level')::int, 2) = %(level)s")
    # "Has open alerts" starts from the few active alerts (a semi-join), not from every resident by name.
    if f.open_alerts is not None:
        parts.append("r.id IN (SELECT resident_id FROM alerts WHERE status IN ('open', 'acknowledged'))"
                     if f.open_alerts else "NOT " + _OPEN)
    if f.unreached is not None:
        parts.append("r.id IN (SELECT resident_id FROM call_tasks WHERE status = 'unreached' "
                     "AND due_date >= %(monday)s)" if f.unreached else "NOT " + _UNREACHED)
    return " AND ".join(parts)


class ResidentDirectory:
    """One page of residents matching a filter, by name."""

    def __init__(self, db: Database, zone: ZoneInfo) -> None:
        self._db = db
        self._zone = zone

    async def search(self, f: DirectoryFilter, now: datetime) -> dict[str, Any]:
        """{"residents": [...], "page", "page_size", "has_more", "total" (capped), "total_capped"}."""
        params = {"tsq": prefix_query(f.q), "q": f.q.strip(), **{f"team_{i}": t for i, t in enumerate(f.teams or ())},
                  "team": f.team, "flag": f.flag.value if f.flag else None, "level": f.level,
                  "open": f.open_alerts, "unreached": f.unreached, "monday": week_start(now, self._zone),
                  "limit": f.page_size + 1, "offset": (f.page - 1) * f.page_size}
        if f.q.strip() and params["tsq"] is None:  # only punctuation: nothing can match
            return {"residents": [], "page": f.page, "page_size": f.page_size, "has_more": False, "total": 0,
                    "total_capped": False}
        cond = where(f)
        # The page and the (capped) count on two pooled connections at once: a broad prefix costs both a scan.
        rows, total = await asyncio.gather(
            self._db.fetch(f"SELECT {_COLUMNS} FROM residents r WHERE {cond} ORDER BY r.name, r.id "
                           "LIMIT %(limit)s OFFSET %(offset)s", params),
            self._db.fetchval(f"SELECT count(*) FROM (SELECT 1 FROM residents r WHERE {cond} "
                              f"LIMIT {COUNT_CAP + 1}) AS capped", params))
        total = int(total)
        return {"residents": [_row(r) for r in rows[:f.page_size]], "page": f.page, "page_size": f.page_size,
                "has_more": len(rows) > f.page_size, "total": min(total, COUNT_CAP),
                "total_capped": total > COUNT_CAP}


def _row(r: dict[str, Any]) -> dict[str, Any]:
    return {"id": r["id"], "name": r["name"], "address": r["address"], "phones": list(r["phones"] or ()),
            "risk_flags": sorted(r["risk_flags"] or ()), "team": r["team"], "level": r["level"],
            "open_alerts": int(r["open_alerts"]), "unreached_this_week": bool(r["unreached_this_week"])}
