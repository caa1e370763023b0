"""Every table holding data about a resident: how the export selects its rows, or why it is left out.

The completeness test reads the live schema and fails for any table that references a resident and is
in neither SECTIONS nor EXCLUDED, so a new table cannot silently escape subject access and erasure.
"""
from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

# Column names that point at a resident without a foreign key (the schema test looks for these too).
RESIDENT_ALIASES = frozenset({"resident_id", "subject"})
# Columns naming one of the resident's devices: tables holding them are the resident's data as well.
DEVICE_ALIASES = frozenset({"device_id", "gateway_id"})

_DEVICES = "(SELECT id FROM devices WHERE resident_id = %(rid)s)"


@dataclass(frozen=True, slots=True)
class Section:
    """One part of the export: the rows of `table` matching `where` (with %(rid)s the resident id)."""

    name: str
    table: str
    where: str
    order_by: str = "1"
    optional: bool = False  # exported when the table exists (e.g. visits, not built yet)


SECTIONS: tuple[Section, ...] = (
    Section("profile", "residents", "id = %(rid)s"),
    Section("devices", "devices", "resident_id = %(rid)s", "id"),
    Section("events", "events", "resident_id = %(rid)s", "ts, id"),
    # What the installer recorded at the home (issue 8): the installation address, rooms, serials, commissioning.
    Section("installation", "gateway_sites", f"gateway_id IN {_DEVICES}", "gateway_id"),
    Section("device_installs", "device_installs", f"device_id IN {_DEVICES}", "device_id"),
    Section("commissioning", "commissioning_sessions", f"gateway_id IN {_DEVICES}", "started_at, id"),
    Section("commissioning_results", "commissioning_results", f"device_id IN {_DEVICES}", "session_id, device_id"),
    Section("dead_letters", "dead_letters",
            f"device_id IN {_DEVICES} OR gateway_id IN {_DEVICES}", "received_at, id"),
    Section("alerts", "alerts", "resident_id = %(rid)s", "raised_at, id"),
    Section("alert_history", "alert_history",
            "alert_id IN (SELECT id FROM alerts WHERE resident_id = %(rid)s)", "at, id"),
    Section("escalations", "escalations",
            "alert_id IN (SELECT id FROM alerts WHERE resident_id = %(rid)s)", "alert_id"),
    Section("calls", "call_log", "resident_id = %(rid)s", "started_at, id"),
    Section("call_tasks", "call_tasks", "resident_id = %(rid)s", "due_date, id"),
    Section("rule_state", "rule_state", "resident_id = %(rid)s"),
    Section("visits", "visits", "resident_id = %(rid)s", "at, id"),
    Section("notes", "resident_notes", "resident_id = %(rid)s", "at, id"),
    Section("care_plan_history", "care_plan_history", "resident_id = %(rid)s", "at, id"),
    Section("audit", "audit_log", "%(rid)s = ANY(residents)", "at, id"),
    Section("erasure_log", "erasure_log", "resident_id = %(rid)s", "id"),
)
# Parts of the profile row the export also gives their own files (JSON documents inside `residents`).
PROFILE_PARTS = ("contacts", "care_plan")

EXCLUDED: dict[str, str] = {
    "event_keys": "de-duplication keys only (gateway id, message id, time, no content); pruned after 35 days",
    "event_rollup_hourly": "counts derived from the events, which are exported in full; erased with them",
    "device_rollup_daily": "last seen and battery derived from the events, which are exported in full; erased with them",
    "alert_trigger_keys": "replay keys of applied alert verdicts (resident id, alert type, event id or timer "
                          "deadline; no content): the alerts part's de-duplication, pruned after 8 days",
    "gateway_credentials": "the gateway's MQTT login (a mosquitto password hash): a security secret of the device, "
                           "not information about the person; deleted with the device registration (ON DELETE CASCADE)",
}


class KeptReason(StrEnum):
    """Why a row outlives an erasure (written to erasure_log.kept_reason)."""

    CARE_RECORD = "alert and its handling: kept for the service's legal retention of care records"
    CALL_RECORD = "call record: kept for the service's legal retention of care records"
    VISIT_RECORD = "home visit record: kept for the service's legal retention of care records (its note removed)"
    REFERENCED = "referenced by a kept call or alert record (free text removed)"
    PSEUDONYM = "pseudonymised resident: the kept alert and call records refer to it"
    AUDIT = "audit of access: append-only, kept for accountability (GDPR art. 5(2)) until audit retention"


KEPT_REASONS: dict[str, KeptReason] = {
    "residents": KeptReason.PSEUDONYM, "alerts": KeptReason.CARE_RECORD, "alert_history": KeptReason.CARE_RECORD,
    "escalations": KeptReason.REFERENCED, "call_log": KeptReason.CALL_RECORD, "call_tasks": KeptReason.REFERENCED,
    "audit_log": KeptReason.AUDIT, "visits": KeptReason.VISIT_RECORD,
}


def section(name: str) -> Section:
    """The section called `name` (KeyError otherwise)."""
    return next(s for s in SECTIONS if s.name == name)


def covered_tables() -> set[str]:
    """Tables exported or excluded with a reason."""
    return {s.table for s in SECTIONS} | set(EXCLUDED)
