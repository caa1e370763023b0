"""Import files are validated completely before anything is written; errors name the bad field's path."""
from __future__ import annotations

from datetime import date, time

import pytest

from devices.importer import parse_document, validate_document
from telecare.errors import InvalidInput
from telecare.people import RiskFlag

GOOD = """
residents:
  - id: r-1
    name: Montserrat Puig Soler
    date_of_birth: 1941-05-03
    phones: ["+34 93 123 45 67"]
    key_safe_code: "0123"
    risk_flags: [lives_alone]
    contacts:
      - {name: Laura Puig, phone: "+34600111222", relation: filla, key_holder: true}
    care_plan:
      night_start: 23:00
      dose_times: [09:00, 21:00]
      reablement: {calls_per_week: 2, until: 2026-12-31}
gateways:
  - {id: gw-1, resident_id: r-1}
devices:
  - {id: pd-1, type: pendant, gateway_id: gw-1}
"""


def _error(text: str, suffix: str = ".yaml") -> str:
    with pytest.raises(InvalidInput) as info:
        validate_document(parse_document(text, suffix))
    return str(info.value)


def test_a_good_file_becomes_records_and_unquoted_times_stay_times() -> None:
    fleet = validate_document(parse_document(GOOD, ".yaml"))
    r = fleet.residents[0].to_record()
    assert r.care_plan.night_start == time(23, 0)  # YAML 1.1 would have made 23:00 the number 1380
    assert r.care_plan.dose_times == (time(9, 0), time(21, 0))
    assert r.key_safe_code == "0123" and r.phones == ("+34931234567",)
    assert r.date_of_birth == date(1941, 5, 3) and r.risk_flags == frozenset({RiskFlag.LIVES_ALONE})
    assert r.key_holders[0].relation == "filla"


@pytest.mark.parametrize("patch, expected", [
    ("night_start: 23:00", "night_start: 25:00"),
    ("dose_times: [09:00, 21:00]", "dose_times: [09:00, 9am]"),
])
def test_bad_times_are_reported_with_their_path(patch: str, expected: str) -> None:
    message = _error(GOOD.replace(patch, expected))
    path = "residents[0].care_plan.night_start" if "night" in patch else "residents[0].care_plan.dose_times[1]"
    assert f"{path}: expected HH:MM" in message


def test_many_problems_are_reported_together_with_paths() -> None:
    text = GOOD + """
  - {id: md-1, type: toaster, gateway_id: gw-1}
  - {id: pd-1, type: pendant, gateway_id: gw-1}
"""
    text = text.replace("risk_flags: [lives_alone]", "risk_flags: [lonely]").replace('"+34600111222"', "call me")
    message = _error(text)
    assert "residents[0].risk_flags[0]:" in message
    assert "residents[0].contacts[0].phone:" in message
    assert "devices[1].type:" in message
    assert "call me" not in message  # personal input is not echoed


def test_duplicates_and_missing_gateway_are_refused() -> None:
    text = GOOD + ("  - {id: pd-1, type: pendant, gateway_id: gw-1}\n  - {id: fs-1, type: fall_sensor}\n"
                   "  - {id: gw-7, type: gateway, gateway_id: gw-1, resident_id: r-1}\n")
    message = _error(text)
    assert "devices[3].gateway_id: a gateway's gateway_id is its own id" in message
    assert "devices[1].id: duplicate of devices[0]" in message
    assert "devices[2].gateway_id: required for a fall_sensor" in message


def test_unknown_fields_and_wrong_shapes_are_refused() -> None:
    assert "residents[0].shoe_size:" in _error(GOOD.replace("name: Montserrat", "shoe_size: 38\n    name: Montserrat"))
    assert "mapping" in _error("- just\n- a list\n")
    assert "residents[0].timezone:" in _error(GOOD.replace("date_of_birth", "timezone: Mars/Olympus\n    date_of_birth"))


async def test_a_gateway_needs_a_resident() -> None:
    from devices.importer import resolve_devices

    fleet = validate_document(parse_document(GOOD + "  - {id: gw-2, type: gateway}\n", ".yaml"))

    class NoRegistry:  # everything the file refers to is in the file
        async def resident(self, _id):
            return None

        async def device(self, _id):
            return None

    with pytest.raises(InvalidInput, match=r"devices\[1\].resident_id: required for a gateway"):
        await resolve_devices(NoRegistry(), fleet)


def test_syntax_errors_give_the_line() -> None:
    assert "invalid YAML at line 4" in _error("residents:\n  - id: r-1\n    name: [unclosed\n")
    assert "invalid JSON at line 1" in _error('{"residents": [}', ".json")


def test_json_files_are_accepted() -> None:
    fleet = validate_document(parse_document('{"residents": [{"id": "r-9", "name": "Joan Vila"}]}', ".json"))
    assert fleet.residents[0].to_record().care_plan.bed_return_minutes == 30
