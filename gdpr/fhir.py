"""Pure mapping of an export to a FHIR R4 Bundle (type collection): Patient, RelatedPerson, Device,
Observation, Flag, Communication; every reference points at a resource inside the bundle."""
from __future__ import annotations

import hashlib
import json
import re
from datetime import date, datetime
from typing import Any

from gdpr.export_queries import ExportData

CODES = "https://telecare.example.org/fhir/CodeSystem"  # our own vocabularies (event, alert and flag types)
NOT_DONE = "http://terminology.hl7.org/CodeSystem/communication-not-done-reason"
_ID_OK = re.compile(r"^[A-Za-z0-9\-.]{1,64}$")
OPEN_ALERT = frozenset({"open", "acknowledged"})


def fhir_id(raw: Any) -> str:
    """A valid FHIR id for one of our keys: itself when allowed, else a stable digest."""
    text = str(raw)
    return text if _ID_OK.match(text) else hashlib.sha256(text.encode()).hexdigest()[:40]


def _iso(value: Any) -> str | None:
    return value.isoformat() if isinstance(value, (datetime, date)) else None


def _entry(resource: dict[str, Any]) -> dict[str, Any]:
    return {"fullUrl": f"{resource['resourceType']}/{resource['id']}", "resource": resource}


def _concept(kind: str, code: str) -> dict[str, Any]:
    return {"coding": [{"system": f"{CODES}/{kind}", "code": code}], "text": code.replace("_", " ")}


def patient(p: dict[str, Any]) -> dict[str, Any]:
    """The resident as a Patient."""
    res: dict[str, Any] = {"resourceType": "Patient", "id": fhir_id(p["id"]),
                           "identifier": [{"system": f"{CODES}/resident-id", "value": str(p["id"])}],
                           "name": [{"text": p["name"]}],
                           "telecom": [{"system": "phone", "value": ph, "rank": i + 1}
                                       for i, ph in enumerate(p.get("phones") or [])],
                           "communication": [{"language": {"coding": [{"system": "urn:ietf:bcp:47",
                                                                        "code": p.get("language") or "ca"}]}}]}
    if p.get("address"):
        res["address"] = [{"text": p["address"]}]
    if p.get("date_of_birth"):
        res["birthDate"] = p["date_of_birth"].isoformat()
    if not res["telecom"]:
        del res["telecom"]
    return res


def related_persons(patient_ref: str, contacts: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Contacts and key-holders as RelatedPerson resources."""
    out = []
    for i, c in enumerate(contacts, start=1):
        rel = [{"text": c.get("relation") or "contact"}]
        if c.get("key_holder"):
            rel.append(_concept("contact-role", "key_holder"))
        res = {"resourceType": "RelatedPerson", "id": f"contact-{i}", "patient": {"reference": patient_ref},
               "relationship": rel, "name": [{"text": c.get("name", "")}]}
        if c.get("phone"):
            res["telecom"] = [{"system": "phone", "value": c["phone"], "rank": int(c.get("priority") or i)}]
        out.append(res)
    return out


def devices(patient_ref: str, rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Gateways and sensors as Device resources (a sensor's parent is its gateway)."""
    ids = {r["id"] for r in rows}
    out = []
    for r in rows:
        res: dict[str, Any] = {"resourceType": "Device", "id": fhir_id(r["id"]), "patient": {"reference": patient_ref},
                               "identifier": [{"system": f"{CODES}/device-id", "value": r["id"]}],
                               "type": _concept("device-type", r["type"])}
        if r["gateway_id"] != r["id"] and r["gateway_id"] in ids:
            res["parent"] = {"reference": f"Device/{fhir_id(r['gateway_id'])}"}
        out.append(res)
    return out


def observations(patient_ref: str, rows: list[dict[str, Any]], device_ids: set[str]) -> list[dict[str, Any]]:
    """Sensor events as Observation resources."""
    out = []
    for r in rows:
        res: dict[str, Any] = {"resourceType": "Observation", "id": fhir_id(r["id"]), "status": "final",
                               "code": _concept("event-type", r["type"]), "subject": {"reference": patient_ref},
                               "effectiveDateTime": _iso(r["ts"]), "issued": _iso(r["received_at"])}
        if r["device_id"] in device_ids:
            res["device"] = {"reference": f"Device/{fhir_id(r['device_id'])}"}
        if r.get("value") is not None:
            res["valueString"] = json.dumps(r["value"], ensure_ascii=False, sort_keys=True)
        if r.get("battery") is not None:
            res["component"] = [{"code": _concept("event-component", "battery_percent"),
                                 "valueQuantity": {"value": r["battery"], "unit": "%",
                                                   "system": "http://unitsofmeasure.org", "code": "%"}}]
        out.append(res)
    return out


def flags(patient_ref: str, risk_flags: list[str], alerts: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Risk flags, and alerts still open, as Flag resources."""
    out = [{"resourceType": "Flag", "id": fhir_id(f"risk-{f.replace('_', '-')}"), "status": "active",
            "category": [_concept("flag-category", "risk")], "code": _concept("risk-flag", f),
            "subject": {"reference": patient_ref}} for f in sorted(risk_flags)]
    for a in alerts:
        if a["status"] in OPEN_ALERT:
            out.append({"resourceType": "Flag", "id": f"alert-{a['id']}", "status": "active",
                        "category": [_concept("flag-category", f"alert_{a['severity']}")],
                        "code": _concept("alert-type", a["type"]), "subject": {"reference": patient_ref},
                        "period": {"start": _iso(a["raised_at"])}})
    return out


def communications(patient_ref: str, calls: list[dict[str, Any]], phone_refs: dict[str, str]) -> list[dict[str, Any]]:
    """Calls as Communication resources; unreached ones are not-done with their FHIR reason."""
    out = []
    for c in calls:
        done = c.get("answered_at") is not None and not c.get("not_done_reason")
        res: dict[str, Any] = {"resourceType": "Communication", "id": f"call-{c['id']}",
                               "status": "completed" if done else ("not-done" if c.get("ended_at") else "in-progress"),
                               "category": [_concept("call-purpose", c["purpose"])],
                               "medium": [{"coding": [{"system": "http://terminology.hl7.org/CodeSystem/v3-ParticipationMode",
                                                       "code": "PHONE"}]}],
                               "subject": {"reference": patient_ref},
                               "recipient": [{"reference": phone_refs.get(c.get("phone") or "", patient_ref)}],
                               "sent": _iso(c["started_at"])}
        if c.get("not_done_reason"):
            res["statusReason"] = {"coding": [{"system": NOT_DONE, "code": c["not_done_reason"]}]}
        if c.get("ended_at"):
            res["received"] = _iso(c["ended_at"])
        if c.get("note"):
            res["payload"] = [{"contentString": c["note"]}]
        out.append(res)
    return out


def bundle(data: ExportData) -> dict[str, Any]:
    """The whole export as one FHIR R4 Bundle of type collection."""
    p = data.profile
    pat = patient(p)
    ref = f"Patient/{pat['id']}"
    people = related_persons(ref, data.sections["contacts"])
    phone_refs = {ph: ref for ph in p.get("phones") or []}
    phone_refs.update({c["phone"]: f"RelatedPerson/{r['id']}" for c, r in zip(data.sections["contacts"], people)
                       if c.get("phone")})
    devs = devices(ref, data.sections["devices"])
    resources = [pat, *people, *devs,
                 *observations(ref, data.sections["events"], {r["id"] for r in data.sections["devices"]}),
                 *flags(ref, list(p.get("risk_flags") or []), data.sections["alerts"]),
                 *communications(ref, data.sections["calls"], phone_refs)]
    return {"resourceType": "Bundle", "id": fhir_id(f"export-{p['id']}-{int(data.generated_at.timestamp())}"),
            "type": "collection", "timestamp": data.generated_at.isoformat(),
            "entry": [_entry(r) for r in resources]}
