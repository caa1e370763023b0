"""DueTimes.earliest: the next live due time, with superseded heap entries skipped."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone

from rules.timers import DueTimes

T0 = datetime(2026, 12, 1, 9, tzinfo=timezone.utc)


def test_earliest_skips_superseded_entries_and_is_none_once_everything_was_handled() -> None:
    due = DueTimes()
    assert due.earliest() is None
    due.schedule("r1", T0 + timedelta(minutes=5))
    due.schedule("r2", T0 + timedelta(minutes=1))
    due.at("r2", T0 + timedelta(minutes=3))  # r2 re-timed: its 1-minute entry is stale now
    assert due.earliest() == T0 + timedelta(minutes=3)
    assert list(due.due(T0 + timedelta(minutes=4))) == ["r2"]
    assert due.earliest() == T0 + timedelta(minutes=5)
    assert list(due.due(T0 + timedelta(hours=1))) == ["r1"] and due.earliest() is None


def test_the_live_lane_goes_before_the_catch_up_lane_and_each_goes_earliest_first() -> None:
    due = DueTimes()
    for i in range(3):  # overdue when taken on (a restore after an outage)
        due.schedule(f"late{i}", T0 - timedelta(minutes=10 - i), late=True)
    due.schedule("fresh", T0 + timedelta(seconds=1))
    due.at("retick", T0 - timedelta(minutes=20), late=True)
    assert due.earliest() == T0 - timedelta(minutes=20)  # whichever lane holds it
    now = T0 + timedelta(seconds=2)
    popped = due.due(now)
    assert next(popped) == "fresh"  # due a second ago: before timers ten minutes late
    assert next(popped) == "retick"
    due.schedule("fresher", T0 + timedelta(seconds=2))  # came due while the late lane is being worked through
    assert list(popped) == ["fresher", "late0", "late1", "late2"]
    assert due.earliest() is None and due.late() == 0


def test_a_late_entry_superseded_by_an_earlier_live_one_fires_once() -> None:
    due = DueTimes()
    due.schedule("r1", T0 - timedelta(minutes=1), late=True)
    due.at("r1", T0 - timedelta(minutes=2))  # e.g. the care plan changed: tick now, in the live lane
    due.schedule("r1", T0 - timedelta(minutes=1))  # not earlier than the live entry: nothing added
    assert list(due.due(T0)) == ["r1"]
    assert list(due.due(T0 + timedelta(hours=1))) == []


def test_wait_s_is_the_time_to_the_earliest_due_capped_and_negative_once_due() -> None:
    due = DueTimes()
    assert due.wait_s(T0, 1.0) == 1.0  # nothing scheduled: as long as allowed
    due.schedule("r1", T0 + timedelta(milliseconds=200))
    due.schedule("r2", T0 - timedelta(minutes=3), late=True)
    assert due.wait_s(T0, 1.0) == -180.0  # the catch-up lane counts too: due already
    list(due.due(T0))
    assert due.wait_s(T0, 1.0) == 0.2 and due.wait_s(T0, 0.1) == 0.1
