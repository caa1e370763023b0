"""TaskStore against real PostgreSQL: saving plans, worklists, claims, retries, unreached, callbacks, roll-over."""
from __future__ import annotations

import asyncio
from datetime import date, datetime, time, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest

from outreach.planning import plan_calls
from outreach.task_records import welfare_trigger
from outreach.tasks import TaskStore
from telecare.alerts import AlertType, Severity
from telecare.clock import FakeClock
from telecare.errors import ConflictError, InvalidInput
from telecare.people import CarePlan, Resident, RiskFlag
from telecare.store import Database

MADRID = ZoneInfo("Europe/Madrid")


async def add_residents(db: Database, *ids: str) -> None:
    for rid in ids:
        await db.execute("INSERT INTO residents (id, name) VALUES (%s, %s)", (rid, f"Resident {rid}"))


def res(rid: str, **plan: object) -> Resident:
    flags = plan.pop("risk_flags", frozenset())
    return Resident(rid, "Name", risk_flags=flags, care_plan=CarePlan(**plan))  # type: ignore[arg-type]


async def test_saving_the_same_plan_twice_creates_nothing_new(db: Database) -> None:
    await add_residents(db, "r1", "r2")
    store, now = TaskStore(db), datetime(2026, 11, 23, 8, tzinfo=MADRID)
    plans = plan_calls([res("r1"), res("r2")], {}, set(), now)
    assert await store.save_plans(plans, now) == 2
    assert await store.save_plans(plans, now) == 0
    keys = await store.known_keys(date(2026, 11, 1))
    assert keys == {"follow_up:r1:first", "follow_up:r2:first"}
    assert plan_calls([res("r1"), res("r2")], {}, keys, now) == []


async def test_worklist_orders_by_risk_then_window_and_filters_by_assignee(db: Database) -> None:
    await add_residents(db, "a", "b", "c")
    store, now = TaskStore(db), datetime(2026, 11, 23, 8, tzinfo=MADRID)
    residents = [res("a", team="nord"), res("b", team="nord", risk_flags=frozenset({RiskFlag.LIVES_ALONE})),
                 res("c", team="sud", calling_start=time(9, 0))]
    await store.save_plans(plan_calls(residents, {}, set(), now), now)
    day = date(2026, 11, 23)
    assert [t.resident_id for t in await store.worklist("nord", day, now)] == ["b", "a"]
    assert [t.resident_id for t in await store.worklist(None, day, now)] == ["b", "c", "a"]
    assert await store.worklist("nord", day - timedelta(days=1), now) == []


async def test_claim_is_exclusive_even_when_concurrent(db: Database) -> None:
    await add_residents(db, "r1")
    store, now = TaskStore(db), datetime(2026, 11, 23, 11, tzinfo=MADRID)
    await store.save_plans(plan_calls([res("r1")], {}, set(), now), now)
    [task] = await store.worklist(None, date(2026, 11, 23), now)
    results = await asyncio.gather(*(store.claim(task.id, now) for _ in range(4)))
    assert sum(r is not None for r in results) == 1
    assert (await store.get(task.id)).status == "dialing"


async def test_retries_inside_calling_hours_then_unreached_with_welfare_flag(db: Database) -> None:
    await add_residents(db, "r1")
    r = res("r1", calling_end=time(19, 0))
    store = TaskStore(db)
    clock = FakeClock(datetime(2026, 11, 23, 18, 10, tzinfo=MADRID))  # 50 minutes before the window closes
    await store.save_plans(plan_calls([r], {}, set(), clock.now()), clock.now())
    [task] = await store.worklist(None, date(2026, 11, 23), clock.now())

    assert await store.claim(task.id, clock.now())
    first = await store.record_attempt(task.id, "no_answer", clock.now(), r)
    assert first.task.status == "pending" and not first.needs_welfare_check
    assert first.retry_at == clock.now() + timedelta(minutes=30)  # 18:40, still inside today's window

    clock.set(first.retry_at)
    assert await store.claim(task.id, clock.now())
    second = await store.record_attempt(task.id, "busy", clock.now(), r)
    # 19:10 would be after calling hours: the retry moves to the start of tomorrow's window.
    assert second.retry_at == datetime(2026, 11, 24, 10, 0, tzinfo=MADRID)
    assert second.task.not_after == datetime(2026, 11, 24, 19, 0, tzinfo=MADRID)

    clock.set(second.retry_at)
    assert await store.claim(task.id, clock.now())
    last = await store.record_attempt(task.id, "no_answer", clock.now(), r)
    assert (last.task.status, last.task.attempts, last.retry_at) == ("unreached", 3, None)
    assert last.needs_welfare_check and not last.reached
    trigger = welfare_trigger(last.task, clock.now())
    assert (trigger.type, trigger.severity, trigger.resident_id) == (AlertType.WELFARE_CHECK, Severity.HIGH, "r1")
    assert "Name" not in trigger.reason
    with pytest.raises(ConflictError):
        await store.record_attempt(task.id, "fine", clock.now(), r)


async def test_reached_is_done_and_unknown_outcome_is_refused(db: Database) -> None:
    await add_residents(db, "r1")
    store, now = TaskStore(db), datetime(2026, 11, 23, 11, tzinfo=MADRID)
    await store.save_plans(plan_calls([res("r1")], {}, set(), now), now)
    [task] = await store.worklist(None, date(2026, 11, 23), now)
    with pytest.raises(InvalidInput, match="unknown call outcome"):
        await store.record_attempt(task.id, "maybe", now, None)
    after = await store.record_attempt(task.id, "fine", now, None)
    assert after.reached and after.task.status == "done" and after.task.attempts == 1
    assert await store.worklist(None, date(2026, 11, 23), now) == []


async def test_callback_is_a_human_task_once_per_source_task(db: Database) -> None:
    await add_residents(db, "r1")
    store, now = TaskStore(db), datetime(2026, 11, 22, 21, tzinfo=MADRID)  # Sunday night, a quiet day follows
    r = res("r1", team="nord", quiet_days=(1,))
    one = await store.create_callback("r1", "pressed 2", now, resident=r, source_task_id=None)
    a = await store.create_callback("r1", "pressed 2", now, resident=r, source_task_id=one.id)
    b = await store.create_callback("r1", "pressed 2", now, resident=r, source_task_id=one.id)
    assert a.id == b.id and a.mode == "human" and a.assigned_to == "nord"
    assert a.not_before == datetime(2026, 11, 23, 10, tzinfo=MADRID)  # the resident asked: quiet day ignored


async def test_last_successful_contact_reads_the_call_log(db: Database) -> None:
    await add_residents(db, "r1", "r2")
    t0 = datetime(2026, 11, 1, 10, tzinfo=timezone.utc)
    rows = [("r1", "weather", "fine", t0), ("r1", "follow_up", "no_answer", t0 + timedelta(days=5)),
            ("r2", "birthday", "busy", t0)]
    for rid, purpose, outcome, at in rows:
        await db.execute("""INSERT INTO call_log (resident_id, purpose, caller, mode, phone, started_at,
                            answered_at, outcome) VALUES (%s, %s, 'automated', 'automated', '+34000', %s, %s, %s)""",
                         (rid, purpose, at, at if outcome == "fine" else None, outcome))
    store = TaskStore(db)
    assert await store.last_successful_contact() == {"r1": t0}
    assert await store.last_successful_contact(["r2"]) == {}


async def test_roll_over_moves_missed_windows_and_frees_stuck_dials(db: Database) -> None:
    await add_residents(db, "r1", "r2")
    store = TaskStore(db)
    monday = datetime(2026, 11, 23, 8, tzinfo=MADRID)
    residents = {"r1": res("r1"), "r2": res("r2")}
    await store.save_plans(plan_calls(residents.values(), {}, set(), monday), monday)
    t1, t2 = await store.worklist(None, date(2026, 11, 23), monday)
    assert await store.claim(t2.id, monday + timedelta(hours=3))
    later = datetime(2026, 11, 23, 21, tzinfo=MADRID)  # the process was down all day
    assert await store.roll_over(residents, later) == 2
    for t in (await store.get(t1.id), await store.get(t2.id)):
        assert t.status == "pending"
        assert t.next_attempt_at == t.not_before == datetime(2026, 11, 24, 10, tzinfo=MADRID)


async def test_unreached_follow_ups_are_reported_for_replanning(db: Database) -> None:
    await add_residents(db, "r1", "r2")
    store, now = TaskStore(db), datetime(2026, 11, 23, 11, tzinfo=MADRID)
    await store.save_plans(plan_calls([res("r1", quiet_days=()), res("r2")], {}, set(), now), now)
    await store.create_callback("r2", "pressed 2", now)  # callbacks are not routine follow-ups
    tasks = {t.resident_id + ":" + t.dedupe_key.split(":")[0]: t for t in await store.worklist(None, now.date(), now)}
    await store.record_attempt(tasks["r1:follow_up"].id, "wrong_number", now, None)
    await store.record_attempt(tasks["r2:callback"].id, "wrong_number", now, None)
    assert await store.last_unreached_follow_up() == {"r1": now}
