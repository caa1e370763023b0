"""The export's FHIR mapping (pure): resource types, valid ids, references that resolve inside the bundle."""
from __future__ import annotations

import re
from collections import Counter
from datetime import date, datetime, timezone
from typing import Any
from uuid import UUID

from gdpr import archive, fhir
from gdpr.export_queries import ExportData

T0 = datetime(2026, 11, 22, 9, 0, tzinfo=timezone.utc)
_ID = re.compile(r"^[A-Za-z0-9\-.]{1,64}$")


def _references(node: Any) -> list[str]:
    if isinstance(node, dict):
        found = [node["reference"]] if isinstance(node.get("reference"), str) else []
        return found + [r for v in node.values() for r in _references(v)]
    if isinstance(node, list):
        return [r for v in node for r in _references(v)]
    return []


def assert_valid_bundle(bundle: dict[str, Any]) -> Counter:
    """Structure checks (and fhir.resources' R4B models, close enough to R4 for these types); counts per type."""
    assert bundle["resourceType"] == "Bundle" and bundle["type"] == "collection" and bundle["timestamp"]
    keys = set()
    for entry in bundle["entry"]:
        res = entry["resource"]
        assert _ID.match(res["id"]), res["id"]
        key = f"{res['resourceType']}/{res['id']}"
        assert entry["fullUrl"] == key and key not in keys, key
        keys.add(key)
    dangling = {r for r in _references(bundle) if r not in keys}
    assert not dangling, f"references outside the bundle: {dangling}"
    from fhir.resources.R4B.bundle import Bundle

    Bundle.model_validate(bundle)  # raises on a wrong field, type or cardinality
    return Counter(e["resource"]["resourceType"] for e in bundle["entry"])


def data(**changes: Any) -> ExportData:
    profile = {"id": "r_1 (old)", "name": "Rosa Vila", "date_of_birth": date(1940, 1, 2), "address": "Carrer Nou 3",
               "phones": ["+34600000001"], "language": "ca", "risk_flags": ["heat_vulnerable"], "key_safe_code": "1"}
    sections: dict[str, list[dict[str, Any]]] = {
        "profile": [profile],
        "contacts": [{"name": "Marta", "phone": "+34600000002", "relation": "niece", "priority": 1, "key_holder": True}],
        "care_plan": [{}],
        "devices": [{"id": "gw", "type": "gateway", "gateway_id": "gw", "resident_id": "r_1 (old)"},
                    {"id": "pendant_1", "type": "pendant", "gateway_id": "gw", "resident_id": "r_1 (old)"}],
        "events": [{"id": UUID(int=1), "ts": T0, "received_at": T0, "device_id": "pendant_1", "type": "help_button",
                    "battery": 55, "value": {"x": 1}},
                   {"id": UUID(int=2), "ts": T0, "received_at": T0, "device_id": "gone", "type": "motion",
                    "battery": None, "value": None}],
        "alerts": [{"id": 7, "status": "open", "severity": "critical", "type": "help_button", "raised_at": T0},
                   {"id": 8, "status": "resolved", "severity": "high", "type": "fall", "raised_at": T0}],
        "calls": [{"id": 1, "purpose": "follow_up", "phone": "+34600000002", "started_at": T0, "answered_at": None,
                   "ended_at": T0, "not_done_reason": "recipient-unavailable", "note": None},
                  {"id": 2, "purpose": "birthday", "phone": "+34600000001", "started_at": T0, "answered_at": T0,
                   "ended_at": T0, "not_done_reason": None, "note": "=sum(1)"}],
    }
    sections.update(changes)
    return ExportData("r_1 (old)", T0, sections)


def test_resources_and_references():
    bundle = fhir.bundle(data())
    counts = assert_valid_bundle(bundle)
    assert counts == Counter({"Patient": 1, "RelatedPerson": 1, "Device": 2, "Observation": 2, "Flag": 2,
                              "Communication": 2})
    by_type = {}
    for e in bundle["entry"]:
        by_type.setdefault(e["resource"]["resourceType"], []).append(e["resource"])
    patient = by_type["Patient"][0]
    assert patient["id"] != "r_1 (old)" and patient["identifier"][0]["value"] == "r_1 (old)"  # invalid id: digest
    assert patient["birthDate"] == "1940-01-02" and patient["name"][0]["text"] == "Rosa Vila"
    pendant = next(d for d in by_type["Device"] if d["identifier"][0]["value"] == "pendant_1")
    assert pendant["parent"]["reference"].startswith("Device/")
    obs = by_type["Observation"]
    assert obs[0]["device"] and "device" not in obs[1]  # a device no longer registered is not referenced
    assert obs[0]["component"][0]["valueQuantity"]["value"] == 55
    flags = {f["code"]["coding"][0]["code"] for f in by_type["Flag"]}
    assert flags == {"heat_vulnerable", "help_button"}  # the resolved fall is no flag
    failed, answered = by_type["Communication"]
    assert failed["status"] == "not-done" and failed["statusReason"]["coding"][0] == {
        "system": fhir.NOT_DONE, "code": "recipient-unavailable"}
    assert failed["recipient"][0]["reference"] == "RelatedPerson/contact-1"
    assert answered["status"] == "completed" and answered["recipient"][0]["reference"].startswith("Patient/")


def test_an_empty_record_is_still_a_valid_bundle():
    empty = data(contacts=[], devices=[], events=[], alerts=[], calls=[],
                 profile=[{"id": "r2", "name": "X", "phones": [], "risk_flags": []}])
    assert assert_valid_bundle(fhir.bundle(empty)) == Counter({"Patient": 1})


def test_csv_cells_are_formula_safe_and_nested_values_json():
    text = archive.csv_text([{"a": "=cmd()", "b": {"k": [1]}, "c": None, "d": b"\x00\xff"}])
    assert "'=cmd()" in text and '"{""k"": [1]}"' in text
    assert archive.jsonable(b"hi") == {"base64": "aGk=", "text": "hi"}
