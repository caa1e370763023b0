"""Pure: the resident page's series from rollup rows, in the resident's time zone and night window.

Hours are UTC hours of the rollup mapped to local time: exact for the whole-hour offsets of the zones the
service uses (a half-hour zone would shift hourly counts by 30 min; bed and door series use exact seconds).
"""
from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

from telecare.events import ACTIVITY_EVENT_TYPES, EventType
from telecare.people import CarePlan

from insights.rollup_queries import CallRow, DeviceRow
from insights.rollup_rows import DeviceDay, RollupRow

OFFLINE_AFTER = timedelta(hours=24)
_ACTIVITY = frozenset(t.value for t in ACTIVITY_EVENT_TYPES)


@dataclass(frozen=True, slots=True)
class Night:
    """A night, named by the local date it starts on, as UTC instants."""

    night: date
    start: datetime
    end: datetime


def night_window(day: date, plan: CarePlan, zone: ZoneInfo) -> Night:
    """The care plan's night starting on local `day` (ends next day when night_end <= night_start)."""
    end_day = day + timedelta(days=1) if plan.night_end <= plan.night_start else day
    return Night(day, datetime.combine(day, plan.night_start, zone), datetime.combine(end_day, plan.night_end, zone))


def days_between(first: date, last: date) -> list[date]:
    """Every date from first to last inclusive."""
    return [first + timedelta(days=i) for i in range((last - first).days + 1)]


def _instants(rows: Iterable[RollupRow], etype: EventType) -> list[datetime]:
    return sorted(t for r in rows if r.event_type == etype.value for t in r.instants())


def bed_nights(rows: Sequence[RollupRow], zone: ZoneInfo, plan: CarePlan, first: date, last: date) -> list[dict]:
    """Per night: bed exits in the night window and minutes out of bed within it.

    Out of bed from an exit to the next return (a second exit without a return changes nothing); the state
    at the window's start comes from the last transition before it (rows should start ~a day earlier)."""
    moves = sorted([(t, True) for t in _instants(rows, EventType.BED_EXIT)]
                   + [(t, False) for t in _instants(rows, EventType.BED_RETURN)], key=lambda m: m[0])
    out = []
    for day in days_between(first, last):
        w = night_window(day, plan, zone)
        before = [is_exit for t, is_exit in moves if t < w.start]
        away_since = w.start if before and before[-1] else None
        seconds = 0.0
        exits = 0
        for t, is_exit in moves:
            if not w.start <= t < w.end:
                continue
            if is_exit:
                exits += 1
                away_since = away_since or t
            elif away_since is not None:
                seconds += (t - away_since).total_seconds()
                away_since = None
        if away_since is not None:
            seconds += (w.end - away_since).total_seconds()
        out.append({"night": day.isoformat(), "exits": exits, "minutes_out_of_bed": round(seconds / 60, 1)})
    return out


def door_nights(rows: Sequence[RollupRow], zone: ZoneInfo, plan: CarePlan, first: date, last: date) -> list[dict]:
    """Per night: door openings inside the night window."""
    doors = _instants(rows, EventType.DOOR_OPEN)
    out = []
    for day in days_between(first, last):
        w = night_window(day, plan, zone)
        out.append({"night": day.isoformat(), "door_openings": sum(1 for t in doors if w.start <= t < w.end)})
    return out


def _local_counts(rows: Iterable[RollupRow], zone: ZoneInfo, types: frozenset[str]) -> dict[tuple[date, int], int]:
    counts: dict[tuple[date, int], int] = defaultdict(int)
    for r in rows:
        if r.event_type in types:
            local = r.hour.astimezone(zone)
            counts[(local.date(), local.hour)] += r.count
    return counts


def medication_weeks(rows: Sequence[RollupRow], zone: ZoneInfo, plan: CarePlan, first: date, today: date) -> list[dict]:
    """Per local week (Monday first) from first's week to today's: doses taken, missed, expected, adherence.

    Adherence is taken / expected (dose times x days so far, capped at 1); without dose times in the care
    plan, taken / (taken + missed); None when there is nothing to measure."""
    taken = _local_counts(rows, zone, frozenset({EventType.MEDICATION_TAKEN.value}))
    missed = _local_counts(rows, zone, frozenset({EventType.MEDICATION_MISSED.value}))
    monday = first - timedelta(days=first.weekday())
    out = []
    while monday <= today:
        days = [d for d in days_between(monday, monday + timedelta(days=6)) if d <= today]
        t = sum(n for (d, _), n in taken.items() if d in days)
        m = sum(n for (d, _), n in missed.items() if d in days)
        expected = len(plan.dose_times) * len(days)
        if expected:
            adherence = min(1.0, t / expected)
        else:
            adherence = t / (t + m) if t + m else None
        out.append({"week": monday.isoformat(), "taken": t, "missed": m, "expected": expected,
                    "adherence": None if adherence is None else round(adherence, 4)})
        monday += timedelta(days=7)
    return out


def activity_by_hour(rows: Sequence[RollupRow], zone: ZoneInfo, today: date, weeks: int = 4,
                     usual_weeks: int = 8) -> dict:
    """A heat map of activity events by local day and hour over the last `weeks`, and the usual pattern:
    the mean per hour of day over the `usual_weeks` before them (None when nothing was recorded then)."""
    counts = _local_counts(rows, zone, _ACTIVITY)
    recent = days_between(today - timedelta(days=7 * weeks - 1), today)
    usual_days = days_between(recent[0] - timedelta(days=7 * usual_weeks), recent[0] - timedelta(days=1))
    usual_set = set(usual_days)
    usual_total = [0] * 24
    for (d, h), n in counts.items():
        if d in usual_set:
            usual_total[h] += n
    usual = [round(n / len(usual_days), 3) for n in usual_total] if any(usual_total) else None
    return {"days": [d.isoformat() for d in recent], "hours": list(range(24)),
            "counts": [[counts.get((d, h), 0) for h in range(24)] for d in recent], "usual": usual}


def calls_by_month(calls: Sequence[CallRow], zone: ZoneInfo, first: date, today: date) -> list[dict]:
    """Per local month from first's month to today's: calls made and calls that reached the resident."""
    made: dict[str, int] = defaultdict(int)
    reached: dict[str, int] = defaultdict(int)
    for c in calls:
        key = c.started_at.astimezone(zone).strftime("%Y-%m")
        made[key] += 1
        reached[key] += c.reached
    out = []
    y, m = first.year, first.month
    while (y, m) <= (today.year, today.month):
        key = f"{y:04d}-{m:02d}"
        out.append({"month": key, "made": made[key], "reached": reached[key]})
        y, m = (y + 1, 1) if m == 12 else (y, m + 1)
    return out


def device_status(devices: Sequence[DeviceRow], days: Sequence[DeviceDay],
                  latest: dict[str, tuple[datetime | None, int | None]], now: datetime) -> list[dict]:
    """Per registered device: last seen, latest battery, silent for more than 24 h, battery per UTC day."""
    by_device: dict[str, list[DeviceDay]] = defaultdict(list)
    for d in days:
        by_device[d.device_id].append(d)
    out = []
    for dev in devices:
        seen, battery = latest.get(dev.device_id, (None, None))
        out.append({"device_id": dev.device_id, "type": dev.type,
                    "last_seen": seen.isoformat() if seen else None, "battery": battery,
                    "offline": seen is None or now - seen > OFFLINE_AFTER,
                    "battery_by_day": [[d.day.isoformat(), d.battery]
                                       for d in sorted(by_device[dev.device_id], key=lambda x: x.day)
                                       if d.battery is not None]})
    return out


def local_today(now: datetime, zone: ZoneInfo) -> date:
    """The local date at an instant."""
    return now.astimezone(zone).date()


