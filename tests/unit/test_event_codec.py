"""The bus codec of events: exact round trips, bytes written by the json.dumps version still decode."""
from __future__ import annotations

import json
import uuid
from datetime import datetime, timedelta, timezone

import pytest

from telecare.events import Event, EventType, decode_event, encode_event, event_from_dict, event_to_dict

NOW = datetime(2026, 3, 29, 0, 59, 59, 999_999, tzinfo=timezone.utc)


@pytest.mark.parametrize("event", [
    Event(uuid.uuid4(), "gw-é", "dv-1", "r-1", EventType.MOTION, NOW, NOW + timedelta(seconds=1), "m-1", 90,
          {"a": [1, 2.5, None, "ü \u2028"], "big": 2 ** 70}),
    Event(uuid.uuid4(), "gw", "gw", "r", EventType.GATEWAY_ONLINE, NOW.astimezone(timezone(timedelta(hours=2))),
          NOW, "status:x"),
    Event(uuid.uuid4(), "gw", "fs", "r", EventType.FALL, datetime(2026, 1, 1), datetime(2026, 1, 1), "m", None, 0),
])
def test_round_trip_and_previous_bytes(event: Event) -> None:
    assert decode_event(encode_event(event)) == event
    previous = json.dumps(event_to_dict(event), separators=(",", ":")).encode()  # what the last version wrote
    assert decode_event(previous) == event == event_from_dict(json.loads(previous))
    assert json.loads(encode_event(event)) == json.loads(previous)


@pytest.mark.parametrize("raw, error", [(b"{}", KeyError), (b"not json", ValueError),
                                        (b'{"id":"not-a-uuid"}', ValueError)])
def test_bad_bytes_raise_what_the_dict_reader_raises(raw: bytes, error: type[Exception]) -> None:
    with pytest.raises(error):
        decode_event(raw)
