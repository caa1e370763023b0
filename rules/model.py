"""The rule engine's per-resident state (timers, last seen, flags) and its JSON form."""
from __future__ import annotations

import json
import sys
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any

import msgspec

from telecare.alerts import AlertType


class Timer(msgspec.Struct, frozen=True, array_like=True, gc=False):
    """A deadline; `since` is what it measures from (bed exit, last activity or message, dose time).

    A msgspec Struct, not a dataclass: 64 bytes instead of 80 (no GC header: it holds no containers), and
    rules/packed.py decodes a whole state's timers in C (the Kafka hosts keep most states packed)."""

    rule: AlertType
    due: datetime
    since: datetime
    device_id: str | None = None
    delayed: bool = False
    fired: bool = False  # kept after firing so a restart does not fire it again

    def marked_fired(self, *, delayed: bool | None = None) -> Timer:
        """This timer once fired (and flagged late when `delayed`)."""
        return msgspec.structs.replace(self, fired=True, delayed=self.delayed if delayed is None else delayed)


@dataclass(frozen=True, slots=True)
class ResidentState:
    """Everything the rules remember about one resident. Mappings are never mutated, only replaced."""

    resident_id: str
    timers: Mapping[str, Timer] = field(default_factory=dict)
    last_seen: Mapping[str, datetime] = field(default_factory=dict)
    low_battery: frozenset[str] = frozenset()  # devices in a low-battery episode (alerted once)
    last_bed_return: datetime | None = None
    doses_planned_until: datetime | None = None
    dose_plan: tuple[str, ...] = ()  # the care plan's dose times the planned timers were made for


def new_state(resident_id: str) -> ResidentState:
    """The state of a resident the rules have never seen."""
    return ResidentState(resident_id)


def next_due(state: ResidentState) -> datetime | None:
    """The earliest unfired timer's due time, or None."""
    dues = [t.due for t in state.timers.values() if not t.fired]
    return min(dues) if dues else None


def _ts(dt: datetime | None) -> float | None:
    return dt.timestamp() if dt is not None else None


def _from_ts(value: float | str | None) -> datetime | None:
    if value is None or value == "":
        return None
    if isinstance(value, str):  # version 1 stored ISO 8601 text
        return datetime.fromisoformat(value)
    return datetime.fromtimestamp(value, timezone.utc)


def state_to_dict(state: ResidentState) -> dict[str, Any]:
    """JSON-ready form of a state (what rule_state.state holds); instants as epoch seconds (cheap to write)."""
    return {
        "v": 2,
        "resident_id": state.resident_id,
        "timers": {k: [t.rule.value, t.due.timestamp(), t.since.timestamp(), t.device_id, t.delayed, t.fired]
                   for k, t in state.timers.items()},
        "last_seen": {k: v.timestamp() for k, v in state.last_seen.items()},
        "low_battery": sorted(state.low_battery),
        "last_bed_return": _ts(state.last_bed_return),
        "doses_planned_until": _ts(state.doses_planned_until),
        "dose_plan": list(state.dose_plan),
        "n": _ts(next_due(state)),  # read alone on restore (stored_next_due): schedule without decoding the rest
    }


def _timer(data: Any) -> Timer:
    if isinstance(data, list):
        rule, due, since, device, delayed, fired = data
    else:  # version 1: an object with ISO 8601 instants
        rule, due, since = data["rule"], data["due"], data["since"]
        device, delayed, fired = data.get("device"), data.get("delayed"), data.get("fired")
    return Timer(AlertType(rule), _from_ts(due), _from_ts(since), device, bool(delayed), bool(fired))


def state_from_dict(data: Mapping[str, Any]) -> ResidentState:
    """Inverse of state_to_dict (reads version 1 rows too)."""
    return ResidentState(
        resident_id=data["resident_id"],
        timers={k: _timer(t) for k, t in data.get("timers", {}).items()},
        last_seen={k: _from_ts(v) for k, v in data.get("last_seen", {}).items()},
        low_battery=frozenset(data.get("low_battery", ())),
        last_bed_return=_from_ts(data.get("last_bed_return")),
        doses_planned_until=_from_ts(data.get("doses_planned_until")),
        dose_plan=tuple(data.get("dose_plan", ())),
    )


def state_to_json(state: ResidentState) -> str:
    """Serialise a state to a JSON string."""
    return _encode(state_to_dict(state)).decode()


def state_from_json(text: str | bytes) -> ResidentState:
    """Inverse of state_to_json (version 1 rows too)."""
    return states_from_json([text])[0]


class _StateV2(msgspec.Struct):
    """The version 2 layout of state_to_dict, decoded by msgspec straight into typed fields."""

    resident_id: str
    v: int = 2
    timers: dict[str, tuple[str, float, float, str | None, bool, bool]] = {}
    last_seen: dict[str, float] = {}
    low_battery: list[str] = []
    last_bed_return: float | None = None
    doses_planned_until: float | None = None
    dose_plan: list[str] = []
    n: float | None = None


class _NextDue(msgspec.Struct):
    """Only the header of a stored state: msgspec skips the other fields without building them."""

    n: float | None | msgspec.UnsetType = msgspec.UNSET


_encode = msgspec.json.Encoder().encode
_decode_v2 = msgspec.json.Decoder(_StateV2).decode
_decode_next_due = msgspec.json.Decoder(_NextDue).decode
_RULES = {r.value: r for r in AlertType}


def states_to_json(states: Iterable[ResidentState]) -> bytes:
    """A JSON array of [resident_id, state_to_dict(state)] pairs (one upsert's parameter)."""
    return _encode([(s.resident_id, state_to_dict(s)) for s in states])


# Instants decoded recently, shared by every decode (also of one state at a time, as the Kafka host decodes on
# first use): states saved in one interval hold the same instants, and building a datetime costs ~1 µs.
_INSTANTS: dict[float, datetime] = {}
_INSTANTS_MAX = 1 << 18


def states_from_json(texts: Iterable[str | bytes]) -> list[ResidentState]:
    """Decode many stored states; equal instants and repeated ids share one object (less memory held).

    ValueError/KeyError/TypeError for a state that cannot be read, as state_from_dict raises.
    """
    instants = _INSTANTS
    if len(instants) > _INSTANTS_MAX:  # bounded: a long-running host decodes states for as long as it runs
        instants.clear()
    intern = sys.intern

    def at(value: float | None) -> datetime | None:
        if value is None:
            return None
        found = instants.get(value)
        if found is None:
            found = instants[value] = datetime.fromtimestamp(value, timezone.utc)
        return found

    out: list[ResidentState] = []
    for text in texts:
        try:
            doc = _decode_v2(text)
        except (msgspec.DecodeError, msgspec.ValidationError):
            out.append(state_from_dict(json.loads(text)))  # version 1, or let state_from_dict say what is wrong
            continue
        if doc.v != 2:
            out.append(state_from_dict(json.loads(text)))
            continue
        out.append(ResidentState(
            resident_id=doc.resident_id,
            timers={intern(k): Timer(_RULES.get(rule) or AlertType(rule), at(due), at(since), device and intern(device), delayed, fired)
                    for k, (rule, due, since, device, delayed, fired) in doc.timers.items()},
            last_seen={intern(k): at(v) for k, v in doc.last_seen.items()},
            low_battery=frozenset(doc.low_battery),
            last_bed_return=at(doc.last_bed_return),
            doses_planned_until=at(doc.doses_planned_until),
            dose_plan=tuple(intern(t) for t in doc.dose_plan),
        ))
    return out


def stored_next_due(raw: str | bytes) -> tuple[bool, datetime | None]:
    """(known, the earliest unfired timer's due) of a stored state without decoding it (~1 µs instead of ~25).

    known is False for states stored before the header existed (or unreadable ones): tick them to find out.
    """
    try:
        due = _decode_next_due(raw).n
    except (msgspec.DecodeError, msgspec.ValidationError):
        return False, None
    if due is msgspec.UNSET:
        return False, None
    return True, None if due is None else datetime.fromtimestamp(due, timezone.utc)
