"""The canonical event schema: what ingest produces and every component consumes."""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any
from uuid import UUID

import msgspec

# An event whose timestamp is older than this when it reaches us was buffered by a gateway;
# alerts raised from it are flagged "delayed" so operators know the incident is not live.
LATE_AFTER = timedelta(minutes=2)

MAX_PAYLOAD_BYTES = 64 * 1024


class EventType(StrEnum):
    HELP_BUTTON = "help_button"
    FALL = "fall"
    BED_EXIT = "bed_exit"
    BED_RETURN = "bed_return"
    MEDICATION_TAKEN = "medication_taken"
    MEDICATION_MISSED = "medication_missed"
    MOTION = "motion"
    DOOR_OPEN = "door_open"
    HEARTBEAT = "heartbeat"
    LOW_BATTERY = "low_battery"
    TAMPER = "tamper"
    # Internal: derived from the retained telecare/v1/<gateway>/status topic, never sent by devices.
    GATEWAY_ONLINE = "gateway_online"
    GATEWAY_OFFLINE = "gateway_offline"


DEVICE_EVENT_TYPES: frozenset[EventType] = frozenset(EventType) - {
    EventType.GATEWAY_ONLINE,
    EventType.GATEWAY_OFFLINE,
}

# Events that show the resident is up and about (reset the inactivity timer).
ACTIVITY_EVENT_TYPES: frozenset[EventType] = frozenset(
    {EventType.MOTION, EventType.BED_EXIT, EventType.BED_RETURN, EventType.DOOR_OPEN,
     EventType.HELP_BUTTON, EventType.MEDICATION_TAKEN}
)


class DeviceType(StrEnum):
    GATEWAY = "gateway"
    PENDANT = "pendant"
    FALL_SENSOR = "fall_sensor"
    BED_SENSOR = "bed_sensor"
    MEDICATION_DISPENSER = "medication_dispenser"
    MOTION_SENSOR = "motion_sensor"
    DOOR_SENSOR = "door_sensor"


@dataclass(frozen=True, slots=True)
class Event:
    """One validated, normalised sensor event, attributed to a resident."""

    id: UUID
    gateway_id: str
    device_id: str
    resident_id: str
    type: EventType
    ts: datetime
    received_at: datetime
    msg_id: str
    battery: int | None = None
    value: Any = None

    @property
    def delayed(self) -> bool:
        """True when the gateway buffered this event and it reaches us late."""
        return self.received_at - self.ts > LATE_AFTER


@dataclass(frozen=True, slots=True)
class Rejected:
    """A message ingest refused, kept for the dead-letter table."""

    topic: str
    payload: bytes
    reason: str
    received_at: datetime
    gateway_id: str | None = None
    device_id: str | None = None


@dataclass(frozen=True, slots=True)
class RawMessage:
    """Bytes as the broker handed them over, before validation."""

    topic: str
    payload: bytes
    received_at: datetime
    ack_token: Any = field(default=None, compare=False)


def event_to_dict(event: Event) -> dict[str, Any]:
    """JSON-ready form of an event (for the bus, the API and the live stream)."""
    return {
        "id": str(event.id),
        "gateway_id": event.gateway_id,
        "device_id": event.device_id,
        "resident_id": event.resident_id,
        "type": event.type.value,
        "ts": event.ts.isoformat(),
        "received_at": event.received_at.isoformat(),
        "msg_id": event.msg_id,
        "battery": event.battery,
        "value": event.value,
        "delayed": event.delayed,
    }


def event_from_dict(data: dict[str, Any]) -> Event:
    """Inverse of event_to_dict."""
    return Event(
        id=UUID(data["id"]),
        gateway_id=data["gateway_id"],
        device_id=data["device_id"],
        resident_id=data["resident_id"],
        type=EventType(data["type"]),
        ts=datetime.fromisoformat(data["ts"]),
        received_at=datetime.fromisoformat(data["received_at"]),
        msg_id=data["msg_id"],
        battery=data.get("battery"),
        value=data.get("value"),
    )


def encode_event(event: Event) -> bytes:
    """Bytes for a cross-process bus (the JSON of event_to_dict; non-ASCII text as UTF-8)."""
    return _encode(event_to_dict(event))


def decode_event(raw: bytes) -> Event:
    """Inverse of encode_event (and of the json.dumps form written before it used msgspec)."""
    try:
        doc = _decode_event(raw)
    except (msgspec.DecodeError, msgspec.ValidationError):
        return event_from_dict(json.loads(raw))  # let the dict reader raise what it always raised
    return Event(doc.id, doc.gateway_id, doc.device_id, doc.resident_id, doc.type, doc.ts, doc.received_at,
                 doc.msg_id, doc.battery, doc.value)


class _EventDoc(msgspec.Struct):
    """event_to_dict's layout, decoded by msgspec straight into typed fields (`delayed` is derived, ignored)."""

    id: UUID
    gateway_id: str
    device_id: str
    resident_id: str
    type: EventType
    ts: datetime
    received_at: datetime
    msg_id: str
    battery: Any = None
    value: Any = None


_encode = msgspec.json.Encoder().encode
_decode_event = msgspec.json.Decoder(_EventDoc).decode
