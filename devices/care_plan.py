"""Pure: a care-plan edit (the fields a care team may change), applied to a resident, and its per-field diff."""
from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import time
from typing import Any

from telecare.errors import InvalidInput
from telecare.people import Contact, Reablement, Resident, RiskFlag

from devices.records import contact_to_json, hhmm

LANGUAGES = ("ca", "es", "en")  # the languages calls and pages are offered in


@dataclass(frozen=True, slots=True)
class CarePlanEdit:
    """The editable care plan, whole (PUT semantics). Contacts in priority order: the first is called first."""

    follow_up_level: int
    risk_flags: frozenset[RiskFlag]
    night_start: time
    night_end: time
    dose_times: tuple[time, ...]
    inactivity_hours: float
    calling_start: time
    calling_end: time
    language: str
    contacts: tuple[Contact, ...]
    reablement: Reablement | None


@dataclass(frozen=True, slots=True)
class FieldChange:
    """One field's value before and after an edit (JSON forms)."""

    field: str
    before: Any
    after: Any


def validate_edit(edit: CarePlanEdit) -> None:
    """Reject an edit the rules and the dialer could not use (InvalidInput; no personal data in the message)."""
    if edit.follow_up_level not in (1, 2, 3):
        raise InvalidInput("follow-up level must be 1, 2 or 3")
    if not 1 <= edit.inactivity_hours <= 72:
        raise InvalidInput("inactivity threshold must be between 1 and 72 hours")
    if edit.calling_start >= edit.calling_end:
        raise InvalidInput("calling hours must start before they end")
    if edit.night_start == edit.night_end:
        raise InvalidInput("the night window must not be empty")
    if len(set(edit.dose_times)) != len(edit.dose_times):
        raise InvalidInput("dose times must not repeat")
    if edit.language not in LANGUAGES:
        raise InvalidInput("language must be one of " + ", ".join(LANGUAGES))
    phones = [c.phone for c in edit.contacts]
    if len(set(phones)) != len(phones):
        raise InvalidInput("a phone number appears for two contacts")


def apply_edit(resident: Resident, edit: CarePlanEdit) -> Resident:
    """The resident with the edit applied; contacts renumbered 1.. in the order given."""
    validate_edit(edit)
    contacts = tuple(replace(c, priority=i) for i, c in enumerate(edit.contacts, start=1))
    plan = replace(resident.care_plan, follow_up_level=edit.follow_up_level, night_start=edit.night_start,
                   night_end=edit.night_end, dose_times=tuple(sorted(edit.dose_times)),
                   inactivity_hours=float(edit.inactivity_hours), calling_start=edit.calling_start,
                   calling_end=edit.calling_end, reablement=edit.reablement)
    return replace(resident, risk_flags=edit.risk_flags, language=edit.language, contacts=contacts, care_plan=plan)


def editable_fields(r: Resident) -> dict[str, Any]:
    """The editable fields of a resident in their JSON forms (what the page shows and the history stores)."""
    p = r.care_plan
    return {
        "follow_up_level": p.follow_up_level,
        "risk_flags": sorted(f.value for f in r.risk_flags),
        "night_start": hhmm(p.night_start), "night_end": hhmm(p.night_end),
        "dose_times": [hhmm(t) for t in p.dose_times],
        "inactivity_hours": p.inactivity_hours,
        "calling_start": hhmm(p.calling_start), "calling_end": hhmm(p.calling_end),
        "language": r.language,
        "contacts": [contact_to_json(c) for c in sorted(r.contacts, key=lambda c: c.priority)],
        "reablement": ({"calls_per_week": p.reablement.calls_per_week, "until": p.reablement.until.isoformat()}
                       if p.reablement else None),
    }


def diff(before: Resident, after: Resident) -> list[FieldChange]:
    """The editable fields whose value changed, in a stable order."""
    old, new = editable_fields(before), editable_fields(after)
    return [FieldChange(name, old[name], new[name]) for name in old if old[name] != new[name]]
