"""GET /api/quality on a seeded history equals the figures computed directly from it; the gauges follow."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from alerts.store import AlertStore
from tests.web_helpers import api_client, app_with
from dashboards.routes.quality import router
from insights.job import InsightsJob
from telecare import metrics
from telecare.alerts import AlertTrigger, AlertType, Outcome, Severity
from telecare.bus import InProcessBus
from telecare.clock import FakeClock
from zoneinfo import ZoneInfo

pytestmark = pytest.mark.integration

NOW = datetime(2026, 1, 15, 12, tzinfo=timezone.utc)  # 13:00 in Madrid
DAY1 = datetime(2026, 1, 13, 9, tzinfo=timezone.utc)
# 40 alarms on two Madrid days: answer times chosen so that 39 are within 60 s and all within 180 s.
ANSWERS = [15 + i for i in range(39)] + [95]
OPERATORS = ["ana" if i % 2 else "joan" for i in range(40)]  # joan takes the 95 s one (i = 39 is odd: ana)


async def _resident(db, rid: str, level: int = 2, enrolled: datetime = NOW - timedelta(days=300)) -> None:
    await db.execute("INSERT INTO residents (id, name, care_plan, created_at) VALUES (%s, %s, %s, %s)",
                     (rid, "x", {"follow_up_level": level}, enrolled))


async def _seed_alarms(db, store: AlertStore) -> list[tuple[datetime, float, str]]:
    seeded = []
    for i, (seconds, op) in enumerate(zip(ANSWERS, OPERATORS)):
        rid = f"r{i % 5}"
        # Half on the 13th; the rest from 23:10 UTC on the 13th, i.e. the 14th in Madrid.
        raised = DAY1 + timedelta(minutes=7 * i) if i < 20 else DAY1 + timedelta(hours=14, minutes=10 + 7 * (i - 20))
        alert = (await store.raise_or_attach(AlertTrigger(rid, AlertType.HELP_BUTTON if i % 3 else AlertType.FALL,
                                                          Severity.CRITICAL, raised, "test"), raised)).alert
        if i == 7:  # answered by resolving it directly: counts as answered then
            await store.resolve(alert.id, op, Outcome.FALSE_ALARM, "", raised + timedelta(seconds=seconds))
        else:
            await store.acknowledge(alert.id, op, raised + timedelta(seconds=seconds))
            await store.resolve(alert.id, op, Outcome.RESOLVED_BY_PHONE, "", raised + timedelta(seconds=seconds + 60))
        seeded.append((raised, seconds, op))
    # Not alarms: a technical alert answered late and a welfare check.
    tech = (await store.raise_or_attach(AlertTrigger("r0", AlertType.DEVICE_OFFLINE, Severity.TECHNICAL, DAY1, "t"),
                                        DAY1)).alert
    await store.acknowledge(tech.id, "ana", DAY1 + timedelta(hours=2))
    return seeded


@pytest.fixture
async def seeded(db):
    for i in range(5):
        await _resident(db, f"r{i}")
    store = AlertStore(db, InProcessBus())
    alarms = await _seed_alarms(db, store)
    # Cadence: c1 level 1 reached 10 days ago (met), c2 level 1 reached 20 days ago (not), c3 level 3 reached
    # 40 days ago (met) and tried 2 days ago unreached, c4 new and never called (met), r0..r4 never reached (not).
    for rid, level, enrolled in (("c1", 1, NOW - timedelta(days=300)), ("c2", 1, NOW - timedelta(days=300)),
                                 ("c3", 3, NOW - timedelta(days=300)), ("c4", 2, NOW - timedelta(days=3))):
        await _resident(db, rid, level, enrolled)
    for rid, ago, outcome in (("c1", 10, "fine"), ("c2", 20, "concern"), ("c3", 40, "fine"), ("c3", 2, "no_answer")):
        at = NOW - timedelta(days=ago)
        await db.execute("""INSERT INTO call_log (resident_id, purpose, caller, mode, phone, started_at, answered_at,
                            outcome) VALUES (%s, 'follow_up', 'ana', 'human', '', %s, %s, %s)""",
                         (rid, at, at if outcome != "no_answer" else None, outcome))
    # Unreached today: c1 (a welfare check went out) and c2 (none); c3's ended yesterday.
    task_ids = {}
    for rid, at in (("c1", NOW - timedelta(hours=2)), ("c2", NOW - timedelta(hours=1)), ("c3", NOW - timedelta(days=1))):
        task_ids[rid] = await db.fetchval(
            """INSERT INTO call_tasks (resident_id, purpose, mode, due_date, not_before, not_after, status,
                                       next_attempt_at, dedupe_key, created_at, updated_at)
               VALUES (%s, 'follow_up', 'human', %s, %s, %s, 'unreached', %s, %s, %s, %s) RETURNING id""",
            (rid, at.date(), at, at, at, f"follow_up:{rid}:x", at, at))
    await store.raise_or_attach(AlertTrigger("c1", AlertType.WELFARE_CHECK, Severity.HIGH, NOW - timedelta(hours=2),
                                             "follow up call unreached"), NOW - timedelta(hours=2))
    return {"alarms": alarms, "tasks": task_ids}


def _app(db):
    bus = InProcessBus()
    return app_with(db, bus, AlertStore(db, bus), FakeClock(NOW), [router(db, FakeClock(NOW), "Europe/Madrid")])


@pytest.fixture
async def client(db):
    async with api_client(_app(db), role="admin") as c:
        yield c


def _expected(rows):
    n = len(rows)
    return n, round(sum(1 for _, s, _ in rows if s <= 60) / n, 6), round(sum(1 for _, s, _ in rows if s <= 180) / n, 6)


async def test_the_board_equals_the_figures_computed_from_the_seeded_history(client, seeded):
    r = await client.get("/api/quality", params={"from": "2026-01-13T00:00:00+01:00", "to": "2026-01-15T00:00:00+01:00"})
    assert r.status_code == 200, r.text
    body = r.json()
    assert (body["alarms"], body["answered_within_60s"], body["answered_within_180s"]) == (40, 0.975, 1.0)
    assert body["meets_targets"] is True and body["timezone"] == "Europe/Madrid"
    madrid = ZoneInfo("Europe/Madrid")
    days = {}
    for row in seeded["alarms"]:
        days.setdefault(row[0].astimezone(madrid).date().isoformat(), []).append(row)
    assert {d["day"]: (d["alarms"], d["answered_within_60s"], d["answered_within_180s"]) for d in body["per_day"]} == {
        day: _expected(rows) for day, rows in days.items()}
    assert set(days) == {"2026-01-13", "2026-01-14"}
    ops = {}
    for row in seeded["alarms"]:
        ops.setdefault(row[2], []).append(row)
    assert {o["operator"]: (o["alarms"], o["answered_within_60s"], o["answered_within_180s"])
            for o in body["per_operator"]} == {op: _expected(rows) for op, rows in ops.items()}
    assert sum(h["alarms"] for h in body["per_hour"]) == 40
    # Cadence: c1, c3 (40 of 45 days) and c4 (new) met; c2 and the five never-reached residents not.
    assert (body["cadence"]["residents"], body["cadence"]["met"]) == (9, 3)
    assert body["cadence_met"] == round(3 / 9, 6)
    assert [(u["resident_id"], u["welfare_check"]) for u in body["unreached_today"]] == [("c1", True), ("c2", False)]
    assert body["unreached_today"][0]["task_id"] == seeded["tasks"]["c1"]


async def test_alarms_outside_the_range_are_left_out_and_bad_ranges_are_400(client, seeded):
    r = await client.get("/api/quality", params={"from": "2026-01-13T00:00:00+01:00", "to": "2026-01-14T00:00:00+01:00"})
    assert r.json()["alarms"] == 20 and r.json()["answered_within_60s"] == 1.0
    r = await client.get("/api/quality", params={"from": "2026-01-14T00:00:00+01:00", "to": "2026-01-13T00:00:00+01:00"})
    assert r.status_code == 400
    r = await client.get("/api/quality", params={"from": "2026-01-13T00:00:00"})
    assert r.status_code == 400  # no offset: which day is meant is ambiguous
    assert (await client.get("/api/quality", params={"to": "yesterday"})).status_code == 422


async def test_a_coordinator_sees_the_figures_of_their_own_teams_residents_only(db, seeded):
    await db.execute("""UPDATE residents SET care_plan = care_plan || jsonb_build_object('team',
                        CASE WHEN id IN ('r0', 'r1', 'c1') THEN 'A' ELSE 'B' END)""")
    span = {"from": "2026-01-13T00:00:00+01:00", "to": "2026-01-15T00:00:00+01:00"}
    async with api_client(_app(db), role="coordinator", teams=["A"]) as coordinator:
        body = (await coordinator.get("/api/quality", params=span)).json()
    team_a = [row for i, row in enumerate(seeded["alarms"]) if i % 5 in (0, 1)]
    assert (body["alarms"], body["answered_within_60s"], body["answered_within_180s"]) == _expected(team_a)
    assert body["teams"] == ["A"] and sum(o["alarms"] for o in body["per_operator"]) == len(team_a) == 16
    assert (body["cadence"]["residents"], body["cadence"]["met"]) == (3, 1)  # r0, r1 never reached; c1 met
    assert [u["resident_id"] for u in body["unreached_today"]] == ["c1"]
    async with api_client(_app(db), role="admin") as admin:
        assert (await admin.get("/api/quality", params=span)).json()["alarms"] == 40


async def test_the_job_sets_the_gauges_from_the_same_figures(db, seeded):
    clock = FakeClock(DAY1 + timedelta(days=1, hours=12))  # the last 24 h hold the 14th's alarms
    job = InsightsJob(db, clock, ZoneInfo("Europe/Madrid"))
    board = await job.quality_round()
    assert metrics.QUALITY_ALARMS._value.get() == board["alarms"] > 0
    assert metrics.QUALITY_ANSWERED_WITHIN.labels("60")._value.get() == board["answered_within_60s"]
    assert metrics.QUALITY_CADENCE_MET._value.get() == board["cadence_met"]
    assert metrics.QUALITY_UNREACHED_TODAY.labels("yes")._value.get() + \
        metrics.QUALITY_UNREACHED_TODAY.labels("no")._value.get() == len(board["unreached_today"])


async def test_the_answer_histogram_counts_each_alert_once_when_first_answered(db):
    await _resident(db, "h1")
    store = AlertStore(db, InProcessBus())

    def count(le: str) -> float:
        return metrics.REGISTRY.get_sample_value("telecare_alert_answer_seconds_bucket",
                                                 {"type": "fall", "le": le}) or 0.0
    before_60, before_inf = count("60.0"), count("+Inf")
    a = (await store.raise_or_attach(AlertTrigger("h1", AlertType.FALL, Severity.CRITICAL, NOW, "t"), NOW)).alert
    await store.acknowledge(a.id, "ana", NOW + timedelta(seconds=45))
    await store.resolve(a.id, "ana", Outcome.RESOLVED_BY_PHONE, "", NOW + timedelta(seconds=300))  # not again
    b = (await store.raise_or_attach(AlertTrigger("h1", AlertType.FALL, Severity.CRITICAL, NOW, "t"), NOW)).alert
    await store.resolve(b.id, "joan", Outcome.FALSE_ALARM, "", NOW + timedelta(seconds=120))  # answered by resolving
    assert (count("60.0") - before_60, count("+Inf") - before_inf) == (1, 2)
    # The old name keeps working for existing dashboards.
    assert metrics.REGISTRY.get_sample_value("telecare_alert_ack_seconds_count", {"severity": "critical"}) >= 1
