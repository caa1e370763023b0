"""RawMessage + a registry view -> Event | Rejected. Pure: no I/O, time comes from the message."""
from __future__ import annotations

import hashlib
import json
import math
import re
from collections.abc import Mapping
from datetime import datetime, timedelta, timezone
from typing import Any
from uuid import UUID, SafeUUID

import msgspec

from ingest.topics import DeviceTopic, StatusTopic, parse_topic
from telecare.events import DEVICE_EVENT_TYPES, MAX_PAYLOAD_BYTES, Event, EventType, RawMessage, Rejected
from telecare.people import Device

# Event ids derive from (gateway, msg_id): a redelivered message gets the same id everywhere.
EVENT_NAMESPACE = UUID("5d1f0c2e-9a43-4b8e-bf0c-7e1a2b3c4d5e")
MAX_MSG_ID_LENGTH = 128
# Gateway clocks drift; an event stamped further ahead than this is a broken clock, not an event.
FUTURE_TOLERANCE = timedelta(hours=1)
# RFC 3339: date, 'T' (or space), time, and a mandatory offset.
_RFC3339 = re.compile(r"^\d{4}-\d{2}-\d{2}[Tt ]\d{2}:\d{2}:\d{2}(\.\d{1,9})?([Zz]|[+-]\d{2}:\d{2})$")
_DEVICE_TYPES = {t.value: t for t in DEVICE_EVENT_TYPES}
_NUL_ESCAPE = re.compile(r"(?<!\\)(?:\\\\)*\\u0000")  # an unescaped \u0000 in JSON text
_STATUS = {b"online": EventType.GATEWAY_ONLINE, b"offline": EventType.GATEWAY_OFFLINE}

RegistryView = Mapping[str, Device]  # device id -> Device, at least the ids in needed_ids(topic)


class _Reject(Exception):
    def __init__(self, reason: str) -> None:
        self.reason = reason


_NAMESPACE_BYTES = EVENT_NAMESPACE.bytes
# uuid5's bit twiddling, done once: clear the variant and version bits, set RFC 4122 variant and version 5.
_UUID5_CLEAR = ~(0xC000 << 48 | 0xF000 << 64)
_UUID5_SET = 0x8000 << 48 | 5 << 76
_new, _set = object.__new__, object.__setattr__
_SAFE_UNKNOWN = SafeUUID.unknown


def event_id(gateway_id: str, msg_id: str) -> UUID:
    """Deterministic event id of (gateway, msg_id): uuid5(EVENT_NAMESPACE, "<gateway>/<msg_id>")."""
    # Exactly uuid.uuid5, without UUID.__init__'s argument checks (half of its cost on the ingest path).
    digest = hashlib.sha1(_NAMESPACE_BYTES + f"{gateway_id}/{msg_id}".encode()).digest()
    uid = _new(UUID)
    _set(uid, "int", int.from_bytes(digest[:16]) & _UUID5_CLEAR | _UUID5_SET)
    _set(uid, "is_safe", _SAFE_UNKNOWN)
    return uid


def needed_ids(topic: str) -> tuple[str, ...]:
    """Registry ids normalize() will look up for this topic (so the caller can fetch them first)."""
    parsed = parse_topic(topic)
    if isinstance(parsed, DeviceTopic):
        return (parsed.gateway_id, parsed.device_id)
    if isinstance(parsed, StatusTopic):
        return (parsed.gateway_id,)
    return ()


def parse_ts(text: Any) -> datetime:
    """An RFC 3339 timestamp with offset, in UTC; ValueError otherwise."""
    match = _RFC3339.match(text) if isinstance(text, str) else None
    if match is None:
        raise ValueError("not an RFC 3339 timestamp with offset")
    # The pattern allows a space or 't' only at index 10 and 'z' only last.
    fixed = text if text[10] == "T" and text[-1] != "z" else text.replace(" ", "T").replace("z", "Z")
    fraction = match.group(1)
    if fraction is not None and len(fraction) > 7:
        # fromisoformat takes at most 6 fractional digits; RFC 3339 allows more.
        fixed = fixed[:26] + fixed[19 + len(fraction):]
    try:
        # Year 1 with a positive offset or year 9999 with a negative one falls outside datetime in UTC.
        return datetime.fromisoformat(fixed).astimezone(timezone.utc)
    except OverflowError:
        raise ValueError("timestamp out of range") from None


def _gateway(gateway_id: str, devices: RegistryView) -> Device:
    gateway = devices.get(gateway_id)
    if gateway is None or gateway.gateway_id != gateway_id:
        raise _Reject("unknown_gateway")
    return gateway


def _status(raw: RawMessage, topic: StatusTopic, devices: RegistryView) -> Event:
    kind = _STATUS.get(raw.payload.strip())
    if kind is None:
        raise _Reject("bad_status")
    gateway = _gateway(topic.gateway_id, devices)
    msg_id = f"status:{raw.received_at.isoformat()}"
    return Event(id=event_id(gateway.id, msg_id), gateway_id=gateway.id, device_id=gateway.id,
                 resident_id=gateway.resident_id, type=kind, ts=raw.received_at,
                 received_at=raw.received_at, msg_id=msg_id)


def _no_constant(name: str) -> None:
    # NaN/Infinity are not JSON and PostgreSQL's jsonb refuses them.
    raise ValueError(name)


def _storable(value: Any) -> bool:
    # jsonb refuses \u0000 and lone surrogates; one such value must not fail a whole batch.
    if value is None or type(value) in (int, bool):
        return True
    if type(value) is float:
        return math.isfinite(value)  # 1e999 parses to inf without passing parse_constant
    try:
        text = json.dumps(value, ensure_ascii=False, allow_nan=False)
    except (ValueError, RecursionError):
        return False  # a non-finite number inside, or nested deeper than we can write back
    if _NUL_ESCAPE.search(text):
        return False
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


_decode = msgspec.json.Decoder().decode
# Depth <= the bracket count: below this msgspec and json.loads cannot differ on nesting limits.
_FAST_MAX_BRACKETS = 64
_UNDECODED = object()


def _payload(raw: RawMessage) -> dict[str, Any]:
    try:
        text = raw.payload.decode("utf-8")
    except UnicodeDecodeError:
        raise _Reject("invalid_utf8") from None
    data: Any = _UNDECODED
    if text.count("{") + text.count("[") <= _FAST_MAX_BRACKETS:
        try:
            # msgspec accepts strictly less than json.loads (no NaN/Infinity, no lone surrogate escapes)
            # and decodes the same values where both accept: what it refuses goes the slow way below,
            # so every reject reason stays json.loads's.
            data = _decode(text)
        except (msgspec.DecodeError, msgspec.ValidationError):
            pass
    if data is _UNDECODED:
        try:
            data = json.loads(text, parse_constant=_no_constant)
        except (ValueError, RecursionError):
            raise _Reject("invalid_json") from None
    if not isinstance(data, dict):
        raise _Reject("not_an_object")
    return data


def _fields(data: dict[str, Any], received_at: datetime) -> tuple[str, datetime, int | None]:
    get = data.get
    msg_id, ts_text, battery = get("msg_id"), get("ts"), get("battery")
    if msg_id is None:
        raise _Reject("missing_field:msg_id")
    if ts_text is None:
        raise _Reject("missing_field:ts")
    if not isinstance(msg_id, str) or not 0 < len(msg_id) <= MAX_MSG_ID_LENGTH or not msg_id.isprintable():
        raise _Reject("bad_field:msg_id")
    try:
        ts = parse_ts(ts_text)
    except ValueError:
        raise _Reject("bad_field:ts") from None
    if ts - received_at > FUTURE_TOLERANCE:
        raise _Reject("bad_field:ts")
    # bool is an int subclass in Python; `true` is not a battery level.
    if battery is not None and (type(battery) is not int or not 0 <= battery <= 100):
        raise _Reject("bad_field:battery")
    if not _storable(get("value")):
        raise _Reject("bad_field:value")
    return msg_id, ts, battery


def _device_event(raw: RawMessage, topic: DeviceTopic, devices: RegistryView) -> Event:
    kind = _DEVICE_TYPES.get(topic.event_type)
    if kind is None:
        raise _Reject("unknown_event_type")
    data = _payload(raw)
    msg_id, ts, battery = _fields(data, raw.received_at)
    gateway = _gateway(topic.gateway_id, devices)
    device = devices.get(topic.device_id)
    if device is None:
        raise _Reject("unknown_device")
    if device.gateway_id != gateway.id:
        raise _Reject("device_not_on_gateway")
    return Event(id=event_id(gateway.id, msg_id), gateway_id=gateway.id, device_id=device.id,
                 resident_id=device.resident_id, type=kind, ts=ts, received_at=raw.received_at,
                 msg_id=msg_id, battery=battery, value=data.get("value"))


def normalize(raw: RawMessage, devices: RegistryView) -> Event | Rejected:
    """Validate one message against the protocol and the registry; never raises, whatever the input."""
    gateway_id = device_id = None
    try:
        parsed = parse_topic(raw.topic)
        gateway_id = getattr(parsed, "gateway_id", None)
        device_id = getattr(parsed, "device_id", gateway_id)
        if parsed is None:
            raise _Reject("bad_topic")
        if len(raw.payload) > MAX_PAYLOAD_BYTES:
            raise _Reject("oversized")
        if isinstance(parsed, StatusTopic):
            return _status(raw, parsed, devices)
        return _device_event(raw, parsed, devices)
    except _Reject as rej:
        reason = rej.reason
    except Exception as err:  # noqa: BLE001 - a bug here must cost one message, not the ingest loop
        reason = f"internal_error:{type(err).__name__}"
    return Rejected(topic=raw.topic, payload=raw.payload, reason=reason,
                    received_at=raw.received_at, gateway_id=gateway_id, device_id=device_id)
