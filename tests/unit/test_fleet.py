"""The demo fleet, the day model and the demo script are deterministic and plausible."""
from __future__ import annotations

from collections import Counter
from datetime import date, datetime, time, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest

from demo.daylife import battery_level, plan_day
from demo.demo_script import demo_care_plan_overrides, demo_roles, demo_script
from demo.fleet import barcelona_fleet
from demo.simulator import MAX_HOMES, Simulator, encode
from telecare.clock import FakeClock
from telecare.events import DeviceType, EventType
from telecare.people import RiskFlag

TODAY = date(2026, 11, 22)
MADRID = ZoneInfo("Europe/Madrid")


def _age(dob: date, today: date) -> int:
    return today.year - dob.year - ((today.month, today.day) < (dob.month, dob.day))


def test_same_seed_same_fleet_other_seed_other_fleet() -> None:
    assert barcelona_fleet(40, seed=7, today=TODAY) == barcelona_fleet(40, seed=7, today=TODAY)
    assert barcelona_fleet(40, seed=8, today=TODAY)[0] != barcelona_fleet(40, seed=7, today=TODAY)[0]


def test_today_changes_only_birth_dates() -> None:
    a, da = barcelona_fleet(30, seed=7, today=TODAY)
    b, db = barcelona_fleet(30, seed=7, today=date(2027, 3, 1))
    assert da == db
    assert [r.id for r in a] == [r.id for r in b]
    assert [(r.name, r.address, r.phones) for r in a] == [(r.name, r.address, r.phones) for r in b]


@pytest.mark.parametrize("today", [TODAY, date(2028, 2, 29), date(2027, 2, 28), date(2026, 1, 1), date(2026, 12, 31)])
def test_exactly_one_birthday_and_ages_70_to_98(today: date) -> None:
    residents, _ = barcelona_fleet(300, seed=3, today=today)
    born_today = [r for r in residents if (r.date_of_birth.month, r.date_of_birth.day) == (today.month, today.day)]
    assert len(born_today) == 1
    assert all(70 <= _age(r.date_of_birth, today) <= 98 for r in residents)


def test_every_home_has_the_standard_devices_on_its_own_gateway() -> None:
    residents, devices = barcelona_fleet(20, seed=7, today=TODAY)
    by_resident: dict[str, list] = {}
    for d in devices:
        by_resident.setdefault(d.resident_id, []).append(d)
    assert set(by_resident) == {r.id for r in residents}
    for rid, homes in by_resident.items():
        types = Counter(d.type for d in homes)
        assert types == Counter({DeviceType.GATEWAY: 1, DeviceType.PENDANT: 1, DeviceType.FALL_SENSOR: 1,
                                 DeviceType.BED_SENSOR: 1, DeviceType.MEDICATION_DISPENSER: 1,
                                 DeviceType.MOTION_SENSOR: 1})
        gw = next(d for d in homes if d.type is DeviceType.GATEWAY)
        assert gw.id.startswith("gw-") and gw.gateway_id == gw.id
        assert all(d.gateway_id == gw.id for d in homes)
    assert len({d.id for d in devices}) == len(devices)


def test_people_look_like_barcelona() -> None:
    residents, _ = barcelona_fleet(400, seed=11, today=TODAY)
    for r in residents:
        assert 41.35 < r.latitude < 41.46 and 2.11 < r.longitude < 2.23
        assert r.address.endswith("Barcelona") and r.phones and all(p.startswith("+34") for p in r.phones)
        assert 1 <= len(r.contacts) <= 3 and r.key_holders
        assert r.key_safe_code and len(r.key_safe_code) == 4
        assert r.care_plan.dose_times and r.care_plan.team and r.care_plan.follow_up_level in (1, 2, 3)
    share = lambda flag: sum(flag in r.risk_flags for r in residents) / len(residents)  # noqa: E731
    assert 0.32 < share(RiskFlag.LIVES_ALONE) < 0.48
    assert 0.23 < share(RiskFlag.HEAT_VULNERABLE) < 0.37
    discharged = [r for r in residents if RiskFlag.RECENT_DISCHARGE in r.risk_flags]
    assert discharged and all(r.care_plan.reablement and r.care_plan.reablement.until > TODAY for r in discharged)


def test_a_day_at_home_is_ordered_local_and_plausible() -> None:
    residents, devices = barcelona_fleet(30, seed=7, today=TODAY)
    resident = next(r for r in residents if r.at_home)
    events = plan_day(resident, devices, TODAY, seed=7)
    assert events == plan_day(resident, devices, TODAY, seed=7)
    assert [e.at for e in events] == sorted(e.at for e in events)
    start = datetime.combine(TODAY, time(0), tzinfo=MADRID)
    assert all(start <= e.at < start + timedelta(days=1) for e in events)
    kinds = Counter(e.type for e in events)
    assert kinds[EventType.MOTION] > 10 and kinds[EventType.BED_EXIT] >= 1 and kinds[EventType.BED_RETURN] >= 1
    assert kinds[EventType.HEARTBEAT] == 5 * 4  # five sensors, every six hours
    # Bed exits at night are followed by a return within the care plan's allowed time.
    bed = [e for e in events if e.type in (EventType.BED_EXIT, EventType.BED_RETURN)]
    for exit_, back in zip(bed[:-2:2], bed[1:-1:2]):
        assert exit_.type is EventType.BED_EXIT and back.type is EventType.BED_RETURN
        assert back.at - exit_.at < resident.care_plan.bed_return_window


def test_doses_are_mostly_taken_on_time_over_many_days() -> None:
    residents, devices = barcelona_fleet(20, seed=5, today=TODAY)
    due = taken = 0
    for r in (r for r in residents if r.at_home):
        for k in range(10):
            events = plan_day(r, devices, TODAY + timedelta(days=k), seed=5)
            due += len(r.care_plan.dose_times)
            taken += sum(e.type is EventType.MEDICATION_TAKEN for e in events)
    assert 0.9 < taken / due < 1.0


def test_batteries_drain_slowly_and_gateways_have_none() -> None:
    _, devices = barcelona_fleet(5, seed=7, today=TODAY)
    at = datetime(2026, 11, 22, tzinfo=timezone.utc)
    for d in devices:
        level = battery_level(d, 7, at)
        if d.type is DeviceType.GATEWAY:
            assert level is None
        else:
            later = battery_level(d, 7, at + timedelta(days=1))
            assert 8 <= level <= 100
            assert 0 <= level - later <= 1 or later >= 95  # drained a little, or the battery was replaced


def test_overrides_put_one_night_window_and_one_dose_around_now() -> None:
    residents, _ = barcelona_fleet(10, seed=7, today=TODAY)
    now = datetime(2026, 11, 22, 11, 0, 30, tzinfo=timezone.utc)  # 12:00:30 in Madrid
    changed = demo_care_plan_overrides(residents, now)
    roles = demo_roles(residents)
    bed = next(r for r in changed if r.id == roles["bed"]).care_plan
    assert (bed.night_start, bed.night_end, bed.bed_return_minutes) == (time(11, 0), time(15, 0), 2)
    dose = next(r for r in changed if r.id == roles["dose"]).care_plan
    assert time(12, 2) in dose.dose_times and dose.dose_window_minutes == 2
    others = [(a, b) for a, b in zip(residents, changed) if a.id not in (roles["bed"], roles["dose"])]
    assert all(a == b for a, b in others)


def test_demo_script_shows_every_incident_kind_within_three_minutes_then_one_a_minute() -> None:
    residents, devices = barcelona_fleet(10, seed=7, today=TODAY)
    start = datetime(2026, 11, 22, 11, 0, tzinfo=timezone.utc)
    script = demo_script(residents, devices, start, seed=7)
    early = {e.type for e in script.events if e.at <= start + timedelta(minutes=3)}
    assert {EventType.FALL, EventType.HELP_BUTTON, EventType.MEDICATION_MISSED, EventType.LOW_BATTERY,
            EventType.BED_EXIT} <= early
    assert script.outages and script.outages[0].start <= start + timedelta(minutes=3)
    later = [e for e in script.events if start + timedelta(minutes=3) < e.at <= start + timedelta(hours=1)]
    later_outages = [o for o in script.outages if start + timedelta(minutes=3) < o.start <= start + timedelta(hours=1)]
    assert 40 <= len(later) + len(later_outages) <= 90


def test_simulated_time_runs_at_speed() -> None:
    residents, devices = barcelona_fleet(1, seed=7, today=TODAY)
    clock = FakeClock(datetime(2026, 11, 22, 11, 0, tzinfo=timezone.utc))
    sim = Simulator("mqtt://127.0.0.1:1", residents, devices, clock, speed=60)
    clock.advance(10)
    assert sim.sim_now() == datetime(2026, 11, 22, 11, 10, tzinfo=timezone.utc)


def test_one_simulator_process_caps_its_homes() -> None:
    residents, devices = barcelona_fleet(MAX_HOMES + 5, seed=7, today=TODAY)
    sim = Simulator("mqtt://127.0.0.1:1", residents, devices, FakeClock(datetime(2026, 11, 22, tzinfo=timezone.utc)))
    assert sim.resident_ids == [r.id for r in residents[:MAX_HOMES]]


def test_encode_follows_the_protocol() -> None:
    residents, devices = barcelona_fleet(2, seed=7, today=TODAY)
    e = plan_day(residents[0], devices, TODAY, seed=7)[0]
    topic, payload = encode(e, MADRID)
    assert topic == f"telecare/v1/{e.gateway_id}/{e.device_id}/{e.type.value}"
    import json
    body = json.loads(payload)
    assert datetime.fromisoformat(body["ts"]).utcoffset() == timedelta(hours=1)
    assert datetime.fromisoformat(body["ts"]) == e.at.replace(microsecond=e.at.microsecond // 1000 * 1000)
    assert body["msg_id"] and set(body) <= {"msg_id", "ts", "battery", "value"}
