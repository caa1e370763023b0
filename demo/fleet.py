"""A deterministic demo fleet: Barcelona residents of 70–98 with homes full of sensors."""
from __future__ import annotations

import random
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from demo.demo_script import demo_care_plan_overrides  # noqa: F401 - part of this module's API
from demo.fleet_data import (
    CALLERS, DISTRICTS, DOSE_SCHEDULES, FEMALE, MALE, PREFIX, RELATIONS, RISK_SHARES, SURNAMES, YOUNGER,
)
from devices.records import parse_hhmm
from telecare.events import DeviceType
from telecare.people import CarePlan, Contact, Device, Reablement, Resident, RiskFlag

MADRID = ZoneInfo("Europe/Madrid")


def resident_id(i: int) -> str:
    return f"r-{i:04d}"


def device_id(kind: DeviceType, i: int) -> str:
    return f"{PREFIX[kind.value]}-{i:04d}"


def _phone(rng: random.Random, mobile: bool) -> str:
    if mobile:
        return f"+34{rng.choice('67')}{rng.randrange(10**7, 10**8):08d}"
    return f"+3493{rng.randrange(10**6, 10**7)}"


def _date_of_birth(i: int, seed: int, today: date, birthday: bool) -> date:
    """Age 70–98 today; exactly the chosen resident is born on today's month and day."""
    rng = random.Random(f"{seed}:dob:{i}")
    age = rng.randint(70, 98)
    if birthday:
        if (today.month, today.day) == (2, 29):
            age -= age % 4  # born in a leap year (1928–1956 are all ordinary leap years)
        return date(today.year - age, today.month, today.day)
    while True:
        dob = date(today.year - age, 1, 1) + timedelta(days=rng.randrange(365))
        if (dob.month, dob.day) in ((today.month, today.day), (2, 29)):
            continue
        if (dob.month, dob.day) > (today.month, today.day):  # no birthday yet this year
            dob = dob.replace(year=dob.year - 1)
        return dob


def _care_plan(rng: random.Random, flags: frozenset[RiskFlag], today: date, district: str) -> CarePlan:
    level = 1 if RiskFlag.DEMENTIA in flags or (RiskFlag.LIVES_ALONE in flags and rng.random() < 0.5) \
        else rng.choice((1, 2, 2, 2, 3, 3))
    late_sleeper = rng.random() < 0.2
    return CarePlan(
        night_start=time(23, 0) if late_sleeper else time(22, 0),
        night_end=time(8, 0) if late_sleeper else time(7, 0),
        dose_times=tuple(parse_hhmm(t) for t in rng.choice(DOSE_SCHEDULES)),
        calling_start=time(11, 0) if rng.random() < 0.15 else time(10, 0),
        calling_end=time(19, 0) if rng.random() < 0.15 else time(20, 0),
        quiet_days=(7,) if rng.random() < 0.1 else (),
        follow_up_level=level,
        reablement=Reablement(2, today + timedelta(days=rng.randint(7, 42)))
        if RiskFlag.RECENT_DISCHARGE in flags else None,
        team=f"Equip {district}",
        named_caller=rng.choice(CALLERS) if rng.random() < 0.6 else None,
    )


def _resident(i: int, seed: int, today: date, birthday: bool) -> Resident:
    rng = random.Random(f"{seed}:resident:{i}")  # per resident: `today` changes nothing but birth dates
    female = rng.random() < 0.7
    name = f"{rng.choice(FEMALE if female else MALE)} {rng.choice(SURNAMES)} {rng.choice(SURNAMES)}"
    district, postcodes, lat, lon, streets = rng.choice(DISTRICTS)
    address = (f"{rng.choice(streets)}, {rng.randint(1, 280)}, {rng.randint(1, 6)}r {rng.randint(1, 4)}a, "
               f"{rng.choice(postcodes)} Barcelona")
    flags = frozenset(RiskFlag(f) for f, share in RISK_SHARES if rng.random() < share)
    surname = name.split()[1]
    contacts, key_holder_seen = [], False
    for priority in range(1, rng.randint(1, 3) + 1):
        relation, may_hold_key = rng.choice(RELATIONS)
        holds = may_hold_key and rng.random() < 0.7
        key_holder_seen |= holds
        family = surname if relation.startswith(("fill", "nét")) else rng.choice(SURNAMES)
        contacts.append(Contact(f"{rng.choice(YOUNGER)} {family}", _phone(rng, True), relation, priority, holds))
    if not key_holder_seen:  # every home needs someone with a key
        c = contacts[0]
        contacts[0] = Contact(c.name, c.phone, c.relation, c.priority, True)
    phones = (_phone(rng, False),) + ((_phone(rng, True),) if rng.random() < 0.5 else ())
    return Resident(
        id=resident_id(i), name=name, timezone="Europe/Madrid",
        date_of_birth=_date_of_birth(i, seed, today, birthday), address=address,
        latitude=round(lat + rng.uniform(-0.006, 0.006), 6), longitude=round(lon + rng.uniform(-0.008, 0.008), 6),
        phones=phones, language="ca" if rng.random() < 0.6 else "es",
        key_safe_code=f"{rng.randrange(10000):04d}", at_home=rng.random() > 0.03,
        risk_flags=flags, contacts=tuple(contacts), care_plan=_care_plan(rng, flags, today, district),
    )


def home_devices(i: int) -> list[Device]:
    """The standard installation: gateway, pendant, fall, bed, medication dispenser and motion sensor."""
    rid, gw = resident_id(i), device_id(DeviceType.GATEWAY, i)
    kinds = (DeviceType.GATEWAY, DeviceType.PENDANT, DeviceType.FALL_SENSOR, DeviceType.BED_SENSOR,
             DeviceType.MEDICATION_DISPENSER, DeviceType.MOTION_SENSOR)
    return [Device(device_id(k, i), k, gw, rid) for k in kinds]


def barcelona_fleet(n: int, seed: int = 7, today: date | None = None) -> tuple[list[Resident], list[Device]]:
    """n residents and their devices, the same for the same (n, seed, today); ids r-0001, gw-0001, pd-0001…"""
    if n < 1:
        raise ValueError("a fleet needs at least one resident")
    if today is None:  # only birth dates depend on it; callers with a Clock should pass it
        today = datetime.now(MADRID).date()
    birthday = random.Random(f"{seed}:birthday").randrange(1, n + 1)
    residents = [_resident(i, seed, today, i == birthday) for i in range(1, n + 1)]
    devices = [d for i in range(1, n + 1) for d in home_devices(i)]
    return residents, devices
