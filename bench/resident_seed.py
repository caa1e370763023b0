"""Synthetic data for `telecare bench resident-page`: residents by COPY, a year of life for some of them
(events, their hourly and daily rollups, calls, alerts with history, visits, notes, care-plan changes)."""
from __future__ import annotations

import json
import random
import uuid
from datetime import datetime, timedelta
from typing import Any

from insights.rollup_rows import device_days, rollup_events
from telecare.events import Event, EventType
from telecare.store import Database

FIRST = ("Montserrat", "Núria", "Pere", "Jordi", "Carme", "Rosa", "Josep", "Maria", "Joan", "Teresa", "Dolors",
         "Antoni", "Mercè", "Francesc", "Pilar", "Enric", "Anna", "Lluís", "Isabel", "Ramon")
LAST = ("Puig", "Vila", "Ferrer", "Soler", "Serra", "Vidal", "Pons", "Font", "Roca", "Sala", "Prat", "Mas", "Riera",
        "Camps", "Bosch", "Costa", "Martí", "Pujol", "Garcia", "Torres")
STREETS = ("Carrer de Mallorca", "Carrer de Sants", "Passeig de Gràcia", "Carrer Gran de Sant Andreu",
           "Rambla del Poblenou", "Carrer de Balmes", "Via Augusta", "Carrer de Verdi")
FLAGS = ("lives_alone", "heat_vulnerable", "dementia", "reduced_mobility", "recent_discharge")
TEAMS = 40
RESIDENT_COLUMNS = ("id", "name", "address", "phones", "risk_flags", "contacts", "care_plan")
HOURLY_COLUMNS = ("resident_id", "hour", "event_type", "count", "first_ts", "last_ts", "offsets")
DAILY_COLUMNS = ("resident_id", "device_id", "day", "events", "last_seen", "battery", "min_battery")
EVENT_COLUMNS = ("id", "ts", "received_at", "gateway_id", "device_id", "resident_id", "type", "msg_id", "battery")


def resident_id(i: int) -> str:
    """The bench's resident ids: res-000000 …"""
    return f"res-{i:06d}"


def resident_rows(start: int, stop: int, seed: int = 3) -> list[tuple[Any, ...]]:
    """COPY rows for residents [start, stop) (COPY's text form: arrays as literals, jsonb as JSON text)."""
    rng = random.Random(f"{seed}:{start}")
    rows = []
    for i in range(start, stop):
        name = f"{rng.choice(FIRST)} {rng.choice(LAST)} {rng.choice(LAST)}"
        flags = [f for f in FLAGS if rng.random() < 0.15]
        plan = {"team": f"Equip {i % TEAMS:02d}", "follow_up_level": rng.choice((1, 2, 2, 3)),
                "dose_times": ["09:00", "21:00"]}
        contacts = [{"name": f"{rng.choice(FIRST)} {rng.choice(LAST)}", "phone": f"+3461{i:07d}", "relation": "child",
                     "priority": 1, "key_holder": True}]
        rows.append((resident_id(i), name, f"{rng.choice(STREETS)}, {rng.randint(1, 300)}, Barcelona",
                     f"{{+3460{i:07d}}}", "{" + ",".join(flags) + "}", json.dumps(contacts), json.dumps(plan)))
    return rows


def year_of_life(rid: str, start: datetime, days: int, seed: int) -> list[Event]:
    """Nights with bed exits, two doses a day, motion by day, doors, heartbeats every 6 h (UTC midnights)."""
    rng = random.Random(seed)
    out: list[Event] = []

    def ev(etype: EventType, ts: datetime, device: str, battery: int | None = None) -> None:
        out.append(Event(uuid.uuid4(), f"gw-{rid}", f"{device}-{rid}", rid, etype, ts, ts + timedelta(seconds=1),
                         uuid.uuid4().hex, battery))

    for d in range(days):
        day = start + timedelta(days=d)
        for _ in range(rng.randint(0, 3)):
            at = day + timedelta(hours=22, minutes=30, seconds=rng.randint(0, 7 * 3600))
            ev(EventType.BED_EXIT, at, "bed")
            ev(EventType.BED_RETURN, at + timedelta(seconds=rng.randint(60, 3000)), "bed")
        for hour in (9, 21):
            kind = EventType.MEDICATION_TAKEN if rng.random() < 0.85 else EventType.MEDICATION_MISSED
            ev(kind, day + timedelta(hours=hour, minutes=rng.randint(0, 40)), "med")
        for hour in range(7, 22):
            for _ in range(rng.randint(0, 4)):
                ev(EventType.MOTION, day + timedelta(hours=hour, seconds=rng.randint(0, 3599)), "motion")
        for _ in range(rng.randint(0, 2)):
            ev(EventType.DOOR_OPEN, day + timedelta(seconds=rng.randint(0, 86_399)), "door")
        for hour in range(0, 24, 6):
            ev(EventType.HEARTBEAT, day + timedelta(hours=hour), "motion", max(5, 100 - (d % 300) // 3))
    return out


async def store_life(db: Database, rid: str, events: list[Event], *, raw: bool) -> int:
    """COPY the rollup rows of these events (and the events themselves when `raw`); rows written."""
    hourly = [(r.resident_id, r.hour, r.event_type, r.count, r.first_ts, r.last_ts,
               "{" + ",".join(map(str, r.offsets)) + "}" if r.offsets else None) for r in rollup_events(events)]
    daily = [(d.resident_id, d.device_id, d.day, d.events, d.last_seen, d.battery, d.min_battery)
             for d in device_days(events)]
    async with db.transaction() as tx:
        await tx.copy_rows("event_rollup_hourly", HOURLY_COLUMNS, hourly)
        await tx.copy_rows("device_rollup_daily", DAILY_COLUMNS, daily)
        if raw:
            await tx.copy_rows("events", EVENT_COLUMNS, [
                (e.id, e.ts, e.received_at, e.gateway_id, e.device_id, e.resident_id, e.type.value, e.msg_id,
                 e.battery) for e in events])
    return len(hourly) + len(daily) + (len(events) if raw else 0)


async def store_record(db: Database, rid: str, start: datetime, days: int, seed: int) -> None:
    """A year of the shared record: calls every ~2 weeks, alerts with history, visits, notes, plan edits."""
    rng = random.Random(seed)
    await db.execute("""INSERT INTO devices (id, type, gateway_id, resident_id) VALUES
                        (%(g)s, 'gateway', %(g)s, %(r)s), (%(m)s, 'motion_sensor', %(g)s, %(r)s),
                        (%(b)s, 'bed_sensor', %(g)s, %(r)s)""",
                     {"g": f"gw-{rid}", "m": f"motion-{rid}", "b": f"bed-{rid}", "r": rid})
    calls, alerts, visits, notes, plans = [], [], [], [], []
    for d in range(0, days, 14):
        at = start + timedelta(days=d, hours=10, minutes=rng.randint(0, 300))
        calls.append((rid, "follow_up", "anna", "human", "+34600000000", at, at, rng.choice(("fine", "no_answer")),
                      "synthetic"))
    for d in range(0, days, 30):
        at = start + timedelta(days=d, hours=rng.randint(0, 23))
        alerts.append((rid, "fall", "critical", "resolved", at, at, at, "fall detected", at + timedelta(minutes=1),
                       "op", at + timedelta(minutes=20), "op", "false_alarm"))
        visits.append((rid, at + timedelta(days=3), "Carme", "routine", "seen_well", "", "carme", "provider", at))
        notes.append((rid, at + timedelta(days=5), "social", "municipal", "synthetic note"))
        plans.append((rid, at + timedelta(days=7), "cora", "provider", "calling_start", '"10:00"', '"11:00"'))
    async with db.transaction() as tx:
        await tx.executemany("""INSERT INTO call_log (resident_id, purpose, caller, mode, phone, started_at,
                                answered_at, outcome, note) VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s)""", calls)
        for a in alerts:
            aid = await tx.fetchval("""INSERT INTO alerts (resident_id, type, severity, status, raised_at,
                       first_event_at, last_event_at, reason, acknowledged_at, acknowledged_by, resolved_at,
                       resolved_by, outcome) VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)
                       RETURNING id""", a)
            await tx.executemany("INSERT INTO alert_history (alert_id, at, kind, actor, text) "
                                 "VALUES (%s, %s, %s, %s, %s)",
                                 [(aid, a[4], "raised", "system", "fall"), (aid, a[8], "acknowledged", "op", "taken"),
                                  (aid, a[10], "resolved", "op", "false alarm")])
        await tx.executemany("""INSERT INTO visits (resident_id, at, visitor, purpose, outcome, note, recorded_by,
                                organisation, recorded_at) VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s)""", visits)
        await tx.executemany("INSERT INTO resident_notes (resident_id, at, author, organisation, text) "
                             "VALUES (%s, %s, %s, %s, %s)", notes)
        await tx.executemany("""INSERT INTO care_plan_history (resident_id, at, changed_by, organisation, field,
                                before, after) VALUES (%s, %s, %s, %s, %s, %s::jsonb, %s::jsonb)""", plans)
