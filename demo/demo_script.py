"""The demo's incident script: visible incidents in the first minutes, then about one a minute (pure)."""
from __future__ import annotations

import math
import random
from dataclasses import dataclass, field, replace
from datetime import datetime, time, timedelta, timezone
from zoneinfo import ZoneInfo

from demo.daylife import SimEvent
from telecare.events import DeviceType, EventType
from telecare.people import Device, Resident

ROLES = ("fall", "help", "bed", "dose", "missed_report", "low_battery", "offline")
OUTAGE = timedelta(minutes=4)
SUPPRESS = timedelta(minutes=20)  # long enough for the bed and dose timers to run out


@dataclass(frozen=True, slots=True)
class GatewayOutage:
    """A gateway loses its connection at `start` (the broker publishes its will) and is back at `end`."""

    gateway_id: str
    start: datetime
    end: datetime


@dataclass(frozen=True, slots=True)
class Script:
    events: list[SimEvent]
    outages: list[GatewayOutage]
    # resident id -> (event types to hold back, until): the bed resident stays up, the dose is not taken
    suppress: dict[str, tuple[frozenset[EventType], datetime]] = field(default_factory=dict)


def demo_roles(residents: list[Resident]) -> dict[str, str]:
    """Role -> resident id, the same in every process for the same fleet (at-home residents by id)."""
    pool = sorted((r for r in residents if r.at_home), key=lambda r: r.id) or sorted(residents, key=lambda r: r.id)
    return {role: pool[i % len(pool)].id for i, role in enumerate(ROLES)}


def _hhmm_ceil(local: datetime) -> time:
    up = local.replace(second=0, microsecond=0) + timedelta(minutes=1 if local.second or local.microsecond else 0)
    return up.time()


def demo_care_plan_overrides(residents: list[Resident], now: datetime) -> list[Resident]:
    """One resident's night window covers `now` (2 min to return to bed); another has a dose due
    in 1–2 min with a 2 min window. Everyone else is unchanged."""
    roles = demo_roles(residents)
    out = []
    for r in residents:
        local = now.astimezone(ZoneInfo(r.timezone))
        plan = r.care_plan
        if r.id == roles["bed"]:
            plan = replace(plan, night_start=(local - timedelta(hours=1)).time().replace(second=0, microsecond=0),
                           night_end=(local + timedelta(hours=3)).time().replace(second=0, microsecond=0),
                           bed_return_minutes=2)
        if r.id == roles["dose"]:
            due = _hhmm_ceil(local + timedelta(minutes=1))
            plan = replace(plan, dose_times=tuple(sorted({*plan.dose_times, due})), dose_window_minutes=2)
        out.append(replace(r, care_plan=plan) if plan is not r.care_plan else r)
    return out


def demo_script(residents: list[Resident], devices: list[Device], start: datetime, seed: int,
                horizon: timedelta = timedelta(hours=24)) -> Script:
    """Incidents from `start`: fall, help, bed exit, missed-dose report, low battery, gateway outage
    within ~3 minutes, then roughly one a minute until `horizon`."""
    start = start.astimezone(timezone.utc)
    homes: dict[str, dict[DeviceType, Device]] = {}
    for d in devices:
        homes.setdefault(d.resident_id, {})[d.type] = d
    roles = demo_roles(residents)
    events: list[SimEvent] = []
    outages: list[GatewayOutage] = []

    def incident(kind: str, rid: str, at: datetime) -> None:
        home = homes.get(rid, {})
        sensor = {"fall": DeviceType.FALL_SENSOR, "help": DeviceType.PENDANT, "bed": DeviceType.BED_SENSOR,
                  "missed_report": DeviceType.MEDICATION_DISPENSER, "low_battery": DeviceType.PENDANT,
                  "offline": DeviceType.GATEWAY}[kind]
        device = home.get(sensor)
        if device is None:
            return
        if kind == "offline":
            outages.append(GatewayOutage(device.id, at, at + OUTAGE))
            motion = home.get(DeviceType.MOTION_SENSOR)
            if motion is not None:  # life goes on: the gateway keeps it and delivers it late
                events.append(SimEvent(at + timedelta(minutes=1), device.id, motion.id, EventType.MOTION,
                                       {"room": "hall"}))
            return
        event, value, battery = {
            "fall": (EventType.FALL, None, None),
            "help": (EventType.HELP_BUTTON, None, None),
            "bed": (EventType.BED_EXIT, None, None),
            "missed_report": (EventType.MEDICATION_MISSED, None, None),
            "low_battery": (EventType.LOW_BATTERY, None, 12),
        }[kind]
        events.append(SimEvent(at, device.gateway_id, device.id, event, value, battery))

    opening = (("help", 15), ("bed", 25), ("fall", 45), ("missed_report", 75), ("low_battery", 105), ("offline", 135))
    for kind, seconds in opening:
        incident(kind, roles[kind], start + timedelta(seconds=seconds))
    suppress = {roles["bed"]: (frozenset({EventType.BED_RETURN, EventType.BED_EXIT}), start + SUPPRESS),
                roles["dose"]: (frozenset({EventType.MEDICATION_TAKEN}), start + SUPPRESS)}

    rng = random.Random(f"{seed}:demo:{start.isoformat()}")
    pool = sorted(r.id for r in residents if r.at_home) or sorted(r.id for r in residents)
    kinds, weights = ("help", "fall", "missed_report", "low_battery", "offline"), (0.35, 0.25, 0.2, 0.15, 0.05)
    at = start + timedelta(minutes=3)
    steps = math.ceil(horizon / timedelta(minutes=1))
    for _ in range(steps):
        at += timedelta(seconds=rng.uniform(40, 80))
        if at >= start + horizon:
            break
        incident(rng.choices(kinds, weights)[0], rng.choice(pool), at)
    events.sort(key=lambda e: e.at)
    return Script(events, outages, suppress)
