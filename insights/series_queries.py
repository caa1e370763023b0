"""The resident page's series: read the rollups for the range a series needs, then compute it (pure)."""
from __future__ import annotations

from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any
from zoneinfo import ZoneInfo

from devices.records import care_plan_from_json
from telecare.errors import InvalidInput, NotFound
from telecare.events import ACTIVITY_EVENT_TYPES, EventType
from telecare.store import Database

from insights import series as S
from insights.rollup_queries import RollupReader
from insights.rollups import watermark

MAX_DAYS = 366


class SeriesName(StrEnum):
    """The plotted series (GET /api/residents/{id}/series/{name})."""

    BED = "bed"  # bed exits and time out of bed per night
    DOORS = "doors"  # door openings at night
    MEDICATION = "medication"  # adherence % per week
    ACTIVITY = "activity"  # by hour of day, last 4 weeks vs the usual pattern
    CALLS = "calls"  # made and reached per month
    DEVICES = "devices"  # battery and last seen


DEFAULT_DAYS = {SeriesName.BED: 30, SeriesName.DOORS: 30, SeriesName.MEDICATION: 90, SeriesName.ACTIVITY: 28,
                SeriesName.CALLS: 365, SeriesName.DEVICES: 30}
_BED = [EventType.BED_EXIT.value, EventType.BED_RETURN.value]


class ResidentSeries:
    """Reads one resident's series; every answer says how far the rollups have got."""

    def __init__(self, db: Database) -> None:
        self._db = db
        self._reader = RollupReader(db)

    async def series(self, resident_id: str, name: SeriesName | str, days: int | None, now: datetime) -> dict[str, Any]:
        """One series as JSON-ready data (NotFound for an unknown resident, InvalidInput for a bad name/days)."""
        try:
            name = SeriesName(name)
        except ValueError:
            raise InvalidInput(f"unknown series {str(name)[:30]!r}; expected one of "
                               + ", ".join(s.value for s in SeriesName)) from None
        days = DEFAULT_DAYS[name] if days is None else days
        if not 1 <= days <= MAX_DAYS:
            raise InvalidInput(f"days must be between 1 and {MAX_DAYS}")
        row = await self._db.fetchrow("SELECT timezone, care_plan FROM residents WHERE id = %s", (resident_id,))
        if row is None:
            raise NotFound(f"resident {resident_id} is not registered")
        zone, plan = ZoneInfo(row["timezone"]), care_plan_from_json(row["care_plan"] or {})
        today = S.local_today(now, zone)
        first = today - timedelta(days=days - 1)
        # A day of margin before: the state at the first night's start, and local days west/east of UTC.
        start = datetime.combine(first, datetime.min.time(), zone) - timedelta(days=1)
        end = now + timedelta(hours=1)
        through = await watermark(self._db)
        out: dict[str, Any] = {"resident_id": resident_id, "series": name.value, "days": days,
                               "timezone": zone.key, "rollups_through": through.isoformat() if through else None}
        r = self._reader
        if name is SeriesName.BED:
            rows = await r.hourly(resident_id, start, end, _BED)
            # Nights end the next morning: the last complete-or-current night is the one starting yesterday
            # until the night starts today.
            last = today if now >= S.night_window(today, plan, zone).start else today - timedelta(days=1)
            out["points"] = S.bed_nights(rows, zone, plan, last - timedelta(days=days - 1), last)
        elif name is SeriesName.DOORS:
            rows = await r.hourly(resident_id, start, end, [EventType.DOOR_OPEN.value])
            last = today if now >= S.night_window(today, plan, zone).start else today - timedelta(days=1)
            out["points"] = S.door_nights(rows, zone, plan, last - timedelta(days=days - 1), last)
        elif name is SeriesName.MEDICATION:
            rows = await r.hourly(resident_id, start, end,
                                  [EventType.MEDICATION_TAKEN.value, EventType.MEDICATION_MISSED.value])
            out["points"] = S.medication_weeks(rows, zone, plan, first, today)
        elif name is SeriesName.ACTIVITY:
            weeks = max(1, days // 7)
            start = datetime.combine(today - timedelta(days=7 * (weeks + 8)), datetime.min.time(), zone)
            rows = await r.hourly(resident_id, start, end, sorted(t.value for t in ACTIVITY_EVENT_TYPES))
            out["heatmap"] = S.activity_by_hour(rows, zone, today, weeks=weeks)
        elif name is SeriesName.CALLS:
            out["points"] = S.calls_by_month(await r.calls(resident_id, start, end), zone, first, today)
        else:
            out["devices"] = S.device_status(await r.devices(resident_id),
                                             await r.device_days(resident_id, first, today),
                                             await r.last_seen(resident_id), now)
        return out
