"""Pure parts of the resident page: the search box's query, the timeline cursor, the care-plan edit and diff."""
from __future__ import annotations

from datetime import date, datetime, time, timedelta, timezone

import pytest

from dashboards.resident_directory import DirectoryFilter, prefix_query, where
from dashboards.resident_timeline import TimelineKind, after_cursor, decode_cursor, encode_cursor
from devices.care_plan import CarePlanEdit, apply_edit, diff, editable_fields
from telecare.errors import InvalidInput
from telecare.people import CarePlan, Contact, Reablement, Resident, RiskFlag

AT = datetime(2026, 11, 24, 9, 30, tzinfo=timezone.utc)


@pytest.mark.parametrize(("typed", "query"), [
    ("Montse", "montse:*"), ("puig  MONT", "puig:* & mont:*"), ("+34 600 111 222", "34600111222:*"),
    ("600-111-222", "600111222:*"), ("c/ Mallorca, 12", "c:* & mallorca:* & 12:*"), ("Núria", "núria:*"),
    ("res-0042", "res:* & 0042:*"), ("  ", None), ("%%!!", None), ("x'); DROP", "x:* & drop:*")])
def test_the_search_box_becomes_word_prefixes_or_a_phone_number(typed, query):
    assert prefix_query(typed) == query


def test_only_the_filters_in_use_reach_the_sql():
    assert where(DirectoryFilter()) == "true"
    sql = where(DirectoryFilter(q="x", teams=("A",), open_alerts=True, flag=RiskFlag.DEMENTIA))
    assert "to_tsquery" in sql and "IN (%(team_0)s)" in sql and "FROM alerts" in sql and "risk_flags" in sql
    assert "IN (NULL)" in where(DirectoryFilter(teams=()))  # a team role without teams sees nobody
    assert "NOT EXISTS" in where(DirectoryFilter(unreached=False))


def test_the_cursor_round_trips_and_orders_newest_first():
    key = (AT, TimelineKind.NOTE.value, 7)
    assert decode_cursor(encode_cursor(key)) == key
    assert decode_cursor(AT.isoformat()) == (AT, "", 0)
    assert after_cursor((AT, "alert", 99), key) and not after_cursor((AT, "visit", 1), key)
    assert after_cursor((AT - timedelta(seconds=1), "visit", 1), key)
    for bad in ("yesterday", "2026-11-24T09:30:00", f"{AT.isoformat()}~gossip~1", f"{AT.isoformat()}~note~x"):
        with pytest.raises(InvalidInput):
            decode_cursor(bad)


def _edit(**kw) -> CarePlanEdit:
    base = dict(follow_up_level=2, risk_flags=frozenset({RiskFlag.LIVES_ALONE}), night_start=time(22),
                night_end=time(7), dose_times=(time(21), time(9)), inactivity_hours=12.0, calling_start=time(10),
                calling_end=time(20), language="ca",
                contacts=(Contact("B", "+34600000002", key_holder=True, priority=9), Contact("A", "+34600000001")),
                reablement=Reablement(2, date(2026, 12, 31)))
    return CarePlanEdit(**{**base, **kw})


def test_an_edit_keeps_what_it_does_not_know_and_numbers_contacts_in_order():
    before = Resident("r1", "Rosa", care_plan=CarePlan(team="Nord", named_caller="Anna", quiet_days=(7,)))
    after = apply_edit(before, _edit())
    assert after.care_plan.team == "Nord" and after.care_plan.named_caller == "Anna"
    assert after.care_plan.quiet_days == (7,) and after.care_plan.dose_times == (time(9), time(21))
    assert [(c.name, c.priority) for c in after.contacts] == [("B", 1), ("A", 2)]
    assert [c.name for c in after.key_holders] == ["B"]
    changed = {c.field: (c.before, c.after) for c in diff(before, after)}
    assert set(changed) == {"risk_flags", "dose_times", "contacts", "reablement"}
    assert changed["dose_times"] == ([], ["09:00", "21:00"])
    assert diff(after, apply_edit(after, _edit())) == []
    assert editable_fields(after)["reablement"] == {"calls_per_week": 2, "until": "2026-12-31"}


@pytest.mark.parametrize("bad", [dict(follow_up_level=4), dict(inactivity_hours=0.5), dict(calling_start=time(21)),
                                 dict(night_end=time(22)), dict(dose_times=(time(9), time(9))), dict(language="fr"),
                                 dict(contacts=(Contact("A", "+346"), Contact("B", "+346")))])
def test_an_edit_the_rules_could_not_use_is_refused(bad):
    with pytest.raises(InvalidInput):
        apply_edit(Resident("r1", "Rosa"), _edit(**bad))
