"""Reads behind the service-quality board, and the board itself (GET /api/quality)."""
from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from outreach.task_records import REACHED_OUTCOMES
from telecare.errors import InvalidInput
from telecare.store import Database

from insights import quality as Q
from insights.rollups import watermark

MAX_RANGE = timedelta(days=400)


# Team-bound readers (coordinators) see the figures of their teams' residents only: every query keeps the
# rows whose resident is in `teams` (None: every resident). Applied in SQL, before any aggregation.
_IN_TEAMS = ("IN (SELECT id FROM residents WHERE %s::jsonb IS NULL "
             "OR care_plan->>'team' IN (SELECT jsonb_array_elements_text(%s::jsonb)))")


class QualityQueries:
    """The platform's own records, fetched as the rows insights/quality.py computes on."""

    def __init__(self, db: Database, teams: tuple[str, ...] | None = None) -> None:
        self._db = db
        self._teams = None if teams is None else list(teams)

    def _scope(self) -> tuple:
        return (self._teams, self._teams)

    async def alarms(self, start: datetime, end: datetime) -> list[Q.AlarmRow]:
        """Alarms raised in [start, end) with when and by whom they were answered."""
        rows = await self._db.fetch(
            """SELECT id, type, raised_at, acknowledged_at, acknowledged_by FROM alerts
               WHERE raised_at >= %s AND raised_at < %s AND type IN (SELECT jsonb_array_elements_text(%s))
                     AND resident_id """ + _IN_TEAMS + """
               ORDER BY raised_at""", (start, end, sorted(t.value for t in Q.ALARM_TYPES), *self._scope()))
        return [Q.AlarmRow(r["id"], r["type"], r["raised_at"], r["acknowledged_at"], r["acknowledged_by"])
                for r in rows]

    async def cadence(self, as_of: datetime) -> list[Q.CadenceRow]:
        """Every resident's follow-up level, enrolment and last reached call up to as_of."""
        rows = await self._db.fetch(
            """SELECT r.id, r.timezone, COALESCE((r.care_plan->>'follow_up_level')::int, 2) AS level, r.created_at,
                      c.at AS last_contact
               FROM residents r LEFT JOIN (
                   SELECT resident_id, max(COALESCE(answered_at, started_at)) AS at FROM call_log
                   WHERE started_at <= %s AND outcome IN (SELECT jsonb_array_elements_text(%s))
                   GROUP BY resident_id) c ON c.resident_id = r.id
               WHERE r.id """ + _IN_TEAMS + """
               ORDER BY r.id""", (as_of, sorted(REACHED_OUTCOMES), *self._scope()))
        return [Q.CadenceRow(r["id"], r["timezone"], r["level"], r["created_at"], r["last_contact"]) for r in rows]

    async def unreached(self, start: datetime, end: datetime) -> list[Q.UnreachedRow]:
        """Call tasks that ended unreached in [start, end)."""
        rows = await self._db.fetch(
            """SELECT id, resident_id, purpose, updated_at FROM call_tasks
               WHERE status = 'unreached' AND updated_at >= %s AND updated_at < %s
                     AND resident_id """ + _IN_TEAMS, (start, end, *self._scope()))
        return [Q.UnreachedRow(r["resident_id"], r["id"], r["purpose"], r["updated_at"]) for r in rows]

    async def welfare(self, start: datetime, end: datetime) -> list[Q.WelfareRow]:
        """welfare_check alerts raised in [start, end)."""
        rows = await self._db.fetch(
            """SELECT id, resident_id, raised_at, status FROM alerts
               WHERE type = 'welfare_check' AND raised_at >= %s AND raised_at < %s
                     AND resident_id """ + _IN_TEAMS, (start, end, *self._scope()))
        return [Q.WelfareRow(r["resident_id"], r["id"], r["raised_at"], r["status"]) for r in rows]

    async def campaigns(self, start: datetime, end: datetime) -> list[Q.CampaignRow]:
        """Campaigns created in [start, end) or still active, with their calls counted by status."""
        rows = await self._db.fetch(
            """SELECT c.id, c.kind, c.title, c.status, c.created_at, count(t.id) AS tasks,
                      count(t.id) FILTER (WHERE t.status = 'done') AS done,
                      count(t.id) FILTER (WHERE t.status = 'unreached') AS unreached,
                      count(t.id) FILTER (WHERE t.status IN ('pending', 'dialing')) AS pending,
                      count(t.id) FILTER (WHERE t.status = 'cancelled') AS cancelled
               FROM campaigns c LEFT JOIN call_tasks t ON t.campaign_id = c.id AND t.resident_id """ + _IN_TEAMS + """
               WHERE (c.created_at >= %s AND c.created_at < %s) OR c.status = 'active'
               GROUP BY c.id HAVING %s::jsonb IS NULL OR count(t.id) > 0
               ORDER BY c.created_at DESC""", (*self._scope(), start, end, self._teams))
        return [Q.CampaignRow(r["id"], r["kind"], r["title"], r["status"], r["created_at"], r["tasks"], r["done"],
                              r["unreached"], r["pending"], r["cancelled"]) for r in rows]

    async def silent_devices(self, now: datetime) -> list[Q.DeviceSeen]:
        """Devices not seen (per the daily device rollup) for more than OFFLINE_AFTER."""
        rows = await self._db.fetch(
            """SELECT d.id, d.resident_id, d.type, d.registered_at, s.last_seen FROM devices d
               LEFT JOIN LATERAL (SELECT last_seen FROM device_rollup_daily x
                                  WHERE x.device_id = d.id AND x.last_seen IS NOT NULL
                                  ORDER BY x.day DESC LIMIT 1) s ON true
               WHERE COALESCE(s.last_seen, d.registered_at) < %s AND d.resident_id """ + _IN_TEAMS,
            (now - Q.OFFLINE_AFTER, *self._scope()))
        return [Q.DeviceSeen(r["id"], r["resident_id"], r["type"], r["registered_at"], r["last_seen"]) for r in rows]


async def quality_report(db: Database, zone: ZoneInfo, start: datetime, end: datetime, now: datetime,
                         teams: tuple[str, ...] | None = None) -> dict[str, Any]:
    """The board: alarm answer times in [start, end); cadence, unreached today and devices as of now.
    `teams`: only these care teams' residents (None: the whole service)."""
    if start.tzinfo is None or end.tzinfo is None:
        raise InvalidInput("from and to need a time zone offset")
    if end <= start or end - start > MAX_RANGE:
        raise InvalidInput(f"to must be after from, at most {MAX_RANGE.days} days later")
    q = QualityQueries(db, teams)
    day, day_start, day_end = Q.service_day(now, zone)
    as_of = min(end, now)
    through = await watermark(db)
    return {"from": start.isoformat(), "to": end.isoformat(), "timezone": zone.key, "generated_at": now.isoformat(),
            "targets": {f"answered_within_{s}s": share for s, share in Q.TARGETS.items()},
            **Q.alarm_board(await q.alarms(start, end), zone, now),
            **_cadence(Q.cadence(await q.cadence(as_of), as_of)),
            "today": day.isoformat(),
            "unreached_today": Q.unreached_today(await q.unreached(day_start, day_end),
                                                 await q.welfare(day_start, day_end)),
            "campaigns": Q.campaign_reach(await q.campaigns(start, end)),
            "devices_offline": Q.devices_offline(await q.silent_devices(now), now),
            "rollups_through": through.isoformat() if through else None,
            "teams": None if teams is None else list(teams)}


def _cadence(c: dict[str, Any]) -> dict[str, Any]:
    return {"cadence_met": c["cadence_met"], "cadence": c}
