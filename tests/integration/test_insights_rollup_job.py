"""The incremental rollup job on real PostgreSQL: the same rows as the pure definition, watermark, late
events, idempotence."""
from __future__ import annotations

from datetime import timedelta

import pytest

from insights.rollup_queries import RollupReader
from insights.rollup_rows import device_days, rollup_events
from insights.rollups import RollupJob, watermark
from telecare.events import EventType
from tests.insights_seed import T0, event, history, store_events

pytestmark = pytest.mark.integration


async def _rows(db):
    reader = RollupReader(db)
    hourly = []
    days = []
    for rid in sorted({r["resident_id"] for r in await db.fetch("SELECT DISTINCT resident_id FROM events")}):
        hourly += await reader.hourly(rid, T0 - timedelta(days=400), T0 + timedelta(days=400))
        days += await reader.device_days(rid, (T0 - timedelta(days=400)).date(), (T0 + timedelta(days=400)).date())
    return hourly, days


async def test_the_job_writes_what_the_pure_definition_says(db):
    events = history("r1", 20, seed=3) + history("r2", 20, seed=4)
    await store_events(db, events)
    job = RollupJob(db, batch_events=500)  # several batches
    read = await job.catch_up(T0 + timedelta(days=30))
    assert read == len(events)
    hourly, days = await _rows(db)
    assert hourly == rollup_events(events)
    assert days == device_days(events)
    assert await watermark(db) == T0 + timedelta(days=30) - timedelta(seconds=30)


async def test_only_events_past_the_watermark_are_read_and_settled_ones_only(db):
    now = T0 + timedelta(days=3, hours=1)
    first = [e for e in history("r1", 3, seed=5) if e.received_at < now - timedelta(minutes=1)]
    await store_events(db, first)
    job = RollupJob(db)
    assert await job.catch_up(now) == len(first)
    assert await job.catch_up(now) == 0  # nothing new: nothing read
    fresh = event("r1", EventType.MOTION, now + timedelta(seconds=1), received_at=now + timedelta(seconds=5))
    await store_events(db, [fresh])
    assert await job.catch_up(now + timedelta(seconds=20)) == 0  # received less than SETTLE ago: not yet
    assert await job.catch_up(now + timedelta(seconds=40)) == 1
    hourly, _ = await _rows(db)
    assert hourly == rollup_events(first + [fresh])


async def test_a_late_event_recomputes_its_hour(db):
    events = history("r1", 5, seed=6)
    await store_events(db, events)
    job = RollupJob(db)
    now = T0 + timedelta(days=6)
    await job.catch_up(now)
    # A gateway buffered a bed exit from day 1 and delivers it on day 6: day 1's hour must change.
    late = event("r1", EventType.BED_EXIT, T0 + timedelta(days=1, hours=23, minutes=10), received_at=now)
    late_beat = event("r1", EventType.HEARTBEAT, T0 + timedelta(days=1, hours=23), received_at=now, battery=3)
    await store_events(db, [late, late_beat])
    assert await job.catch_up(now + timedelta(minutes=1)) == 2
    hourly, days = await _rows(db)
    assert hourly == rollup_events(events + [late, late_beat])
    assert days == device_days(events + [late, late_beat])
    row = next(r for r in hourly if r.hour == T0 + timedelta(days=1, hours=23) and r.event_type == "bed_exit")
    assert 600 in row.offsets


async def test_rerunning_a_window_gives_the_same_rows(db):
    events = history("r1", 4, seed=7)
    await store_events(db, events)
    job = RollupJob(db, batch_events=100)
    await job.catch_up(T0 + timedelta(days=5))
    before = await _rows(db)
    await job.recompute_window(T0 - timedelta(days=1), T0 + timedelta(days=5))
    await job.recompute_window(T0 + timedelta(days=1), T0 + timedelta(days=2))
    assert await _rows(db) == before
    # And resetting the watermark to the beginning rebuilds the same rows.
    await db.execute("DELETE FROM rollup_progress")
    await job.catch_up(T0 + timedelta(days=5))
    assert await _rows(db) == before


async def test_the_resident_series_read_through_the_rollups(db):
    from zoneinfo import ZoneInfo

    from insights import series as S
    from insights.series_queries import ResidentSeries, SeriesName
    from telecare.errors import InvalidInput, NotFound
    from telecare.people import CarePlan

    await db.execute("INSERT INTO residents (id, name, timezone) VALUES ('r1', 'x', 'Europe/Madrid')")
    await db.execute("INSERT INTO devices (id, type, gateway_id, resident_id) VALUES ('gw-r1', 'gateway', 'gw-r1', 'r1'),"
                     " ('motion-1-r1', 'motion_sensor', 'gw-r1', 'r1')")
    events = history("r1", 40, seed=9)
    await store_events(db, events)
    now = T0 + timedelta(days=40, hours=12)
    await RollupJob(db).catch_up(now)
    svc = ResidentSeries(db)
    bed = await svc.series("r1", "bed", 30, now)
    zone = ZoneInfo("Europe/Madrid")
    last = (now.astimezone(zone).date() - timedelta(days=1))
    assert bed["points"] == S.bed_nights(rollup_events(events), zone, CarePlan(), last - timedelta(days=29), last)
    assert bed["rollups_through"] is not None and len(bed["points"]) == 30
    for name in SeriesName:
        out = await svc.series("r1", name, None, now)
        assert out["series"] == name.value
    devices = (await svc.series("r1", "devices", 30, now))["devices"]
    motion = next(d for d in devices if d["device_id"] == "motion-1-r1")
    assert motion["battery"] is not None and motion["battery_by_day"] and motion["offline"] is False
    assert next(d for d in devices if d["device_id"] == "gw-r1")["offline"] is True  # never heard from
    with pytest.raises(NotFound):
        await svc.series("nobody", "bed", 30, now)
    with pytest.raises(InvalidInput):
        await svc.series("r1", "pulse", 30, now)
    with pytest.raises(InvalidInput):
        await svc.series("r1", "bed", 4000, now)
