"""The quality board's pure figures: known answer times give known shares; cadence; unreached; devices."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone
from zoneinfo import ZoneInfo

from insights import quality as Q
from rules.catalog import RULES
from telecare.alerts import Severity

NOW = datetime(2026, 1, 15, 12, tzinfo=timezone.utc)
MADRID = ZoneInfo("Europe/Madrid")


def _alarm(i: int, seconds: float | None, raised: datetime, operator: str | None = "ana", type_: str = "help_button"):
    answered = None if seconds is None else raised + timedelta(seconds=seconds)
    return Q.AlarmRow(i, type_, raised, answered, operator if seconds is not None else None)


def test_the_alarm_types_are_the_rules_critical_and_high_alerts():
    assert Q.ALARM_TYPES == {t for t, spec in RULES.items() if spec.severity in (Severity.CRITICAL, Severity.HIGH)}


def test_39_of_40_within_60_s_is_0_975_and_meets_the_first_target():
    base = NOW - timedelta(days=1)
    alarms = [_alarm(i, 20 + i, base + timedelta(minutes=i)) for i in range(39)]  # 20..58 s
    alarms.append(_alarm(39, 61, base + timedelta(minutes=50)))
    board = Q.alarm_board(alarms, MADRID, NOW)
    assert (board["alarms"], board["answered_within_60s"], board["answered_within_180s"]) == (40, 0.975, 1.0)
    assert board["meets_targets"] is True
    alarms.append(_alarm(40, 200, base + timedelta(minutes=55)))
    board = Q.alarm_board(alarms, MADRID, NOW)
    assert board["answered_within_60s"] == round(39 / 41, 6) and board["answered_within_180s"] == round(40 / 41, 6)
    assert board["meets_targets"] is False


def test_exactly_60_s_is_within_and_unanswered_alarms_count_against_once_past_180_s():
    alarms = [_alarm(1, 60, NOW - timedelta(hours=1)), _alarm(2, None, NOW - timedelta(seconds=181)),
              _alarm(3, None, NOW - timedelta(seconds=30))]
    f = Q.answer_figures(alarms, NOW)
    assert (f["alarms"], f["answered"], f["unanswered"], f["pending"]) == (2, 1, 1, 1)
    assert f["answered_within_60s"] == 0.5 and f["answered_within_180s"] == 0.5


def test_no_alarms_gives_no_fraction_rather_than_zero_or_one():
    f = Q.alarm_board([], MADRID, NOW)
    assert f["alarms"] == 0 and f["answered_within_60s"] is None and f["meets_targets"] is None


def test_days_and_hours_are_the_service_zones_and_operators_are_separate():
    late = datetime(2026, 1, 13, 23, 30, tzinfo=timezone.utc)  # 00:30 on the 14th in Madrid
    alarms = [_alarm(1, 30, late, "ana"), _alarm(2, 90, late + timedelta(hours=2), "joan"),
              _alarm(3, 10, datetime(2026, 1, 13, 10, tzinfo=timezone.utc), "joan"),
              _alarm(4, 5, late, "ana", type_="device_offline")]  # technical: not an alarm
    board = Q.alarm_board(alarms, MADRID, NOW)
    assert [(d["day"], d["alarms"]) for d in board["per_day"]] == [("2026-01-13", 1), ("2026-01-14", 2)]
    assert {h["hour"]: h["alarms"] for h in board["per_hour"]} == {0: 1, 2: 1, 11: 1}
    ops = {o["operator"]: (o["alarms"], o["answered_within_60s"]) for o in board["per_operator"]}
    assert ops == {"ana": (1, 1.0), "joan": (2, 0.5)}


def test_cadence_met_by_level_in_the_residents_local_days():
    enrolled = NOW - timedelta(days=400)
    rows = [Q.CadenceRow("a", "Europe/Madrid", 1, enrolled, NOW - timedelta(days=15)),  # level 1, 15 days: met
            Q.CadenceRow("b", "Europe/Madrid", 1, enrolled, NOW - timedelta(days=16)),  # overdue
            Q.CadenceRow("c", "Europe/Madrid", 2, enrolled, NOW - timedelta(days=29)),
            Q.CadenceRow("d", "Europe/Madrid", 3, enrolled, NOW - timedelta(days=46)),
            Q.CadenceRow("e", "Europe/Madrid", 2, NOW - timedelta(days=5), None),  # new: not yet due
            Q.CadenceRow("f", "Europe/Madrid", 2, enrolled, None)]  # never reached
    c = Q.cadence(rows, NOW)
    assert (c["residents"], c["met"], c["cadence_met"]) == (6, 3, 0.5)
    assert c["overdue"] == ["b", "d", "f"]
    assert [(lv["level"], lv["met"], lv["residents"]) for lv in c["by_level"]] == [(1, 1, 2), (2, 2, 3), (3, 0, 1)]


def test_unreached_today_says_whether_a_welfare_check_went_out():
    un = [Q.UnreachedRow("a", 1, "follow_up", NOW - timedelta(hours=2)), Q.UnreachedRow("b", 2, "weather", NOW),
          Q.UnreachedRow("a", 3, "follow_up", NOW - timedelta(hours=1))]
    welfare = [Q.WelfareRow("a", 77, NOW - timedelta(hours=1), "open")]
    out = Q.unreached_today(un, welfare)
    assert [(u["resident_id"], u["task_id"], u["welfare_check"], u["welfare_alert_id"]) for u in out] == [
        ("a", 3, True, 77), ("b", 2, False, None)]


def test_campaign_reach_leaves_cancelled_calls_out_and_devices_silent_over_24_h():
    (c,) = Q.campaign_reach([Q.CampaignRow(1, "weather", "Heat", "active", NOW, 10, 6, 2, 0, 2)])
    assert c["reach"] == 0.75
    devs = [Q.DeviceSeen("d1", "a", "pendant", NOW - timedelta(days=90), NOW - timedelta(hours=25)),
            Q.DeviceSeen("d2", "a", "gateway", NOW - timedelta(days=90), NOW - timedelta(hours=23)),
            Q.DeviceSeen("d3", "b", "bed_sensor", NOW - timedelta(days=3), None)]
    assert [(d["device_id"], d["silent_hours"]) for d in Q.devices_offline(devs, NOW)] == [("d3", 72.0), ("d1", 25.0)]
