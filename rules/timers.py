"""When each resident's next timer is due: a heap with one live entry per resident (no entry per event).

Two lanes. Timers found already overdue when a host takes residents on (a restore after an outage, a first
start) go to the catch-up lane; everything scheduled while the host runs goes to the live lane, which is always
served first. A host that fires a limited number per batch (the Kafka host's TICK_BUDGET_S) then keeps the
timers coming due now on time while it works through the backlog of late ones: those are already minutes late,
and letting them go first would make every fresh deadline (a bed exit, a missed dose) late too.
"""
from __future__ import annotations

import heapq
from collections.abc import Iterator
from datetime import datetime


class DueTimes:
    """Residents by their earliest due time; later heap entries for a resident are stale and skipped."""

    def __init__(self) -> None:
        self._live: list[tuple[datetime, str]] = []
        self._late: list[tuple[datetime, str]] = []  # the catch-up lane: overdue when taken on
        self._scheduled: dict[str, datetime] = {}  # earliest heap entry per resident (in either lane)

    def schedule(self, rid: str, due: datetime | None, *, late: bool = False) -> None:
        """Keep the resident's entry at `due` if that is earlier than the one it has (None: nothing due);
        `late`: it was overdue when taken on (catch-up lane)."""
        if due is None:
            return
        current = self._scheduled.get(rid)
        if current is None or due < current:
            self._push(rid, due, late)

    def at(self, rid: str, now: datetime, *, late: bool = False) -> None:
        """Tick this resident at `now` whatever it had scheduled (e.g. its care plan changed)."""
        self._push(rid, now, late)

    def due(self, now: datetime) -> Iterator[str]:
        """Pop the residents due by `now`: the live lane's, then the catch-up lane's, each earliest first; entries
        scheduled while iterating are seen too (a live one before the next late one)."""
        while True:
            heap = self._live if self._live and self._live[0][0] <= now else self._late
            if not heap or heap[0][0] > now:
                return
            due, rid = heapq.heappop(heap)
            if self._scheduled.get(rid) != due:
                continue  # superseded by an earlier entry that was already handled
            del self._scheduled[rid]
            yield rid

    def earliest(self) -> datetime | None:
        """The earliest live due time (stale entries at the top are dropped), or None when nothing is scheduled."""
        tops = [heap[0][0] for heap in (self._live, self._late) if self._drop_stale(heap)]
        return min(tops) if tops else None

    def wait_s(self, now: datetime, longest: float) -> float:
        """Seconds from `now` until the earliest due time (<= 0: due already), at most `longest` (also when nothing
        is scheduled): how long a host may sleep or fetch before its next timer."""
        due = self.earliest()
        return longest if due is None else min(longest, (due - now).total_seconds())

    def late(self) -> int:
        """Entries (some may be stale) still waiting in the catch-up lane."""
        return len(self._late)

    def _drop_stale(self, heap: list[tuple[datetime, str]]) -> bool:
        while heap and self._scheduled.get(heap[0][1]) != heap[0][0]:
            heapq.heappop(heap)
        return bool(heap)

    def _push(self, rid: str, due: datetime, late: bool) -> None:
        self._scheduled[rid] = due
        heapq.heappush(self._late if late else self._live, (due, rid))
