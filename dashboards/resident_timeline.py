"""A resident's timeline, newest first: alerts (and how they were handled), calls, visits, care-plan changes,
notes of both organisations and sensor activity summarised per local day. Cursor pages over (at, kind, id)."""
from __future__ import annotations

import asyncio
from collections.abc import Sequence
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any
from zoneinfo import ZoneInfo

from insights.rollups import hourly_source
from telecare.errors import InvalidInput, NotFound
from telecare.store import Database

from dashboards.timeline_items import activity_item, alert_item, call_item, plan_item


class TimelineKind(StrEnum):
    ACTIVITY = "activity"
    ALERT = "alert"
    CALL = "call"
    CARE_PLAN = "care_plan"
    NOTE = "note"
    VISIT = "visit"


Key = tuple[datetime, str, int]  # the page order, newest first: (at, kind, id) descending


def encode_cursor(key: Key) -> str:
    """The `before` value of the next page."""
    return f"{key[0].isoformat()}~{key[1]}~{key[2]}"


def decode_cursor(text: str) -> Key:
    """A cursor from encode_cursor, or a bare ISO instant (everything strictly before it)."""
    parts = text.split("~")
    try:
        at = datetime.fromisoformat(parts[0])
        if at.tzinfo is None:
            raise ValueError("naive")
        if len(parts) == 1:
            return at, "", 0
        kind, ident = parts[1], int(parts[2])
        if kind not in {k.value for k in TimelineKind} or len(parts) != 3:
            raise ValueError(kind)
        return at, kind, ident
    except (ValueError, IndexError):
        raise InvalidInput("before must be an ISO time with its offset, or the next_before of a page") from None


def _bound(kind: TimelineKind, cursor: Key | None, at: str, ident: str) -> tuple[str, dict[str, Any]]:
    """SQL for "this source's rows that sort after the cursor" (its kind is constant within the source)."""
    if cursor is None:
        return "true", {}
    c_at, c_kind, c_id = cursor
    params = {"c_at": c_at, "c_id": c_id}
    if kind.value < c_kind:
        return f"{at} <= %(c_at)s", params
    if kind.value == c_kind:
        return f"({at} < %(c_at)s OR ({at} = %(c_at)s AND {ident} < %(c_id)s))", params
    return f"{at} < %(c_at)s", params


def after_cursor(key: Key, cursor: Key | None) -> bool:
    """The item sorts after (is older than) the cursor."""
    return cursor is None or key < cursor


class ResidentTimeline:
    """Reads one page of the timeline; every source is an index range scan on (resident_id, time)."""

    def __init__(self, db: Database) -> None:
        self._db = db
        self._source: str | None = None

    async def page(self, resident_id: str, kinds: Sequence[TimelineKind], before: str | None,
                   limit: int, now: datetime) -> dict[str, Any]:
        """{"items": [...newest first], "next_before": cursor or None}."""
        zone_name = await self._db.fetchval("SELECT timezone FROM residents WHERE id = %s", (resident_id,))
        if zone_name is None:
            raise NotFound(f"resident {resident_id} is not registered")
        cursor = decode_cursor(before) if before else None
        wanted = set(kinds or TimelineKind)
        readers = {TimelineKind.ALERT: self._alerts, TimelineKind.CALL: self._calls, TimelineKind.VISIT: self._visits,
                   TimelineKind.CARE_PLAN: self._plan, TimelineKind.NOTE: self._notes}
        if self._source is None:
            self._source = await hourly_source(self._db)
        # Every source at once (each an index range scan on its own pooled connection), then one merge.
        sources = await asyncio.gather(*(
            self._activity(resident_id, ZoneInfo(zone_name), cursor, limit, now) if kind is TimelineKind.ACTIVITY
            else readers[kind](resident_id, cursor, limit) for kind in sorted(wanted)))
        full = any(len(got) >= limit for got in sources)
        items = [item for got in sources for item in got]
        items.sort(key=lambda kv: kv[0], reverse=True)
        more = full or len(items) > limit
        items = items[:limit]
        return {"items": [item for _, item in items],
                "next_before": encode_cursor(items[-1][0]) if more and items else None}

    async def _rows(self, sql: str, kind: TimelineKind, at: str, ident: str, resident_id: str, cursor: Key | None,
                    limit: int) -> list[dict[str, Any]]:
        cond, params = _bound(kind, cursor, at, ident)
        return await self._db.fetch(sql.format(cond=cond), {"rid": resident_id, "limit": limit, **params})

    async def _alerts(self, resident_id: str, cursor: Key | None, limit: int) -> list[tuple[Key, dict[str, Any]]]:
        rows = await self._rows(
            """SELECT id, type, severity, status, raised_at, reason, count, acknowledged_at, acknowledged_by,
                      resolved_at, resolved_by, outcome, note FROM alerts
               WHERE resident_id = %(rid)s AND {cond} ORDER BY raised_at DESC, id DESC LIMIT %(limit)s""",
            TimelineKind.ALERT, "raised_at", "id", resident_id, cursor, limit)
        history = await self._db.fetch(
            """SELECT alert_id, at, kind, actor, text FROM alert_history
               WHERE alert_id IN (SELECT (jsonb_array_elements_text(%s))::bigint) ORDER BY at, id""",
            ([str(r["id"]) for r in rows],)) if rows else []
        return [((r["raised_at"], TimelineKind.ALERT.value, int(r["id"])),
                 alert_item(r, [h for h in history if h["alert_id"] == r["id"]])) for r in rows]

    async def _calls(self, resident_id: str, cursor: Key | None, limit: int) -> list[tuple[Key, dict[str, Any]]]:
        rows = await self._rows(
            """SELECT id, purpose, caller, mode, attempt, started_at, answered_at, ended_at, outcome, note,
                      alert_id, campaign_id FROM call_log
               WHERE resident_id = %(rid)s AND {cond} ORDER BY started_at DESC, id DESC LIMIT %(limit)s""",
            TimelineKind.CALL, "started_at", "id", resident_id, cursor, limit)
        return [((r["started_at"], TimelineKind.CALL.value, int(r["id"])), call_item(r)) for r in rows]

    async def _visits(self, resident_id: str, cursor: Key | None, limit: int) -> list[tuple[Key, dict[str, Any]]]:
        rows = await self._rows(
            """SELECT id, at, visitor, purpose, outcome, note, recorded_by, organisation FROM visits
               WHERE resident_id = %(rid)s AND {cond} ORDER BY at DESC, id DESC LIMIT %(limit)s""",
            TimelineKind.VISIT, "at", "id", resident_id, cursor, limit)
        return [((r["at"], TimelineKind.VISIT.value, int(r["id"])),
                 {"kind": "visit", **r, "at": r["at"].isoformat(),
                  "contact": r["outcome"] in ("seen_well", "seen_concern")}) for r in rows]

    async def _notes(self, resident_id: str, cursor: Key | None, limit: int) -> list[tuple[Key, dict[str, Any]]]:
        rows = await self._rows(
            """SELECT id, at, author, organisation, text FROM resident_notes
               WHERE resident_id = %(rid)s AND {cond} ORDER BY at DESC, id DESC LIMIT %(limit)s""",
            TimelineKind.NOTE, "at", "id", resident_id, cursor, limit)
        return [((r["at"], TimelineKind.NOTE.value, int(r["id"])), {"kind": "note", **r, "at": r["at"].isoformat()})
                for r in rows]

    async def _plan(self, resident_id: str, cursor: Key | None, limit: int) -> list[tuple[Key, dict[str, Any]]]:
        # One item per edit (its fields share `at` and the editor); its id is the edit's first row.
        rows = await self._rows(
            """SELECT min(id) AS id, at, changed_by, organisation,
                      jsonb_agg(jsonb_build_object('field', field, 'before', before, 'after', after) ORDER BY id)
                          AS changes
               FROM care_plan_history WHERE resident_id = %(rid)s AND {cond}
               GROUP BY at, changed_by, organisation ORDER BY at DESC, min(id) DESC LIMIT %(limit)s""",
            TimelineKind.CARE_PLAN, "at", "id", resident_id, cursor, limit)
        return [((r["at"], TimelineKind.CARE_PLAN.value, int(r["id"])), plan_item(r)) for r in rows]

    async def _activity(self, resident_id: str, zone: ZoneInfo, cursor: Key | None, limit: int,
                        now: datetime) -> list[tuple[Key, dict[str, Any]]]:
        """Per local day: events per type from the hourly rollup (never heartbeat by heartbeat)."""
        if self._source is None:
            self._source = await hourly_source(self._db)
        # A day is whole or absent: read a local day past the cursor, then drop what does not sort after it.
        # The window grows back to the next older data until it holds a page of days (or all of them).
        upper = cursor[0] + timedelta(hours=26) if cursor else None
        span = timedelta(days=limit + 3)
        lower: datetime | None = (upper or now + timedelta(days=1)) - span
        for attempt in range(4):
            rows = await self._days(resident_id, zone, lower, upper, limit + 3)
            if len(rows) >= limit + 3 or lower is None:
                break
            older = await self._db.fetchval(
                f"SELECT max(hour) FROM {self._source} WHERE resident_id = %s AND hour < %s", (resident_id, lower))
            if older is None:
                break
            lower = None if attempt == 2 else older - span
        out = []
        for r in rows:
            key = (r["last_ts"], TimelineKind.ACTIVITY.value, r["day"].toordinal())
            if after_cursor(key, cursor):
                out.append((key, activity_item(r)))
        return out[:limit]

    async def _days(self, resident_id: str, zone: ZoneInfo, lower: datetime | None, upper: datetime | None,
                    limit: int) -> list[dict[str, Any]]:
        bounds = ("AND hour >= %(lower)s " if lower else "") + ("AND hour < %(upper)s" if upper else "")
        return await self._db.fetch(
            f"""SELECT day, max(last_ts) AS last_ts, jsonb_object_agg(event_type, n) AS counts
                FROM (SELECT (hour AT TIME ZONE %(tz)s)::date AS day, event_type, sum(count) AS n,
                             max(last_ts) AS last_ts
                      FROM {self._source} WHERE resident_id = %(rid)s {bounds}
                      GROUP BY 1, 2) AS per_type
                GROUP BY day ORDER BY day DESC LIMIT %(limit)s""",
            {"tz": zone.key, "rid": resident_id, "lower": lower, "upper": upper, "limit": limit})
