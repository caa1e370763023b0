"""Pure: what an installer is asked to do per sensor type, rejected messages in plain words, and the verdict.

Declared as data so a new sensor type or a new ingest reason code is one line here, not a code change.
"""
from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime

from telecare.alerts import ReasonParams, reason_params
from telecare.events import DeviceType, EventType


def N_(text: str) -> str:
    """Marks a sentence for the pages' catalogue (scripts/i18n extracts it); the page shows it with t()."""
    return text


@dataclass(frozen=True, slots=True)
class Prompt:
    """What the installer does to make a device report, and which event types count as its test."""

    text: str
    accepts: frozenset[EventType]


PROMPTS: dict[DeviceType, Prompt] = {
    DeviceType.GATEWAY: Prompt(N_("Plug the gateway in and wait for it to come online"),
                               frozenset({EventType.GATEWAY_ONLINE, EventType.HEARTBEAT})),
    DeviceType.PENDANT: Prompt(N_("Press the pendant's button now"), frozenset({EventType.HELP_BUTTON})),
    DeviceType.FALL_SENSOR: Prompt(N_("Press the fall sensor's test button (or drop it on the bed)"),
                                   frozenset({EventType.FALL})),
    DeviceType.BED_SENSOR: Prompt(N_("Sit on the bed, then stand up"),
                                  frozenset({EventType.BED_EXIT, EventType.BED_RETURN})),
    DeviceType.MEDICATION_DISPENSER: Prompt(N_("Open the medication dispenser's tray"),
                                            frozenset({EventType.MEDICATION_TAKEN, EventType.MEDICATION_MISSED})),
    DeviceType.MOTION_SENSOR: Prompt(N_("Wave at the motion sensor"), frozenset({EventType.MOTION})),
    DeviceType.DOOR_SENSOR: Prompt(N_("Open and close the door"), frozenset({EventType.DOOR_OPEN})),
}

# ingest.normalize's reason codes (docs/protocol.md, "Rejections") as an installer reads them.
REJECTION_REASONS: dict[str, str] = {
    "bad_topic": N_("The gateway published on a topic outside telecare/v1/<gateway>/<device>/<type>"),
    "oversized": N_("The message was larger than 64 KiB"),
    "invalid_utf8": N_("The message was not UTF-8 text"),
    "invalid_json": N_("The message was not valid JSON"),
    "not_an_object": N_("The message was JSON but not an object with fields"),
    "missing_field": N_("A required field was missing from the message"),
    "bad_field": N_("A field of the message had the wrong type, range or format"),
    "unknown_event_type": N_("The topic names an event type the platform does not know"),
    "unknown_gateway": N_("The gateway is not registered"),
    "unknown_device": N_("The sensor is not registered: add it to this gateway"),
    "device_not_on_gateway": N_("The sensor is registered on another gateway"),
    "bad_status": N_("The gateway's status message was neither online nor offline"),
    "unstorable": N_("The database refused the message"),
    "internal_error": N_("The platform failed on this message (reported to the service team)"),
}
UNKNOWN_REASON = N_("The message was rejected")


def plain_reason(code: str) -> str:
    """The sentence for a reason code (`bad_field:ts` reads as its family's sentence; reason_field names ts)."""
    family = code.partition(":")[0]
    return REJECTION_REASONS.get(code) or REJECTION_REASONS.get(family) or UNKNOWN_REASON


def reason_field(code: str) -> str | None:
    """The field a missing_field / bad_field rejection names, shown beside its (translated) sentence."""
    family, _, detail = code.partition(":")
    return detail or None if family in ("missing_field", "bad_field") else None


@dataclass(frozen=True, slots=True)
class InstalledDevice:
    """A device on the gateway being commissioned, with the room the installer put it in."""

    device_id: str
    type: DeviceType
    room: str = ""


@dataclass(frozen=True, slots=True)
class Check:
    """One line of the commissioning checklist."""

    device_id: str
    type: DeviceType
    room: str
    prompt: str
    reported_at: datetime | None

    def to_dict(self) -> dict[str, object]:
        """JSON form for the API and the stream."""
        return {"device_id": self.device_id, "type": self.type.value, "room": self.room, "prompt": self.prompt,
                "reported": self.reported_at is not None,
                "reported_at": self.reported_at.isoformat() if self.reported_at else None}


def checklist(devices: Iterable[InstalledDevice], reports: Mapping[tuple[str, EventType], datetime]) -> list[Check]:
    """Each device (gateway first) ticked off at its first accepted test event, given the first time each
    (device, event type) arrived since the session started."""
    out = []
    for d in sorted(devices, key=lambda d: (d.type is not DeviceType.GATEWAY, d.device_id)):
        prompt = PROMPTS[d.type]
        seen = [reports[(d.device_id, t)] for t in prompt.accepts if (d.device_id, t) in reports]
        out.append(Check(d.device_id, d.type, d.room, prompt.text, min(seen) if seen else None))
    return out


def missing(checks: Iterable[Check]) -> list[Check]:
    """The devices that never reported."""
    return [c for c in checks if c.reported_at is None]


def installation_test_reason(gateway_id: str, checks: list[Check]) -> tuple[str, str, ReasonParams]:
    """The operator's one line for the installation test alert (ids only, no health detail): (English line,
    its template, the template's values)."""
    absent = missing(checks)
    template = (N_("Installation test of gateway {gateway_id}: {reported} of {devices} devices; every device reported")
                if not absent else
                N_("Installation test of gateway {gateway_id}: {reported} of {devices} devices; not reported: {missing}"))
    values = {"gateway_id": gateway_id, "reported": len(checks) - len(absent), "devices": len(checks),
              "missing": ", ".join(c.device_id for c in absent)}
    if not absent:
        del values["missing"]
    return template.format(**values), template, reason_params(**values)
