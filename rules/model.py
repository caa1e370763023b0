"""The rule engine's per-resident state (timers, last seen, flags) and its JSON form."""
from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from telecare.alerts import AlertType


@dataclass(frozen=True, slots=True)
class Timer:
    """A deadline; `since` is what it measures from (bed exit, last activity or message, dose time)."""

    rule: AlertType
    due: datetime
    since: datetime
    device_id: str | None = None
    delayed: bool = False
    fired: bool = False  # kept after firing so a restart does not fire it again


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


def _iso(dt: datetime | None) -> str | None:
    return dt.isoformat() if dt is not None else None


def _dt(text: str | None) -> datetime | None:
    return datetime.fromisoformat(text) if text else None


def state_to_dict(state: ResidentState) -> dict[str, Any]:
    """JSON-ready form of a state (what rule_state.state holds)."""
    return {
        "v": 1,
        "resident_id": state.resident_id,
        "timers": {k: {"rule": t.rule.value, "due": t.due.isoformat(), "since": t.since.isoformat(),
                       "device": t.device_id, "delayed": t.delayed, "fired": t.fired}
                   for k, t in state.timers.items()},
        "last_seen": {k: v.isoformat() for k, v in state.last_seen.items()},
        "low_battery": sorted(state.low_battery),
        "last_bed_return": _iso(state.last_bed_return),
        "doses_planned_until": _iso(state.doses_planned_until),
        "dose_plan": list(state.dose_plan),
    }


def state_from_dict(data: Mapping[str, Any]) -> ResidentState:
    """Inverse of state_to_dict."""
    timers = {k: Timer(AlertType(t["rule"]), datetime.fromisoformat(t["due"]), datetime.fromisoformat(t["since"]),
                       t.get("device"), bool(t.get("delayed")), bool(t.get("fired")))
              for k, t in data.get("timers", {}).items()}
    return ResidentState(
        resident_id=data["resident_id"],
        timers=timers,
        last_seen={k: datetime.fromisoformat(v) for k, v in data.get("last_seen", {}).items()},
        low_battery=frozenset(data.get("low_battery", ())),
        last_bed_return=_dt(data.get("last_bed_return")),
        doses_planned_until=_dt(data.get("doses_planned_until")),
        dose_plan=tuple(data.get("dose_plan", ())),
    )


def state_to_json(state: ResidentState) -> str:
    """Serialise a state to a JSON string."""
    return json.dumps(state_to_dict(state), separators=(",", ":"))


def state_from_json(text: str) -> ResidentState:
    """Inverse of state_to_json."""
    return state_from_dict(json.loads(text))
