"""The series from rollup rows equal the same figures computed directly from the raw events."""
from __future__ import annotations

from collections import Counter
from datetime import date, time, timedelta
from zoneinfo import ZoneInfo

import pytest

from insights import series as S
from insights.rollup_queries import CallRow
from insights.rollup_rows import MAX_OFFSETS, device_days, rollup_events
from telecare.events import ACTIVITY_EVENT_TYPES, EventType
from telecare.people import CarePlan
from tests.insights_seed import T0, event, history

ZONES = [ZoneInfo("Europe/Madrid"), ZoneInfo("America/New_York"), ZoneInfo("UTC")]
PLANS = [CarePlan(), CarePlan(night_start=time(23, 30), night_end=time(6, 15), dose_times=(time(9), time(21))),
         CarePlan(night_start=time(1, 0), night_end=time(5, 0))]  # a night that starts after midnight
EVENTS = history("r1", 45, seed=11)  # crosses the spring DST change in Europe and America
FIRST, LAST = date(2026, 3, 3), date(2026, 4, 13)


def _direct_out_of_bed(events, window: S.Night) -> tuple[int, float]:
    """Out-of-bed intervals (exit to the next return, or open) intersected with the night window."""
    moves = sorted((e.ts, e.type) for e in events if e.type in (EventType.BED_EXIT, EventType.BED_RETURN))
    intervals, since = [], None
    for ts, kind in moves:
        if kind == EventType.BED_EXIT and since is None:
            since = ts
        elif kind == EventType.BED_RETURN and since is not None:
            intervals.append((since, ts))
            since = None
    if since is not None:
        intervals.append((since, window.end))
    seconds = sum(max(0.0, (min(b, window.end) - max(a, window.start)).total_seconds()) for a, b in intervals)
    exits = sum(1 for ts, kind in moves if kind == EventType.BED_EXIT and window.start <= ts < window.end)
    return exits, round(seconds / 60, 1)


@pytest.mark.parametrize("zone", ZONES, ids=lambda z: z.key)
@pytest.mark.parametrize("plan", PLANS, ids=["default", "late", "after-midnight"])
def test_bed_exits_and_time_out_of_bed_per_night(zone, plan):
    points = S.bed_nights(rollup_events(EVENTS), zone, plan, FIRST, LAST)
    assert len(points) == (LAST - FIRST).days + 1
    for p in points:
        exits, minutes = _direct_out_of_bed(EVENTS, S.night_window(date.fromisoformat(p["night"]), plan, zone))
        assert (p["exits"], p["minutes_out_of_bed"]) == (exits, minutes), p["night"]
    assert sum(p["exits"] for p in points) > 0 and any(p["minutes_out_of_bed"] for p in points)


@pytest.mark.parametrize("zone", ZONES, ids=lambda z: z.key)
@pytest.mark.parametrize("plan", PLANS, ids=["default", "late", "after-midnight"])
def test_door_openings_at_night(zone, plan):
    points = S.door_nights(rollup_events(EVENTS), zone, plan, FIRST, LAST)
    doors = [e.ts for e in EVENTS if e.type == EventType.DOOR_OPEN]
    for p in points:
        w = S.night_window(date.fromisoformat(p["night"]), plan, zone)
        assert p["door_openings"] == sum(1 for t in doors if w.start <= t < w.end)


@pytest.mark.parametrize("zone", ZONES, ids=lambda z: z.key)
@pytest.mark.parametrize("plan", PLANS[:2], ids=["no-dose-times", "two-doses"])
def test_medication_adherence_per_week(zone, plan):
    today = date(2026, 4, 8)  # a Wednesday: the last week is partial
    points = S.medication_weeks(rollup_events(EVENTS), zone, plan, FIRST, today)
    for p in points:
        week = set(S.days_between(date.fromisoformat(p["week"]), date.fromisoformat(p["week"]) + timedelta(days=6)))
        days = {d for d in week if d <= today}
        local = [(e.ts.astimezone(zone).date(), e.type) for e in EVENTS]
        taken = sum(1 for d, t in local if d in days and t == EventType.MEDICATION_TAKEN)
        missed = sum(1 for d, t in local if d in days and t == EventType.MEDICATION_MISSED)
        expected = len(plan.dose_times) * len(days)
        want = min(1, taken / expected) if expected else taken / (taken + missed)
        assert (p["taken"], p["missed"], p["expected"]) == (taken, missed, expected)
        assert p["adherence"] == pytest.approx(want, abs=1e-4)
    assert points[0]["week"] == "2026-03-02" and points[-1]["week"] == "2026-04-06"


@pytest.mark.parametrize("zone", ZONES, ids=lambda z: z.key)
def test_activity_by_hour_of_day_against_the_usual_pattern(zone):
    today = date(2026, 4, 14)
    heat = S.activity_by_hour(rollup_events(EVENTS), zone, today, weeks=2, usual_weeks=3)
    local = Counter((e.ts.astimezone(zone).date(), e.ts.astimezone(zone).hour) for e in EVENTS
                    if e.type in ACTIVITY_EVENT_TYPES)
    days = [date.fromisoformat(d) for d in heat["days"]]
    assert len(days) == 14 and days[-1] == today
    assert heat["counts"] == [[local.get((d, h), 0) for h in range(24)] for d in days]
    usual_days = S.days_between(days[0] - timedelta(days=21), days[0] - timedelta(days=1))
    assert heat["usual"] == [round(sum(local.get((d, h), 0) for d in usual_days) / 21, 3) for h in range(24)]


def test_no_history_gives_no_usual_pattern():
    heat = S.activity_by_hour([], ZoneInfo("UTC"), date(2026, 4, 14))
    assert heat["usual"] is None and all(sum(row) == 0 for row in heat["counts"])


def test_calls_made_and_reached_per_month():
    zone = ZoneInfo("Europe/Madrid")
    calls = [CallRow(T0 + timedelta(days=d, hours=9), d % 3 != 0) for d in range(0, 70, 2)]
    calls.append(CallRow(T0.replace(day=1) - timedelta(minutes=30), True))  # 23:30 UTC 28 Feb = March in Madrid
    points = S.calls_by_month(calls, zone, date(2026, 2, 1), date(2026, 5, 10))
    assert [p["month"] for p in points] == ["2026-02", "2026-03", "2026-04", "2026-05"]
    for p in points:
        mine = [c for c in calls if c.started_at.astimezone(zone).strftime("%Y-%m") == p["month"]]
        assert (p["made"], p["reached"]) == (len(mine), sum(c.reached for c in mine))
    assert points[0]["made"] == 0 and points[1]["reached"] >= 1


def test_rollup_rows_keep_every_event_but_heartbeats_and_cap_the_offsets():
    rows = rollup_events(EVENTS)
    assert sum(r.count for r in rows) == sum(1 for e in EVENTS if e.type != EventType.HEARTBEAT)
    burst = [event("r9", EventType.DOOR_OPEN, T0 + timedelta(seconds=i % 3600)) for i in range(MAX_OFFSETS + 50)]
    (row,) = rollup_events(burst)
    assert row.count == MAX_OFFSETS + 50 and len(row.offsets) == MAX_OFFSETS
    assert list(row.offsets) == sorted(row.offsets)


def test_device_days_report_last_seen_and_battery():
    days = device_days(EVENTS)
    beats = [e for e in EVENTS if e.type == EventType.HEARTBEAT]
    last_day = max(d.day for d in days if d.device_id == beats[0].device_id)
    final = max((e for e in beats), key=lambda e: e.ts)
    row = next(d for d in days if d.device_id == final.device_id and d.day == last_day)
    assert row.battery == final.battery and row.last_seen >= final.ts
