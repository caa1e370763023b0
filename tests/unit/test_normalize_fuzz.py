"""Fuzz: no topic and no payload can make the normaliser raise; every bad one is a Rejected with a reason."""
from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ingest.normalize import normalize, parse_ts
from ingest.topics import MAX_TOPIC_LENGTH, PREFIX, _parse, device_topic, parse_topic, status_topic
from telecare.events import Event, Rejected
from tests.unit.test_normalize import GW, NOW, PENDANT, REGISTRY, msg

# Bounded so the whole file runs in a few seconds in CI.
FUZZ = settings(max_examples=500, deadline=None, suppress_health_check=[HealthCheck.too_slow])

ids = st.sampled_from([GW, PENDANT, "gw-2", "pd-2", "nobody"]) | st.text(max_size=80)
levels = st.text(max_size=12) | st.sampled_from(["", "+", "#", "$SYS", "\x00", "status", "help_button"])
topics = st.one_of(
    st.builds(device_topic, ids, ids, st.sampled_from(["help_button", "fall", "motion", "nope", ""]) | levels),
    st.builds(status_topic, ids),
    st.builds(lambda gw: f"{PREFIX}/{gw}", ids),  # a gateway publishing on its bare id
    st.lists(levels, min_size=0, max_size=9).map(lambda parts: "/".join([PREFIX, *parts])),  # any depth
    st.text(max_size=300),  # any unicode, lone surrogates included
    st.binary(max_size=64).map(lambda b: b.decode("latin-1")),
    st.integers(MAX_TOPIC_LENGTH - 2, 70_000).map(lambda n: f"{PREFIX}/{GW}/" + "x" * n),  # huge
)

# Extreme and malformed timestamps: year 1 / 9999 near the offset edges, leap seconds, junk.
extreme_ts = st.sampled_from([
    "0001-01-01T00:00:00+01:00", "0001-01-01T00:00:00-01:00", "9999-12-31T23:59:59-01:00",
    "9999-12-31T23:59:59+14:00", "0000-01-01T00:00:00Z", "2026-02-30T00:00:00Z", "2026-13-01T00:00:00Z",
    "2026-03-29T24:00:00Z", "2026-03-29T23:59:60Z", "2026-03-29T02:29:50+99:99", "2026-03-29T02:29:50.1234567891Z",
])
json_scalars = st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False, allow_infinity=False) \
    | st.text(max_size=40)
json_values = st.recursive(json_scalars, lambda kids: st.lists(kids, max_size=4)
                           | st.dictionaries(st.text(max_size=8), kids, max_size=4), max_leaves=20)
field_values = json_values | extreme_ts | st.datetimes(timezones=st.timezones()).map(datetime.isoformat) \
    | st.sampled_from([10**400, -1, 101, True, "87", "\x00", "\ud800", "m" * 129])


def _event(**fields: object) -> dict:
    data: dict = {"msg_id": "m-1", "ts": "2026-03-29T02:29:50+02:00", "battery": 87, "value": {"pressed": 1}}
    data.update(fields)
    return data


mutated_events = st.builds(
    lambda name, value, drop: {k: v for k, v in _event(**{name: value}).items() if k != drop},
    st.sampled_from(["msg_id", "ts", "battery", "value", "extra"]), field_values,
    st.sampled_from([None, "msg_id", "ts", "battery"]),
)


def _dumps(data: object) -> bytes:
    # ensure_ascii keeps lone surrogates as \ud800 escapes, which is what a hostile sender can write.
    return json.dumps(data).encode()


payloads = st.one_of(
    mutated_events.map(_dumps),
    json_values.map(_dumps),
    st.binary(max_size=200),
    st.sampled_from([b"NaN", b'{"msg_id":"m","ts":"2026-03-29T00:00:00Z","value":NaN}',
                     b'{"msg_id":"m","ts":"2026-03-29T00:00:00Z","value":1e999}',
                     b'{"msg_id":"m","ts":"2026-03-29T00:00:00Z","value":[1e999]}',
                     b'{"msg_id":"m","ts":"2026-03-29T00:00:00Z","battery":1' + b"0" * 5000 + b"}",
                     b'{"msg_id":"m","ts":"2026-03-29T00:00:00Z","value":"\\u0000"}',
                     b"[" * 100_000, b'{"a":' * 5000 + b"1" + b"}" * 5000, b"online", b"offline", b""]),
    st.integers(1, 800).map(lambda depth: _dumps(_event(value=_nested(depth)))),  # deep but parseable
)
received = st.sampled_from([NOW, datetime(1, 1, 1, 0, 0, 1, tzinfo=timezone.utc),
                            datetime(9999, 12, 31, 23, 0, tzinfo=timezone.utc)])


def _nested(depth: int) -> object:
    value: object = 1
    for _ in range(depth):
        value = [value]
    return value


def _check(result: Event | Rejected) -> None:
    assert isinstance(result, (Event, Rejected))
    if isinstance(result, Rejected):
        # The safety net in normalize() must never be what catches a bad input: each has its own code.
        assert result.reason and not result.reason.startswith("internal_error"), result.reason


@FUZZ
@given(topics, payloads, received)
def test_no_topic_and_payload_raise(topic: str, payload: bytes, received_at: datetime) -> None:
    _check(normalize(msg(topic, payload, received_at), REGISTRY))


@FUZZ
@given(mutated_events.map(_dumps), received)
def test_no_mutated_valid_event_raises(payload: bytes, received_at: datetime) -> None:
    result = normalize(msg(device_topic(GW, PENDANT, "help_button"), payload, received_at), REGISTRY)
    _check(result)
    if isinstance(result, Event):
        assert result.ts.utcoffset() == timedelta(0) and result.ts - received_at <= timedelta(hours=1)
        json.dumps(result.value, allow_nan=False).encode("utf-8")  # storable as jsonb


@FUZZ
@given(topics)
def test_topic_parser_classifies_every_topic(topic: str) -> None:
    parsed = parse_topic(topic)
    if parsed is not None:
        assert len(topic) <= MAX_TOPIC_LENGTH and topic.startswith(PREFIX + "/")
        assert all(part.isprintable() and "\x00" not in part for part in topic.split("/"))


@FUZZ
@given(extreme_ts | st.text(max_size=40))
def test_parse_ts_raises_only_value_error(text: str) -> None:
    try:
        ts = parse_ts(text)
    except ValueError:
        return
    assert ts.tzinfo is timezone.utc


def test_the_overflowing_timestamps_from_the_issue_are_rejected_as_bad_ts() -> None:
    for ts in ("0001-01-01T00:00:00+01:00", "9999-12-31T23:59:59-01:00"):
        result = normalize(msg(device_topic(GW, PENDANT, "fall"), _dumps(_event(ts=ts))), REGISTRY)
        assert isinstance(result, Rejected) and result.reason == "bad_field:ts"


def test_wrong_shapes_under_the_prefix_are_bad_topic() -> None:
    for topic in (f"{PREFIX}/{GW}", f"{PREFIX}/{GW}/{PENDANT}/fall/extra", f"{PREFIX}//{PENDANT}/fall",
                  f"{PREFIX}/{GW}/{PENDANT}/", f"{PREFIX}/{GW}\x00/{PENDANT}/fall",
                  f"{PREFIX}/", PREFIX, f"{PREFIX}/{GW}/{PENDANT}/" + "f" * 70_000):
        result = normalize(msg(topic, _dumps(_event())), REGISTRY)
        assert isinstance(result, Rejected) and result.reason == "bad_topic", topic


def test_the_parse_cache_is_bounded_and_never_holds_a_long_topic() -> None:
    _parse.cache_clear()
    for i in range(_parse.cache_info().maxsize + 500):
        parse_topic(device_topic(f"gw-{i}", "pd", "motion"))
    info = _parse.cache_info()
    assert info.currsize == info.maxsize <= 20_000
    assert parse_topic(f"{PREFIX}/{GW}/" + "x" * 65_536) is None
    assert _parse.cache_info().misses == info.misses  # refused before the cache saw it
    _parse.cache_clear()
