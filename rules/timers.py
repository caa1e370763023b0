"""When each resident's next timer is due: a heap with one live entry per resident (no entry per event)."""
from __future__ import annotations

import heapq
from collections.abc import Iterator
from datetime import datetime


class DueTimes:
    """Residents by their earliest due time; later heap entries for a resident are stale and skipped."""

    def __init__(self) -> None:
        self._heap: list[tuple[datetime, str]] = []
        self._scheduled: dict[str, datetime] = {}  # earliest heap entry per resident

    def schedule(self, rid: str, due: datetime | None) -> None:
        """Keep the resident's entry at `due` if that is earlier than the one it has (None: nothing due)."""
        if due is None:
            return
        current = self._scheduled.get(rid)
        if current is None or due < current:
            self._push(rid, due)

    def at(self, rid: str, now: datetime) -> None:
        """Tick this resident at `now` whatever it had scheduled (e.g. its care plan changed)."""
        self._push(rid, now)

    def due(self, now: datetime) -> Iterator[str]:
        """Pop the residents due by `now`, earliest first; entries scheduled while iterating are seen too."""
        while self._heap and self._heap[0][0] <= now:
            due, rid = heapq.heappop(self._heap)
            if self._scheduled.get(rid) != due:
                continue  # superseded by an earlier entry that was already handled
            del self._scheduled[rid]
            yield rid

    def earliest(self) -> datetime | None:
        """The earliest live due time (stale entries at the top are dropped), or None when nothing is scheduled."""
        while self._heap and self._scheduled.get(self._heap[0][1]) != self._heap[0][0]:
            heapq.heappop(self._heap)
        return self._heap[0][0] if self._heap else None

    def _push(self, rid: str, due: datetime) -> None:
        self._scheduled[rid] = due
        heapq.heappush(self._heap, (due, rid))
