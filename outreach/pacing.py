"""Call pacing (pure): when may the next call start without exceeding calls-per-second or concurrent calls."""
from __future__ import annotations

import math
from bisect import bisect_left
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class PaceLimits:
    """Provider limits. `margin_s` widens the window a little to absorb network jitter on the way to the provider."""

    cps: float
    max_concurrent: int
    margin_s: float = 0.0

    def __post_init__(self) -> None:
        if not self.cps > 0:
            raise ValueError("calls per second must be positive")
        if self.max_concurrent < 1:
            raise ValueError("max concurrent calls must be at least 1")
        if self.margin_s < 0:
            raise ValueError("margin must not be negative")

    @property
    def window_s(self) -> float:
        """The window the limit applies to: one second, or 1/cps when fewer than one call a second is allowed."""
        return max(1.0, 1.0 / self.cps)

    @property
    def per_window(self) -> int:
        """Calls allowed in any one window (a fractional CPS rounds down: never above the configured rate)."""
        return max(1, math.floor(self.cps * self.window_s + 1e-9))


class Pacer:
    """Evenly spaced start slots plus a sliding-window guard. Times are float seconds passed in; no clock, no I/O.

    The slots keep calls smooth (no burst to the provider). The guard lets call k+n start only a window after
    call k was *acknowledged* by the provider: its request arrived somewhere between its start and that
    acknowledgement, so no window ever holds more than n arrivals, whatever the jitter on the way.
    """

    def __init__(self, limits: PaceLimits) -> None:
        self.limits = limits
        self._window = limits.window_s + limits.margin_s
        self._n = limits.per_window
        self._spacing = self._window / self._n
        self._recent: deque[list[float | None]] = deque(maxlen=self._n)  # [start, acknowledged]
        self._in_flight: dict[int, list[float | None]] = {}
        self._tickets = 0
        self._next_slot: float | None = None

    def next_start(self, now: float, active: int) -> float | None:
        """Earliest time (>= now) the next call may start; None while the concurrent limit is reached or the
        call n places back is still waiting for the provider's answer."""
        if active >= self.limits.max_concurrent:
            return None
        earliest = now if self._next_slot is None else max(now, self._next_slot)
        if len(self._recent) >= self._n:
            acknowledged = self._recent[0][1]
            if acknowledged is None:
                return None
            earliest = max(earliest, acknowledged + self._window)
        return earliest

    def record_start(self, at: float, *, pending: bool = False) -> int:
        """Note a call started at `at` (only at or after `next_start`); return its ticket.

        With `pending`, the call counts as in flight until `record_sent(ticket, at)`; otherwise it is
        acknowledged at once.
        """
        slot = self._next_slot
        # Late by more than a window (idle, or a slow provider): restart the grid instead of bursting to catch up.
        if slot is None or at < slot or at - slot > self._window:
            slot = at
        self._next_slot = slot + self._spacing
        self._tickets += 1
        entry: list[float | None] = [at, None if pending else at]
        self._recent.append(entry)
        if pending:
            self._in_flight[self._tickets] = entry
        return self._tickets

    def record_sent(self, ticket: int, at: float) -> None:
        """The provider answered the request of this ticket at `at` (accepted or refused)."""
        entry = self._in_flight.pop(ticket, None)
        if entry is not None:
            entry[1] = at

    def expire(self, now: float, after_s: float) -> int:
        """Count requests unanswered for `after_s` as answered now, so a hung request cannot stall all calls."""
        stale = [t for t, entry in self._in_flight.items() if entry[0] is not None and entry[0] <= now - after_s]
        for ticket in stale:
            self.record_sent(ticket, now)
        return len(stale)


def max_in_window(times: Sequence[float], window_s: float = 1.0) -> int:
    """The most starts found in any half-open window [t, t + window_s) — what "calls per second" is measured by."""
    ordered = sorted(times)
    best = 0
    for i, t in enumerate(ordered):
        # Windows that matter start at a call; count calls in [t, t + window).
        j = bisect_left(ordered, t + window_s, lo=i)
        best = max(best, j - i)
    return best
