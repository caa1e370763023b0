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
