"""The stored form of rule state: exact round trips, and rows written by the previous version still load."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone

from rules.model import ResidentState, Timer, state_from_dict, state_from_json, state_to_json
from telecare.alerts import AlertType

NOW = datetime(2026, 3, 29, 0, 59, 59, 999_999, tzinfo=timezone.utc)


def test_round_trip_keeps_microseconds():
    state = ResidentState(
        "r1",
        timers={"sup:gw": Timer(AlertType.DEVICE_OFFLINE, NOW + timedelta(minutes=5), NOW, "gw", False, False),
                "bed": Timer(AlertType.BED_EXIT_NO_RETURN, NOW + timedelta(minutes=30), NOW, "bs", True, True)},
        last_seen={"gw": NOW, "pd": NOW - timedelta(microseconds=1)},
        low_battery=frozenset({"pd"}), last_bed_return=NOW, doses_planned_until=NOW + timedelta(days=2),
        dose_plan=("09:00", "21:00"),
    )
    assert state_from_json(state_to_json(state)) == state


def test_version_1_rows_load():
    iso = NOW.isoformat()
    row = {"v": 1, "resident_id": "r1",
           "timers": {"bed": {"rule": "bed_exit_no_return", "due": iso, "since": iso, "device": "bs",
                              "delayed": True, "fired": True}},
           "last_seen": {"gw": iso}, "low_battery": ["pd"], "last_bed_return": None,
           "doses_planned_until": iso, "dose_plan": ["09:00"]}
    state = state_from_dict(row)
    assert state.timers["bed"] == Timer(AlertType.BED_EXIT_NO_RETURN, NOW, NOW, "bs", True, True)
    assert state.last_seen == {"gw": NOW} and state.doses_planned_until == NOW and state.last_bed_return is None
