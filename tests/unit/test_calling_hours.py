"""Pure parts of "the screens say until when": calling-hours decisions, service-zone texts, the dated sample."""
from __future__ import annotations

from dataclasses import replace
from datetime import datetime, time, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest

from outreach.cap import expired_at, sample_warning
from outreach.cap import parse_cap
from outreach.human_calls import WaitReason, _when_callable
from outreach.planning import calling_hours_at, service_time_text
from telecare.errors import ConfigError
from telecare.people import CarePlan, Resident
from telecare.settings import load_settings

MADRID = ZoneInfo("Europe/Madrid")
ANNA = Resident("r1", "Anna", care_plan=CarePlan(calling_start=time(10), calling_end=time(20), quiet_days=(7,)))


def at(day: int, hour: int, minute: int = 0, zone: ZoneInfo = MADRID) -> datetime:
    return datetime(2026, 7, day, hour, minute, tzinfo=zone)  # 15 July 2026 is a Wednesday


def test_inside_calling_hours_is_open_with_no_opening_time():
    hours = calling_hours_at(ANNA, at(15, 11))
    assert hours.open and hours.opens_at is None
    assert hours.window.end == at(15, 20)


def test_before_the_start_it_opens_the_same_morning():
    hours = calling_hours_at(ANNA, at(15, 7, 30))
    assert not hours.open and hours.opens_at == at(15, 10)


def test_after_the_end_it_opens_the_next_morning():
    hours = calling_hours_at(ANNA, at(15, 21))
    assert not hours.open and hours.opens_at == at(16, 10)


def test_the_end_itself_is_outside():
    assert calling_hours_at(ANNA, at(15, 20)).opens_at == at(16, 10)


def test_a_quiet_day_is_a_planning_preference_unless_asked_for():
    sunday = at(19, 11)
    assert calling_hours_at(ANNA, sunday).open  # a call on the worklist may be made on a quiet day
    strict = calling_hours_at(ANNA, sunday, ignore_quiet_days=False)
    assert not strict.open and strict.opens_at == at(20, 10)


def test_hours_are_the_residents_local_hours():
    canary = replace(ANNA, timezone="Atlantic/Canary")
    # 10:30 in Madrid is 09:30 on the Canaries: still closed there, opening at 10:00 Canary = 11:00 Madrid.
    hours = calling_hours_at(canary, at(15, 10, 30))
    assert not hours.open and hours.opens_at == at(15, 11)


def test_service_time_text_is_24_hour_in_the_service_zone():
    opens = at(15, 10).astimezone(timezone.utc)
    assert service_time_text(opens, MADRID, at(15, 7)) == "10:00 (Europe/Madrid)"
    assert service_time_text(at(16, 17, 5), MADRID, at(15, 21)) == "Thu 16 Jul 17:05 (Europe/Madrid)"
    new_york = ZoneInfo("America/New_York")
    assert service_time_text(opens, new_york, None) == "Wed 15 Jul 04:00 (America/New_York)"


class _Task:
    def __init__(self, next_attempt_at: datetime, not_after: datetime) -> None:
        self.next_attempt_at, self.not_after = next_attempt_at, not_after


def test_worklist_says_until_when_a_call_waits():
    task = _Task(at(15, 10), at(15, 20))
    assert _when_callable(task, ANNA, at(15, 8)) == (False, at(15, 10), WaitReason.CALLING_HOURS)
    retry = _Task(at(15, 12, 30), at(15, 20))
    assert _when_callable(retry, ANNA, at(15, 12)) == (False, at(15, 12, 30), WaitReason.RETRY)
    # A task whose own window says "now" still waits for the resident's calling hours.
    early = _Task(at(15, 6), at(15, 23))
    assert _when_callable(early, ANNA, at(15, 7)) == (False, at(15, 10), WaitReason.CALLING_HOURS)
    assert _when_callable(task, ANNA, at(15, 11)) == (True, None, None)
    assert _when_callable(task, None, at(15, 11)) == (True, None, None)  # no resident record: the task's window


def test_the_service_time_zone_setting_is_validated(monkeypatch):
    monkeypatch.setenv("TELECARE_SERVICE_TIMEZONE", "Atlantic/Canary")
    assert load_settings().service_zone == ZoneInfo("Atlantic/Canary")
    monkeypatch.delenv("TELECARE_SERVICE_TIMEZONE")
    assert load_settings().service_timezone == "Europe/Madrid"
    for bad in ("Mars/Olympus", "x" * 300, "../../etc/passwd", ""):
        with pytest.raises(ConfigError, match="TELECARE_SERVICE_TIMEZONE"):
            load_settings(service_timezone=bad)


@pytest.mark.parametrize("now", [datetime(2026, 1, 3, 9, tzinfo=timezone.utc), datetime(2031, 11, 30, 23, tzinfo=MADRID)])
def test_the_sample_warning_is_dated_from_now(now):
    alert = parse_cap(sample_warning(now))
    assert alert.sent == now
    assert all(i.onset > now and i.expires > now + timedelta(days=1) for i in alert.infos)
    assert alert.identifier.endswith(f"sample-bcn-heat-orange-{now:%Y%m%d}")
    assert expired_at(alert, now) is None
    assert expired_at(alert, now + timedelta(days=3)) == max(i.expires for i in alert.infos)
