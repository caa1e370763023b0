"""The msgspec state codec: same states as the dict form, version 1 text still loads, bad text raises."""
from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone

import pytest

from rules.model import ResidentState, Timer, state_from_dict, state_to_dict, states_from_json, states_to_json
from telecare.alerts import AlertType

NOW = datetime(2026, 3, 29, 0, 59, 59, 999_999, tzinfo=timezone.utc)


def state(rid: str) -> ResidentState:
    return ResidentState(
        rid,
        timers={"sup:gw": Timer(AlertType.DEVICE_OFFLINE, NOW + timedelta(minutes=5), NOW, "gw"),
                "inactivity": Timer(AlertType.INACTIVITY, NOW + timedelta(hours=12), NOW),
                "bed": Timer(AlertType.BED_EXIT_NO_RETURN, NOW + timedelta(minutes=30), NOW, "bs", True, True)},
        last_seen={"gw": NOW, "pd": NOW - timedelta(microseconds=1)},
        low_battery=frozenset({"pd"}), last_bed_return=NOW, doses_planned_until=None, dose_plan=("09:00",))


def test_batch_round_trip_matches_the_dict_form_and_shares_equal_instants() -> None:
    states = [state("r1"), state("r2"), ResidentState("r3")]
    pairs = json.loads(states_to_json(states))
    assert pairs == [[s.resident_id, json.loads(json.dumps(state_to_dict(s)))] for s in states]
    # jsonb hands the text back with its own spacing; decode what the database returns.
    loaded = states_from_json(json.dumps(doc) for _, doc in pairs)
    assert loaded == states == [state_from_dict(doc) for _, doc in pairs]
    assert loaded[0].timers["sup:gw"].since is loaded[1].timers["inactivity"].since  # one object per instant


def test_version_1_text_goes_through_the_dict_reader() -> None:
    iso = NOW.isoformat()
    row = {"v": 1, "resident_id": "r1", "timers": {"bed": {"rule": "bed_exit_no_return", "due": iso,
                                                           "since": iso, "device": "bs", "fired": True}}}
    [loaded] = states_from_json([json.dumps(row)])
    assert loaded == state_from_dict(row) and loaded.timers["bed"].fired


@pytest.mark.parametrize("text", ['{"v": 2}', '{"v": 2, "resident_id": "r", "timers": {"k": ["nope", 1, 1, null, '
                                  'false, false]}}', "[]", "not json"])
def test_unreadable_text_raises_what_load_all_catches(text: str) -> None:
    with pytest.raises((KeyError, TypeError, ValueError)):
        states_from_json([text])



def test_a_stored_state_carries_its_next_due_readable_without_decoding_the_rest() -> None:
    from datetime import datetime, timezone

    from rules.model import ResidentState, Timer, next_due, state_to_json, stored_next_due
    from telecare.alerts import AlertType

    at = datetime(2026, 12, 1, 9, tzinfo=timezone.utc)
    armed = ResidentState("r1", timers={"inactivity": Timer(AlertType.INACTIVITY, at, at)})
    assert stored_next_due(state_to_json(armed).encode()) == (True, next_due(armed))
    assert stored_next_due(state_to_json(ResidentState("r2"))) == (True, None)  # nothing armed: nothing to schedule
    assert stored_next_due(b'{"v":2,"resident_id":"r3","timers":{}}') == (False, None)  # before the header: tick it
    assert stored_next_due(b"not json") == (False, None)
