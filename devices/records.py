"""Pure mapping between Resident/Device records and their stored (row and JSON) forms."""
from __future__ import annotations

from datetime import date, time
from typing import Any

from telecare.errors import InvalidInput
from telecare.events import DeviceType
from telecare.people import CarePlan, Contact, Device, Reablement, Resident, RiskFlag

_TIME_FIELDS = ("night_start", "night_end", "calling_start", "calling_end")
_PLAIN_FIELDS = ("bed_return_minutes", "dose_window_minutes", "inactivity_hours", "low_battery_percent",
                 "follow_up_level", "team", "named_caller")


def hhmm(t: time) -> str:
    """A time of day as "HH:MM" (the stored and file form)."""
    return f"{t.hour:02d}:{t.minute:02d}"


def parse_hhmm(text: str) -> time:
    """Parse "HH:MM" (24 h); InvalidInput otherwise."""
    try:
        hours, minutes = text.split(":")
        if len(hours) != 2 or len(minutes) != 2:
            raise ValueError(text)
        return time(int(hours), int(minutes))
    except (ValueError, AttributeError) as err:
        raise InvalidInput("expected HH:MM") from err


def care_plan_to_json(plan: CarePlan) -> dict[str, Any]:
    """CarePlan -> the residents.care_plan jsonb document."""
    out: dict[str, Any] = {name: hhmm(getattr(plan, name)) for name in _TIME_FIELDS}
    out.update({name: getattr(plan, name) for name in _PLAIN_FIELDS})
    out["dose_times"] = [hhmm(t) for t in plan.dose_times]
    out["quiet_days"] = list(plan.quiet_days)
    out["reablement"] = (
        {"calls_per_week": plan.reablement.calls_per_week, "until": plan.reablement.until.isoformat()}
        if plan.reablement else None
    )
    return out


def care_plan_from_json(doc: dict[str, Any]) -> CarePlan:
    """The jsonb document -> CarePlan; missing keys take the service defaults."""
    kwargs: dict[str, Any] = {name: parse_hhmm(doc[name]) for name in _TIME_FIELDS if doc.get(name)}
    kwargs.update({name: doc[name] for name in _PLAIN_FIELDS if name in doc})
    if doc.get("dose_times"):
        kwargs["dose_times"] = tuple(parse_hhmm(t) for t in doc["dose_times"])
    if doc.get("quiet_days"):
        kwargs["quiet_days"] = tuple(int(d) for d in doc["quiet_days"])
    if doc.get("reablement"):
        r = doc["reablement"]
        kwargs["reablement"] = Reablement(int(r["calls_per_week"]), date.fromisoformat(r["until"]))
    return CarePlan(**kwargs)


def contact_to_json(c: Contact) -> dict[str, Any]:
    return {"name": c.name, "phone": c.phone, "relation": c.relation, "priority": c.priority,
            "key_holder": c.key_holder}


def contact_from_json(doc: dict[str, Any]) -> Contact:
    return Contact(name=doc["name"], phone=doc["phone"], relation=doc.get("relation", ""),
                   priority=int(doc.get("priority", 1)), key_holder=bool(doc.get("key_holder", False)))


RESIDENT_COLUMNS = ("id", "name", "timezone", "date_of_birth", "address", "latitude", "longitude", "phones",
                    "language", "key_safe_code", "at_home", "risk_flags", "contacts", "care_plan")


def resident_to_row(r: Resident) -> tuple[Any, ...]:
    """Values for RESIDENT_COLUMNS, in order."""
    return (r.id, r.name, r.timezone, r.date_of_birth, r.address, r.latitude, r.longitude, list(r.phones),
            r.language, r.key_safe_code, r.at_home, sorted(f.value for f in r.risk_flags),
            [contact_to_json(c) for c in r.contacts], care_plan_to_json(r.care_plan))


def resident_from_row(row: dict[str, Any]) -> Resident:
    """A residents row -> Resident (unknown stored risk flags are skipped, not fatal)."""
    known = {f.value for f in RiskFlag}
    return Resident(
        id=row["id"], name=row["name"], timezone=row["timezone"], date_of_birth=row["date_of_birth"],
        address=row["address"], latitude=row["latitude"], longitude=row["longitude"],
        phones=tuple(row["phones"] or ()), language=row["language"], key_safe_code=row["key_safe_code"],
        at_home=row["at_home"], risk_flags=frozenset(RiskFlag(f) for f in row["risk_flags"] or () if f in known),
        contacts=tuple(sorted((contact_from_json(c) for c in row["contacts"] or ()), key=lambda c: c.priority)),
        care_plan=care_plan_from_json(row["care_plan"] or {}),
    )


def device_from_row(row: dict[str, Any]) -> Device:
    return Device(id=row["id"], type=DeviceType(row["type"]), gateway_id=row["gateway_id"],
                  resident_id=row["resident_id"])


def device_to_dict(d: Device) -> dict[str, str]:
    """JSON form used by the API and the CLI."""
    return {"id": d.id, "gateway_id": d.gateway_id, "resident_id": d.resident_id, "type": d.type.value}


def validate_resident(r: Resident) -> None:
    """Reject records the rest of the platform could not use (InvalidInput, message without personal data)."""
    from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

    if not r.id or not r.id.strip():
        raise InvalidInput("resident id is empty")
    if not r.name.strip():
        raise InvalidInput(f"resident {r.id}: name is empty")
    try:
        ZoneInfo(r.timezone)
    except (ZoneInfoNotFoundError, ValueError) as err:
        raise InvalidInput(f"resident {r.id}: unknown time zone") from err
    if r.latitude is not None and not -90 <= r.latitude <= 90:
        raise InvalidInput(f"resident {r.id}: latitude out of range")
    if r.longitude is not None and not -180 <= r.longitude <= 180:
        raise InvalidInput(f"resident {r.id}: longitude out of range")
