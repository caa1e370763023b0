"""When a Kafka rules host may fire timers while it still has a backlog: never ahead of the events it has read.

After a worker outage (or a reassignment) the backlog holds the heartbeats and activity that arrived meanwhile.
Firing supervision or inactivity timers by the wall clock before reading them would raise an offline or
inactivity alarm for every home that was fine all along. So while a partition is behind (more than
CAUGHT_UP_RECORDS unread), timers fire only up to the arrival time of the last event evaluated from it; a
partition behind with nothing evaluated yet holds the timers back until its first batch. Caught up, the wall
clock rules again. Pure: a function of (now, backlogs, arrival times).
"""
from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime

CAUGHT_UP_RECORDS = 1_000  # unread records per partition still counted as live (a fraction of a second)


def timer_clock(now: datetime, backlog: Mapping[int, int | None], last_arrival: Mapping[int, datetime]) -> datetime | None:
    """The instant up to which timers may fire now, or None (hold them: a backlog not read at all yet)."""
    at = now
    for partition, unread in backlog.items():
        if unread is None or unread <= CAUGHT_UP_RECORDS:
            continue
        seen = last_arrival.get(partition)
        if seen is None:
            return None
        at = min(at, seen)
    return at
