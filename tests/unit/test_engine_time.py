"""Time-based rules: DST-correct night window and dose times, dose windows, inactivity."""
from __future__ import annotations

from datetime import datetime, time, timedelta, timezone

from rules.engine import dose_instants, in_night_window
from telecare.alerts import AlertType, Severity
from telecare.events import EventType
from tests.unit.test_engine import BED, DISPENSER, MOTION, PENDANT, Harness, of, resident

UTC = timezone.utc


def utc(*args) -> datetime:
    return datetime(*args, tzinfo=UTC)


def test_night_window_follows_local_wall_time_across_spring_gap():
    r = resident()
    # 2026-03-29: clocks jump 02:00 CET -> 03:00 CEST. Night ends 07:00 local = 05:00 UTC that day.
    assert in_night_window(utc(2026, 3, 29, 4, 30), r)  # 06:30 CEST
    assert not in_night_window(utc(2026, 3, 29, 5, 30), r)  # 07:30 CEST
    assert in_night_window(utc(2026, 3, 28, 5, 30), r)  # 06:30 CET the day before
    assert in_night_window(utc(2026, 3, 28, 21, 0), r) and not in_night_window(utc(2026, 3, 28, 20, 59), r)


def test_night_window_follows_local_wall_time_across_autumn_overlap():
    r = resident()
    # 2026-10-25: clocks go back 03:00 CEST -> 02:00 CET.
    assert in_night_window(utc(2026, 10, 24, 20, 30), r)  # 22:30 CEST
    assert not in_night_window(utc(2026, 10, 24, 19, 30), r)  # 21:30 CEST
    assert in_night_window(utc(2026, 10, 25, 5, 30), r)  # 06:30 CET
    assert not in_night_window(utc(2026, 10, 25, 6, 30), r)  # 07:30 CET


def test_bed_timer_spans_spring_gap_in_real_minutes():
    h = Harness(start=utc(2026, 3, 29, 0, 50))  # 01:50 CET, ten minutes before the jump
    h.event(EventType.BED_EXIT, BED)
    assert of(h.advance(timedelta(minutes=29)), AlertType.BED_EXIT_NO_RETURN) == []
    [trig] = of(h.advance(timedelta(minutes=1)), AlertType.BED_EXIT_NO_RETURN)  # 03:20 CEST
    assert trig.at == utc(2026, 3, 29, 1, 20) and trig.reason == "Bed exit at 01:50, no return after 30 min"


def test_bed_timer_in_autumn_overlap_fires_once_after_real_minutes():
    h = Harness(start=utc(2026, 10, 25, 0, 40))  # 02:40 CEST, the first of two 02:40s
    h.event(EventType.BED_EXIT, BED)
    assert of(h.advance(timedelta(minutes=29)), AlertType.BED_EXIT_NO_RETURN) == []
    [trig] = of(h.advance(timedelta(minutes=1)), AlertType.BED_EXIT_NO_RETURN)  # 02:10 CET
    assert trig.at == utc(2026, 10, 25, 1, 10) and trig.reason == "Bed exit at 02:40, no return after 30 min"
    assert of(h.advance(timedelta(hours=2)), AlertType.BED_EXIT_NO_RETURN) == []
    h.event(EventType.BED_EXIT, BED)  # 04:10 CET: second exit of the night is a new episode
    assert len(of(h.advance(timedelta(minutes=30)), AlertType.BED_EXIT_NO_RETURN)) == 1


def test_dose_times_are_local_per_day_across_dst():
    r = resident(dose_times=(time(8, 0), time(2, 30)))
    spring = dose_instants(r, utc(2026, 3, 27, 23, 0), utc(2026, 3, 29, 22, 0))
    assert [i for _, i in spring] == [
        utc(2026, 3, 28, 1, 30), utc(2026, 3, 28, 7, 0),  # CET
        utc(2026, 3, 29, 1, 30),  # 02:30 does not exist that night: the dose moves to 03:30 CEST, once
        utc(2026, 3, 29, 6, 0),  # 08:00 CEST
    ]
    autumn = dose_instants(r, utc(2026, 10, 24, 22, 0), utc(2026, 10, 25, 22, 0))
    assert [i for _, i in autumn] == [utc(2026, 10, 25, 0, 30), utc(2026, 10, 25, 7, 0)]  # 02:30 once, not twice
    assert [k for k, _ in autumn] == ["dose:2026-10-25T02:30", "dose:2026-10-25T08:00"]


def test_dose_taken_in_window_raises_nothing_and_missed_dose_fires_after_window():
    h = Harness(resident(dose_times=(time(8, 0),)), start=utc(2026, 11, 22, 0, 0))  # 01:00 local
    h.clock.set(utc(2026, 11, 22, 7, 20))  # 08:20 local
    h.event(EventType.MEDICATION_TAKEN, DISPENSER)
    assert of(h.advance(timedelta(hours=2)), AlertType.MEDICATION_MISSED) == []
    h.clock.set(utc(2026, 11, 23, 7, 59))  # next day, 08:59 local, nothing taken
    assert of(h.tick(), AlertType.MEDICATION_MISSED) == []
    [trig] = of(h.advance(timedelta(minutes=1)), AlertType.MEDICATION_MISSED)
    assert (trig.severity, trig.at) == (Severity.MEDIUM, utc(2026, 11, 23, 8, 0))
    assert trig.reason == "Dose due at 08:00 not taken within 60 min"
    assert of(h.advance(timedelta(hours=1)), AlertType.MEDICATION_MISSED) == []


def test_dose_window_bounds_and_care_plan_window():
    h = Harness(resident(dose_times=(time(8, 0),), dose_window_minutes=30), start=utc(2026, 11, 22, 0, 0))
    h.clock.set(utc(2026, 11, 22, 6, 40))  # 07:40 local: early but inside the window
    h.event(EventType.MEDICATION_TAKEN, DISPENSER)
    h.clock.set(utc(2026, 11, 23, 6, 0))  # 07:00 next day: too early to count for the 08:00 dose
    h.event(EventType.MEDICATION_TAKEN, DISPENSER)
    h.clock.set(utc(2026, 11, 23, 7, 29))
    assert of(h.tick(), AlertType.MEDICATION_MISSED) == []
    [trig] = of(h.advance(timedelta(minutes=1)), AlertType.MEDICATION_MISSED)
    assert trig.reason == "Dose due at 08:00 not taken within 30 min"


def test_dispenser_missed_report_is_not_followed_by_a_second_timer_trigger():
    h = Harness(resident(dose_times=(time(8, 0),)), start=utc(2026, 11, 22, 0, 0))
    h.clock.set(utc(2026, 11, 22, 7, 45))
    assert len(h.event(EventType.MEDICATION_MISSED, DISPENSER)) == 1
    assert of(h.advance(timedelta(hours=1)), AlertType.MEDICATION_MISSED) == []


def test_dose_times_survive_restart_without_double_planning():
    h = Harness(resident(dose_times=(time(8, 0),)), start=utc(2026, 11, 22, 0, 0))
    fired = []
    for _ in range(4 * 24):  # four days, restarting every hour
        h.restart()
        fired += of(h.advance(timedelta(hours=1)), AlertType.MEDICATION_MISSED)
    assert [t.at for t in fired] == [utc(2026, 11, 22 + d, 8, 0) for d in range(4)]


def test_inactivity_fires_after_care_plan_hours_once_and_rearms_on_activity():
    h = Harness(resident(inactivity_hours=2.5))
    h.event(EventType.MOTION, MOTION)
    h.clock.advance(timedelta(hours=1))
    h.event(EventType.HEARTBEAT, PENDANT)  # not activity
    assert of(h.advance(timedelta(hours=1, minutes=29)), AlertType.INACTIVITY) == []
    [trig] = of(h.advance(timedelta(minutes=1)), AlertType.INACTIVITY)
    assert (trig.severity, trig.reason) == (Severity.HIGH, "No activity for 2.5 h (last at 02:00)")
    assert of(h.advance(timedelta(hours=5)), AlertType.INACTIVITY) == []  # once per silence
    h.event(EventType.DOOR_OPEN, MOTION)
    assert len(of(h.advance(timedelta(hours=2, minutes=30)), AlertType.INACTIVITY)) == 1


def test_default_inactivity_is_twelve_hours():
    h = Harness()
    assert of(h.advance(timedelta(hours=11, minutes=59)), AlertType.INACTIVITY) == []
    [trig] = of(h.advance(timedelta(minutes=1)), AlertType.INACTIVITY)
    assert trig.reason == "No activity for 12 h (last at 02:00)"


def test_inactivity_while_away_raises_nothing():
    h = Harness(resident(at_home=False))
    h.event(EventType.MOTION, MOTION)
    assert of(h.advance(timedelta(hours=30)), AlertType.INACTIVITY) == []
    h.resident = resident(at_home=True)  # back home: the silence counts from now
    h.tick()
    assert of(h.advance(timedelta(hours=11)), AlertType.INACTIVITY) == []
    assert len(of(h.advance(timedelta(hours=1)), AlertType.INACTIVITY)) == 1


def test_leaving_home_cancels_a_running_inactivity_timer():
    h = Harness()
    h.advance(timedelta(hours=6))
    h.resident = resident(at_home=False)
    assert of(h.advance(timedelta(hours=12)), AlertType.INACTIVITY) == []
