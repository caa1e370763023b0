"""The stored form of rule state: exact round trips, and rows written by the previous version still load."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

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


def test_packed_states_round_trip_and_carry_their_next_due() -> None:
    from rules.packed import pack_state, stored_next_due, unpack_state

    t0 = datetime(2026, 12, 1, 9, 0, tzinfo=timezone.utc)
    state = ResidentState(
        "r1",
        timers={"sup:gw": Timer(AlertType.DEVICE_OFFLINE, t0 + timedelta(minutes=15), t0, "gw"),
                "bed": Timer(AlertType.BED_EXIT_NO_RETURN, t0 + timedelta(minutes=1), t0, "bs", True, True)},
        last_seen={"gw": t0}, low_battery=frozenset({"pd"}), last_bed_return=t0,
        doses_planned_until=t0 + timedelta(days=2), dose_plan=("08:00", "20:00"))
    raw = pack_state(state)
    assert unpack_state(raw) == state
    assert stored_next_due(raw) == (True, t0 + timedelta(minutes=15))  # the fired bed timer does not count
    assert stored_next_due(pack_state(ResidentState("r2"))) == (True, None)
    legacy = state_to_json(state).encode()  # values written before version 3
    assert unpack_state(legacy) == state and stored_next_due(legacy) == (True, t0 + timedelta(minutes=15))
    with pytest.raises(ValueError):
        unpack_state(raw[:20])


def test_a_fired_timer_keeps_its_fields_and_is_flagged_late_only_when_asked() -> None:
    t0 = datetime(2026, 12, 1, 9, 0, tzinfo=timezone.utc)
    timer = Timer(AlertType.INACTIVITY, t0, t0 - timedelta(hours=6))
    assert timer.marked_fired() == Timer(AlertType.INACTIVITY, t0, t0 - timedelta(hours=6), None, False, True)
    assert timer.marked_fired(delayed=True).delayed and not timer.fired
