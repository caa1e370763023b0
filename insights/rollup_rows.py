"""The rollups' row types and their pure definition over events (the SQL job computes the same rows)."""
from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime, timedelta, timezone

from telecare.events import Event, EventType

# Left out of the hourly rollup: a heartbeat says a device lives, not what the resident did.
HOURLY_SKIP: frozenset[EventType] = frozenset({EventType.HEARTBEAT})
# Types whose exact second matters to a plot (time out of bed; the night window): kept as offsets.
OFFSET_TYPES: frozenset[EventType] = frozenset({EventType.BED_EXIT, EventType.BED_RETURN, EventType.DOOR_OPEN})
MAX_OFFSETS = 500  # per resident, hour and type: far more than a bed or door produces
# The broker's will for a dead gateway: an event about the device, not a sign of life from it.
NOT_SEEN: frozenset[EventType] = frozenset({EventType.GATEWAY_OFFLINE})


@dataclass(frozen=True, slots=True)
class RollupRow:
    """One resident's events of one type in one UTC hour."""

    resident_id: str
    hour: datetime  # UTC, on the hour
    event_type: str
    count: int
    first_ts: datetime
    last_ts: datetime
    offsets: tuple[int, ...] = ()  # seconds into the hour, in time order (OFFSET_TYPES only)

    def instants(self) -> tuple[datetime, ...]:
        """The events' times (to the second) for an offsets type."""
        return tuple(self.hour + timedelta(seconds=s) for s in self.offsets)


@dataclass(frozen=True, slots=True)
class DeviceDay:
    """What one device reported on one UTC day."""

    resident_id: str
    device_id: str
    day: date
    events: int
    last_seen: datetime | None
    battery: int | None  # the day's last reported level
    min_battery: int | None


def hour_of(ts: datetime) -> datetime:
    """The UTC hour an instant falls in."""
    return ts.astimezone(timezone.utc).replace(minute=0, second=0, microsecond=0)


def rollup_events(events: Iterable[Event]) -> list[RollupRow]:
    """The hourly rollup rows of a set of events, sorted by (resident, hour, type)."""
    groups: dict[tuple[str, datetime, str], list[Event]] = defaultdict(list)
    for e in events:
        if e.type not in HOURLY_SKIP:
            groups[(e.resident_id, hour_of(e.ts), e.type.value)].append(e)
    out = []
    for (rid, hour, etype), evs in sorted(groups.items()):
        evs.sort(key=lambda e: (e.ts, str(e.id)))
        offsets = (tuple(int((e.ts - hour).total_seconds()) for e in evs)[:MAX_OFFSETS]
                   if EventType(etype) in OFFSET_TYPES else ())
        out.append(RollupRow(rid, hour, etype, len(evs), evs[0].ts, evs[-1].ts, offsets))
    return out


def device_days(events: Iterable[Event]) -> list[DeviceDay]:
    """The per-device daily rollup rows of a set of events, sorted by (resident, day, device)."""
    groups: dict[tuple[str, date, str], list[Event]] = defaultdict(list)
    for e in events:
        groups[(e.resident_id, e.ts.astimezone(timezone.utc).date(), e.device_id)].append(e)
    out = []
    for (rid, day, dev), evs in sorted(groups.items()):
        seen = [e.ts for e in evs if e.type not in NOT_SEEN]
        levels = sorted(((e.ts, e.battery) for e in evs if e.battery is not None), key=lambda p: p[0])
        out.append(DeviceDay(rid, dev, day, len(evs), max(seen) if seen else None,
                             levels[-1][1] if levels else None, min(b for _, b in levels) if levels else None))
    return out
