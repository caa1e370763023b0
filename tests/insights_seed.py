"""Synthetic events for the insights tests: a resident's nights, doses, days and devices."""
from __future__ import annotations

import random
import uuid
from datetime import datetime, timedelta, timezone

from telecare.events import Event, EventType

T0 = datetime(2026, 3, 2, tzinfo=timezone.utc)  # a Monday
_DEVICE = {EventType.BED_EXIT: "bed-1", EventType.BED_RETURN: "bed-1", EventType.DOOR_OPEN: "door-1",
           EventType.MOTION: "motion-1", EventType.MEDICATION_TAKEN: "med-1", EventType.MEDICATION_MISSED: "med-1",
           EventType.HEARTBEAT: "motion-1", EventType.HELP_BUTTON: "pendant-1", EventType.LOW_BATTERY: "pendant-1"}


def event(resident_id: str, etype: EventType, ts: datetime, *, received_at: datetime | None = None,
          battery: int | None = None, device_id: str | None = None) -> Event:
    """One event as ingest would store it (received a second after it happened unless told)."""
    return Event(uuid.uuid4(), "gw-" + resident_id, device_id or f"{_DEVICE[etype]}-{resident_id}", resident_id,
                 etype, ts, received_at or ts + timedelta(seconds=1), uuid.uuid4().hex, battery)


def history(resident_id: str, days: int, seed: int = 1, start: datetime = T0) -> list[Event]:
    """`days` days of plausible life: night bed exits, doses at 9 and 21, motion by day, doors, heartbeats."""
    rnd = random.Random(seed)
    out: list[Event] = []
    for d in range(days):
        day = start + timedelta(days=d)
        for _ in range(rnd.randint(0, 3)):  # bed exits between 22:30 and 05:30 UTC, back within 1-50 min
            at = day + timedelta(hours=22, minutes=30) + timedelta(seconds=rnd.randint(0, 7 * 3600))
            out.append(event(resident_id, EventType.BED_EXIT, at))
            if rnd.random() < 0.9:
                out.append(event(resident_id, EventType.BED_RETURN, at + timedelta(seconds=rnd.randint(60, 3000))))
        for hour in (9, 21):
            taken = rnd.random() < 0.85
            out.append(event(resident_id, EventType.MEDICATION_TAKEN if taken else EventType.MEDICATION_MISSED,
                             day + timedelta(hours=hour, minutes=rnd.randint(0, 40))))
        for hour in range(7, 22):
            for _ in range(rnd.randint(0, 4)):
                out.append(event(resident_id, EventType.MOTION, day + timedelta(hours=hour, seconds=rnd.randint(0, 3599))))
        for _ in range(rnd.randint(0, 2)):
            out.append(event(resident_id, EventType.DOOR_OPEN, day + timedelta(seconds=rnd.randint(0, 86_399))))
        for hour in range(0, 24, 6):
            out.append(event(resident_id, EventType.HEARTBEAT, day + timedelta(hours=hour),
                             battery=max(5, 100 - d // 3 - rnd.randint(0, 2))))
    return out


EVENT_COLUMNS = ("id", "ts", "received_at", "gateway_id", "device_id", "resident_id", "type", "msg_id", "battery",
                 "value")


def event_row(e: Event) -> tuple:
    """The events table row of an event (for COPY)."""
    return (e.id, e.ts, e.received_at, e.gateway_id, e.device_id, e.resident_id, e.type.value, e.msg_id, e.battery,
            None)


async def store_events(db, events: list[Event]) -> None:
    """COPY events into the events table (the monthly partitions they need are made first)."""
    for month in sorted({(e.ts.year, e.ts.month) for e in events}):
        await db.execute("SELECT telecare_ensure_event_partitions(%s, 0)",
                         (datetime(month[0], month[1], 15, tzinfo=timezone.utc),))
    async with db.transaction() as tx:
        await tx.copy_rows("events", EVENT_COLUMNS, [event_row(e) for e in events])
