"""Pure planning: cadences, last contact, reablement, birthdays, calling hours, quiet days, DST."""
from __future__ import annotations

from datetime import date, datetime, time, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest

from outreach.planning import (
    calling_window, is_birthday, next_calling_window, plan_calls, reablement_weekdays, risk_priority,
)
from telecare.clock import FakeClock
from telecare.people import CarePlan, Reablement, Resident, RiskFlag

MADRID = ZoneInfo("Europe/Madrid")
UTC = timezone.utc


def madrid(y: int, m: int, d: int, hh: int = 8, mm: int = 0) -> datetime:
    return datetime(y, m, d, hh, mm, tzinfo=MADRID)


def resident(rid: str = "r1", **plan: object) -> Resident:
    extra = {k: plan.pop(k) for k in ("date_of_birth", "timezone", "risk_flags") if k in plan}
    return Resident(rid, "Name", care_plan=CarePlan(**plan), **extra)  # type: ignore[arg-type]


@pytest.mark.parametrize("level,days", [(1, 15), (2, 30), (3, 45)])
def test_follow_up_cadence_per_level(level: int, days: int) -> None:
    r = resident(follow_up_level=level)
    last = madrid(2026, 11, 2, 11).astimezone(UTC)
    due_day = date(2026, 11, 2) + timedelta(days=days)
    clock = FakeClock(datetime.combine(due_day - timedelta(days=1), time(8), MADRID))
    assert plan_calls([r], {"r1": last}, set(), clock.now()) == []
    clock.advance(timedelta(days=1))
    [call] = plan_calls([r], {"r1": last}, set(), clock.now())
    assert (call.purpose, call.due_date, call.mode) == ("follow_up", due_day, "human")
    assert call.dedupe_key == f"follow_up:r1:{due_day.isoformat()}"


def test_recent_contact_for_another_purpose_resets_the_cycle() -> None:
    r = resident(follow_up_level=1)
    now = madrid(2026, 11, 22)
    # 20 days since the last follow-up, but a weather call reached them 6 days ago: not due.
    assert plan_calls([r], {"r1": (now - timedelta(days=6)).astimezone(UTC)}, set(), now) == []
    assert len(plan_calls([r], {"r1": now - timedelta(days=20)}, set(), now)) == 1


def test_never_contacted_is_planned_once_and_existing_keys_are_skipped() -> None:
    now = madrid(2026, 11, 22)
    [call] = plan_calls([resident()], {}, set(), now)
    assert call.dedupe_key == "follow_up:r1:first"
    assert plan_calls([resident()], {}, {call.dedupe_key}, now) == []


def test_overdue_follow_up_keeps_its_key_on_later_days() -> None:
    r = resident(follow_up_level=1)
    last = madrid(2026, 11, 1, 12)
    a = plan_calls([r], {"r1": last}, set(), madrid(2026, 11, 16))
    b = plan_calls([r], {"r1": last}, set(), madrid(2026, 11, 18))
    assert a[0].dedupe_key == b[0].dedupe_key == "follow_up:r1:2026-11-16"
    assert b[0].due_date == date(2026, 11, 18)


def test_window_passed_plans_the_next_allowed_day_skipping_quiet_days() -> None:
    # Saturday 21 Nov 2026, 21:00 local: today's window (10-20) is over; Sunday (7) is quiet.
    r = resident(quiet_days=(7,))
    [call] = plan_calls([r], {}, set(), madrid(2026, 11, 21, 21))
    assert call.due_date == date(2026, 11, 23)
    assert call.not_before == madrid(2026, 11, 23, 10).astimezone(UTC)
    assert call.not_after == madrid(2026, 11, 23, 20).astimezone(UTC)


def test_custom_calling_hours_inside_todays_window() -> None:
    r = resident(calling_start=time(16, 30), calling_end=time(18, 0))
    [call] = plan_calls([r], {}, set(), madrid(2026, 11, 22, 17))
    assert call.due_date == date(2026, 11, 22)
    assert (call.not_before.hour, call.not_before.minute, call.not_after.hour) == (15, 30, 17)


def test_reablement_cadence_spread_over_the_week_until_its_end() -> None:
    until = date(2026, 12, 6)
    r = resident(follow_up_level=3, reablement=Reablement(calls_per_week=2, until=until))
    last = {"r1": madrid(2026, 11, 20, 12)}  # follow-up not due for 45 days
    days = []
    for offset in range(21):
        now = madrid(2026, 11, 23) + timedelta(days=offset)
        days += [c.due_date for c in plan_calls([r], last, set(), now) if c.dedupe_key.startswith("reablement")]
    assert days == [date(2026, 11, 23), date(2026, 11, 26), date(2026, 11, 30), date(2026, 12, 3)]
    assert reablement_weekdays(2, ()) == {1, 4}
    assert reablement_weekdays(3, (6, 7)) == {1, 2, 4}
    assert reablement_weekdays(9, (7,)) == {1, 2, 3, 4, 5, 6}


def test_birthday_on_the_day_in_the_residents_zone_replaces_follow_up() -> None:
    r = resident(date_of_birth=date(1940, 11, 23), timezone="America/New_York")
    # 23:30 UTC on the 22nd is already the 23rd in Madrid but still 18:30 on the 22nd in New York.
    now = datetime(2026, 11, 22, 23, 30, tzinfo=UTC)
    calls = plan_calls([r], {}, set(), now)
    assert [c.purpose for c in calls] == ["follow_up"]
    assert calls[0].due_date == date(2026, 11, 22)
    calls = plan_calls([r], {}, set(), datetime(2026, 11, 23, 12, tzinfo=UTC))
    assert [(c.purpose, c.due_date) for c in calls] == [("birthday", date(2026, 11, 23))]
    ny = ZoneInfo("America/New_York")
    assert calls[0].not_before.astimezone(ny).time() == time(10)
    assert calls[0].not_after.astimezone(ny).time() == time(20)


def test_feb_29_birthday_in_a_common_year_is_kept_on_feb_28() -> None:
    born = date(1944, 2, 29)
    assert is_birthday(born, date(2027, 2, 28)) and not is_birthday(born, date(2027, 3, 1))
    assert is_birthday(born, date(2028, 2, 29)) and not is_birthday(born, date(2028, 2, 28))
    r = resident(date_of_birth=born)
    [call] = plan_calls([r], {"r1": madrid(2027, 2, 20)}, set(), madrid(2027, 2, 28))
    assert (call.purpose, call.due_date) == ("birthday", date(2027, 2, 28))


@pytest.mark.parametrize("day,utc_start,utc_end", [
    (date(2026, 3, 28), 9, 19),   # CET (+1), the day before spring forward
    (date(2026, 3, 29), 8, 18),   # spring forward at 02:00: the day is 23 h long, window in CEST
    (date(2026, 10, 24), 8, 18),  # CEST (+2)
    (date(2026, 10, 25), 9, 19),  # fall back at 03:00: the day is 25 h long, window in CET
])
def test_calling_window_across_madrid_dst_transitions(day: date, utc_start: int, utc_end: int) -> None:
    w = calling_window(resident(), day)
    assert (w.start.hour, w.end.hour) == (utc_start, utc_end)
    assert w.end - w.start == timedelta(hours=10)


def test_planning_in_the_night_of_dst_changes_uses_the_local_day() -> None:
    r = resident()
    # 00:30 UTC on 29 March 2026 is 01:30 CET (before the jump), already the 29th locally.
    [call] = plan_calls([r], {}, set(), datetime(2026, 3, 29, 0, 30, tzinfo=UTC))
    assert call.due_date == date(2026, 3, 29) and call.not_before.hour == 8
    # 01:30 UTC on 25 October is 02:30 CET (second pass of the repeated hour).
    [call] = plan_calls([r], {}, set(), datetime(2026, 10, 25, 1, 30, tzinfo=UTC))
    assert call.due_date == date(2026, 10, 25) and call.not_before.hour == 9


def test_calling_hours_in_a_non_existent_local_time_do_not_crash() -> None:
    r = resident(calling_start=time(2, 30), calling_end=time(4, 0))
    w = calling_window(r, date(2026, 3, 29))
    assert w.start < w.end


def test_next_window_when_every_day_is_quiet_is_an_error() -> None:
    with pytest.raises(ValueError):
        next_calling_window(resident(quiet_days=(1, 2, 3, 4, 5, 6, 7)), madrid(2026, 11, 22))


def test_priority_puts_risk_first() -> None:
    day = date(2026, 11, 22)
    plain = resident("a")
    alone = resident("b", risk_flags=frozenset({RiskFlag.LIVES_ALONE}))
    frail = resident("c", risk_flags=frozenset({RiskFlag.LIVES_ALONE, RiskFlag.DEMENTIA}),
                     date_of_birth=date(1930, 1, 1))
    assert risk_priority(frail, day) < risk_priority(alone, day) < risk_priority(plain, day)
    calls = plan_calls([plain, alone, frail], {}, set(), madrid(2026, 11, 22))
    assert [c.resident_id for c in calls] == ["c", "b", "a"]


def test_named_caller_then_team_are_assigned() -> None:
    calls = plan_calls([resident("a", team="nord"), resident("b", team="nord", named_caller="Marta")], {}, set(),
                       madrid(2026, 11, 22))
    assert {c.resident_id: c.assigned_to for c in calls} == {"a": "nord", "b": "Marta"}


def test_naive_now_is_rejected() -> None:
    with pytest.raises(ValueError):
        plan_calls([resident()], {}, set(), datetime(2026, 11, 22, 8))


def test_unreached_follow_up_is_retried_later_not_dropped() -> None:
    r = resident(follow_up_level=1)
    last = {"r1": madrid(2026, 11, 1, 12)}  # due 16 Nov; that call ended unreached on 17 Nov
    unreached = {"r1": madrid(2026, 11, 17, 19)}
    existing = {"follow_up:r1:2026-11-16"}
    assert plan_calls([r], last, existing, madrid(2026, 11, 18), unreached) == []
    [retry] = plan_calls([r], last, existing, madrid(2026, 11, 19), unreached)
    assert retry.dedupe_key == "follow_up:r1:2026-11-16:retry:2026-11-19"
    assert retry.due_date == date(2026, 11, 19)
    # An unreached call from an earlier cycle does not delay the current one.
    [call] = plan_calls([r], {"r1": madrid(2026, 11, 20)}, set(), madrid(2026, 12, 5),
                        {"r1": madrid(2026, 11, 10)})
    assert call.dedupe_key == "follow_up:r1:2026-12-05"
    # Never reached at all: the first call is retried too.
    [first] = plan_calls([r], {}, {"follow_up:r1:first"}, madrid(2026, 11, 20), {"r1": madrid(2026, 11, 18)})
    assert first.dedupe_key == "follow_up:r1:first:retry:2026-11-20"


def test_first_calls_of_a_large_new_service_are_spread_risk_first():
    from outreach.planning import FOLLOW_UP_DAYS, MIN_FIRST_CALLS_PER_DAY
    from telecare.people import Resident, RiskFlag

    now = datetime(2026, 11, 23, 8, 0, tzinfo=timezone.utc)  # a Monday, 09:00 in Madrid
    residents = [Resident(f"r{i:05d}", "Someone", risk_flags=frozenset({RiskFlag.LIVES_ALONE}) if i % 10 == 0
                          else frozenset()) for i in range(3000)]
    plans = plan_calls(residents, {}, set(), now)
    quota = max(MIN_FIRST_CALLS_PER_DAY, -(-3000 // min(FOLLOW_UP_DAYS.values())))
    assert len(plans) == quota == 200
    assert all(p.resident_id in {r.id for r in residents if r.risk_flags} for p in plans[:200])
    # The next day, those planned are not planned again and the next batch comes.
    nxt = plan_calls(residents, {}, {p.dedupe_key for p in plans}, now + timedelta(days=1))
    assert len(nxt) == 200 and not {p.resident_id for p in nxt} & {p.resident_id for p in plans}
