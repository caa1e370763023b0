"""ingest.normalize: every reject reason, late events, gateway presence (pure, no I/O)."""
from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone

import pytest

from ingest.normalize import event_id, needed_ids, normalize, parse_ts
from ingest.topics import DeviceTopic, StatusTopic, device_topic, parse_topic, status_topic
from telecare.events import MAX_PAYLOAD_BYTES, Event, EventType, RawMessage, Rejected
from telecare.people import Device, DeviceType

NOW = datetime(2026, 3, 29, 0, 30, tzinfo=timezone.utc)
GW, PENDANT, OTHER_GW, FOREIGN = "gw-1", "pd-1", "gw-2", "pd-2"
REGISTRY = {
    GW: Device(GW, DeviceType.GATEWAY, GW, "r-1"),
    PENDANT: Device(PENDANT, DeviceType.PENDANT, GW, "r-1"),
    OTHER_GW: Device(OTHER_GW, DeviceType.GATEWAY, OTHER_GW, "r-2"),
    FOREIGN: Device(FOREIGN, DeviceType.PENDANT, OTHER_GW, "r-2"),
}


def msg(topic: str, payload: bytes | dict | str, received_at: datetime = NOW) -> RawMessage:
    if isinstance(payload, dict):
        payload = json.dumps(payload)
    if isinstance(payload, str):
        payload = payload.encode()
    return RawMessage(topic, payload, received_at)


def body(**overrides: object) -> dict:
    data: dict = {"msg_id": "m-1", "ts": "2026-03-29T02:29:50+02:00", "battery": 87}
    data.update(overrides)
    return {k: v for k, v in data.items() if v is not ...}


def reject_reason(raw: RawMessage) -> str:
    result = normalize(raw, REGISTRY)
    assert isinstance(result, Rejected), result
    assert result.topic == raw.topic and result.payload == raw.payload and result.received_at == raw.received_at
    return result.reason


def test_valid_event_is_normalised_to_utc_and_attributed() -> None:
    result = normalize(msg(device_topic(GW, PENDANT, "help_button"), body(value={"pressed": 1})), REGISTRY)
    assert isinstance(result, Event)
    assert result.type is EventType.HELP_BUTTON
    assert result.ts == datetime(2026, 3, 29, 0, 29, 50, tzinfo=timezone.utc)
    assert result.ts.utcoffset() == timedelta(0)
    assert (result.gateway_id, result.device_id, result.resident_id) == (GW, PENDANT, "r-1")
    assert result.battery == 87 and result.value == {"pressed": 1} and result.msg_id == "m-1"
    assert result.id == event_id(GW, "m-1") and not result.delayed


def test_event_id_is_deterministic_per_gateway_and_msg_id() -> None:
    assert event_id(GW, "a") == event_id(GW, "a")
    assert event_id(GW, "a") != event_id(OTHER_GW, "a") != event_id(GW, "b")


def test_gateway_heartbeat_comes_from_the_gateway_itself() -> None:
    result = normalize(msg(device_topic(GW, GW, "heartbeat"), body(battery=...)), REGISTRY)
    assert isinstance(result, Event) and result.device_id == GW and result.battery is None


def test_late_event_is_accepted_and_flagged_delayed() -> None:
    raw = msg(device_topic(GW, PENDANT, "fall"), body(ts="2026-03-28T20:00:00Z"))
    result = normalize(raw, REGISTRY)
    assert isinstance(result, Event) and result.delayed
    assert result.ts == datetime(2026, 3, 28, 20, tzinfo=timezone.utc) and result.received_at == NOW


@pytest.mark.parametrize("text", ["2026-03-29T00:30:00.123456789Z", "2026-03-29 01:30:00+01:00",
                                  "2026-03-29t00:30:00z"])
def test_rfc3339_variants_parse(text: str) -> None:
    assert parse_ts(text).replace(microsecond=0) == NOW


@pytest.mark.parametrize("payload, reason", [
    (b"online", "online"), (b"offline\n", "offline"),
])
def test_status_becomes_presence_event(payload: bytes, reason: str) -> None:
    result = normalize(msg(status_topic(GW), payload), REGISTRY)
    assert isinstance(result, Event)
    assert result.type is EventType(f"gateway_{reason}")
    assert result.device_id == GW and result.resident_id == "r-1"
    assert result.ts == result.received_at == NOW
    assert result.msg_id == f"status:{NOW.isoformat()}"


BAD = [
    ("telecare/v2/gw-1/pd-1/fall", body(), "bad_topic"),
    ("telecare/v1/gw-1/fall", body(), "bad_topic"),
    ("telecare/v1/gw-1//fall", body(), "bad_topic"),
    ("telecare/v1/gw-1/pd-1/fall/extra", body(), "bad_topic"),
    (device_topic(GW, PENDANT, "fall"), b"{" + b" " * MAX_PAYLOAD_BYTES + b"}", "oversized"),
    (device_topic(GW, PENDANT, "fall"), b"\xff\xfe{}", "invalid_utf8"),
    (device_topic(GW, PENDANT, "fall"), b"{not json", "invalid_json"),
    (device_topic(GW, PENDANT, "fall"), b'{"msg_id": "x", "ts": "2026-03-29T00:00:00Z", "value": NaN}', "invalid_json"),
    (device_topic(GW, PENDANT, "fall"), b"[" * 30_000 + b"]" * 30_000, "invalid_json"),
    (device_topic(GW, PENDANT, "fall"), b"[1, 2]", "not_an_object"),
    (device_topic(GW, PENDANT, "fall"), body(msg_id=...), "missing_field:msg_id"),
    (device_topic(GW, PENDANT, "fall"), body(ts=...), "missing_field:ts"),
    (device_topic(GW, PENDANT, "fall"), body(msg_id=12), "bad_field:msg_id"),
    (device_topic(GW, PENDANT, "fall"), body(msg_id=""), "bad_field:msg_id"),
    (device_topic(GW, PENDANT, "fall"), body(ts="2026-03-29T00:00:00"), "bad_field:ts"),
    (device_topic(GW, PENDANT, "fall"), body(ts="yesterday"), "bad_field:ts"),
    (device_topic(GW, PENDANT, "fall"), body(ts="2026-03-29T04:00:00Z"), "bad_field:ts"),
    (device_topic(GW, PENDANT, "fall"), body(battery=101), "bad_field:battery"),
    (device_topic(GW, PENDANT, "fall"), body(battery="50"), "bad_field:battery"),
    (device_topic(GW, PENDANT, "fall"), body(battery=True), "bad_field:battery"),
    (device_topic(GW, PENDANT, "fall"), body(value="nul\u0000byte"), "bad_field:value"),
    (device_topic(GW, PENDANT, "gateway_online"), body(), "unknown_event_type"),
    (device_topic(GW, PENDANT, "explode"), body(), "unknown_event_type"),
    (device_topic("gw-x", PENDANT, "fall"), body(), "unknown_gateway"),
    (device_topic(PENDANT, PENDANT, "fall"), body(), "unknown_gateway"),
    (device_topic(GW, "pd-x", "fall"), body(), "unknown_device"),
    (device_topic(GW, FOREIGN, "fall"), body(), "device_not_on_gateway"),
    (status_topic(GW), b"maybe", "bad_status"),
    (status_topic(GW), b"", "bad_status"),
    (status_topic("gw-x"), b"online", "unknown_gateway"),
]


@pytest.mark.parametrize("topic, payload, reason", BAD, ids=[f"{r}-{i}" for i, (_, _, r) in enumerate(BAD)])
def test_bad_input_is_rejected_with_its_reason(topic: str, payload: object, reason: str) -> None:
    assert reject_reason(msg(topic, payload)) == reason


def test_rejects_keep_the_ids_the_topic_names() -> None:
    result = normalize(msg(device_topic(GW, "pd-x", "fall"), body()), REGISTRY)
    assert isinstance(result, Rejected) and (result.gateway_id, result.device_id) == (GW, "pd-x")
    bad = normalize(msg("nonsense", b"{}"), REGISTRY)
    assert isinstance(bad, Rejected) and bad.gateway_id is None and bad.device_id is None


def test_every_documented_reason_is_covered() -> None:
    reasons = {r.split(":")[0] for _, _, r in BAD}
    assert reasons == {"bad_topic", "oversized", "invalid_utf8", "invalid_json", "not_an_object", "missing_field",
                       "bad_field", "unknown_event_type", "unknown_gateway", "unknown_device",
                       "device_not_on_gateway", "bad_status"}


def test_topic_parsing_and_needed_ids() -> None:
    assert parse_topic("telecare/v1/g/d/fall") == DeviceTopic("g", "d", "fall")
    assert parse_topic("telecare/v1/g/status") == StatusTopic("g")
    assert parse_topic("telecare/v1/g+/d/fall") is None
    assert needed_ids("telecare/v1/g/d/fall") == ("g", "d")
    assert needed_ids("telecare/v1/g/status") == ("g",)
    assert needed_ids("x/y") == ()
