"""Pure model of a day at home: which sensor events a resident's devices send, from (resident, day, seed)."""
from __future__ import annotations

import random
import zlib
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta, timezone
from typing import Any
from zoneinfo import ZoneInfo

from telecare.events import DeviceType, EventType
from telecare.people import Device, Resident

SENSOR_HEARTBEAT = timedelta(hours=6)  # well inside the 25 h supervision interval
_EPOCH = datetime(2026, 1, 1, tzinfo=timezone.utc)
_BATTERY_POWERED = frozenset(DeviceType) - {DeviceType.GATEWAY}


@dataclass(frozen=True, slots=True)
class SimEvent:
    """One message a simulated device sends at `at` (aware UTC)."""

    at: datetime
    gateway_id: str
    device_id: str
    type: EventType
    value: Any = None
    battery: int | None = None


def stable_hash(*parts: object) -> int:
    """A hash that is the same in every process (unlike hash())."""
    return zlib.crc32(":".join(str(p) for p in parts).encode())


def battery_level(device: Device, seed: int, at: datetime) -> int | None:
    """Slow drain and replacement: 100 % down to 25 % over 200–400 days; ~2 % of devices are neglected to 8 %."""
    if device.type not in _BATTERY_POWERED:
        return None
    h = stable_hash(seed, device.id)
    cycle = 200 + h % 200
    floor = 8 if (h >> 16) % 50 == 0 else 25
    days = (at - _EPOCH).total_seconds() / 86400 + (h >> 8) % cycle
    return round(100 - (days % cycle) / cycle * (100 - floor))


def _local(day: date, t: time, tz: ZoneInfo) -> datetime:
    return datetime.combine(day, t, tzinfo=tz)


def _minutes(m: float) -> timedelta:
    return timedelta(minutes=m)


def plan_day(resident: Resident, devices: list[Device], day: date, seed: int) -> list[SimEvent]:
    """Every event of one local day (00:00–24:00 in the resident's zone), sorted by time."""
    tz = ZoneInfo(resident.timezone)
    rng = random.Random(f"{seed}:{resident.id}:{day.isoformat()}")
    by_type = {d.type: d for d in devices if d.resident_id == resident.id}
    day_start, day_end = _local(day, time(0), tz), _local(day + timedelta(days=1), time(0), tz)
    out: list[SimEvent] = []

    def emit(kind: DeviceType, event: EventType, at: datetime, value: Any = None) -> None:
        device = by_type.get(kind)
        if device is not None and day_start <= at < day_end:
            at_utc = at.astimezone(timezone.utc)
            out.append(SimEvent(at_utc, device.gateway_id, device.id, event, value,
                                battery_level(device, seed, at_utc)))

    for device in by_type.values():  # supervision heartbeats, staggered per device
        if device.type is DeviceType.GATEWAY:
            continue  # gateways beat every minute; the simulator sends those
        offset = _minutes(stable_hash(seed, device.id, "hb") % int(SENSOR_HEARTBEAT.total_seconds() // 60))
        at = day_start + offset
        while at < day_end:
            emit(device.type, EventType.HEARTBEAT, at)
            at += SENSOR_HEARTBEAT

    if resident.at_home:
        _activity(resident, day, tz, rng, emit)
    out.sort(key=lambda e: (e.at, e.device_id))
    return out


def _activity(resident: Resident, day: date, tz: ZoneInfo, rng: random.Random, emit) -> None:
    plan = resident.care_plan
    wake = _local(day, plan.night_end, tz) + _minutes(rng.uniform(10, 80))
    sleep = min(_local(day, plan.night_start, tz) + _minutes(rng.uniform(-45, 60)), _local(day, time(23, 55), tz))
    if sleep < wake + timedelta(hours=2):  # an unusual plan (e.g. a demo override): use ordinary hours
        wake = _local(day, time(7, 30), tz) + _minutes(rng.uniform(0, 60))
        sleep = _local(day, time(22, 30), tz) + _minutes(rng.uniform(-30, 60))
    # Night trips (toilet) before getting up, each back in bed well inside the allowed time.
    at = _local(day, time(0, 30), tz)
    for _ in range(rng.choice((0, 0, 1, 1, 2))):
        at += _minutes(rng.uniform(30, 180))
        if at >= wake - _minutes(20):
            break
        emit(DeviceType.BED_SENSOR, EventType.BED_EXIT, at)
        at += _minutes(rng.uniform(1, max(1.5, min(12, plan.bed_return_minutes * 0.5))))
        emit(DeviceType.BED_SENSOR, EventType.BED_RETURN, at)
    emit(DeviceType.BED_SENSOR, EventType.BED_EXIT, wake)
    at = wake + _minutes(rng.uniform(1, 5))
    rooms = ("kitchen", "living_room", "bathroom", "hall")
    while at < sleep:
        emit(DeviceType.MOTION_SENSOR, EventType.MOTION, at, {"room": rng.choice(rooms)})
        at += _minutes(rng.uniform(8, 45))
    emit(DeviceType.BED_SENSOR, EventType.BED_RETURN, sleep)
    for t in plan.dose_times:
        due, window, roll = _local(day, t, tz), plan.dose_window_minutes, rng.random()
        dose, dispenser = {"dose": f"{t.hour:02d}:{t.minute:02d}"}, DeviceType.MEDICATION_DISPENSER
        if roll < 0.87:
            emit(dispenser, EventType.MEDICATION_TAKEN, due + _minutes(rng.uniform(0, window * 0.25)), dose)
        elif roll < 0.97:  # late, still inside the window
            emit(dispenser, EventType.MEDICATION_TAKEN, due + _minutes(rng.uniform(0.4, 0.9) * window), dose)
        elif rng.random() < 0.5:  # missed; half the dispensers report it themselves
            emit(dispenser, EventType.MEDICATION_MISSED, due + _minutes(window * 0.95), dose)
    for _ in range(rng.choice((0, 1, 1, 2))):
        emit(DeviceType.DOOR_SENSOR, EventType.DOOR_OPEN, wake + (sleep - wake) * rng.random())
    if rng.random() < 0.003:
        emit(DeviceType.FALL_SENSOR, EventType.FALL, wake + (sleep - wake) * rng.random())
    if rng.random() < 0.005:
        emit(DeviceType.PENDANT, EventType.HELP_BUTTON, wake + (sleep - wake) * rng.random())
