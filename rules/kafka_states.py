"""The residents' rule states a Kafka rules host owns: packed at rest, unpacked on use, scheduled by their timers."""
from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from datetime import datetime

from rules.engine import new_state, next_due
from rules.model import ResidentState
from rules.packed import stored_next_due, unpack_state
from rules.timers import DueTimes

log = logging.getLogger(__name__)


class OwnedStates:
    """Resident id -> state (the engine's object, or the packed bytes last saved); which changed since the last
    save; and when each resident's next timer is due (`due`)."""

    def __init__(self) -> None:
        self._states: dict[str, ResidentState | bytes] = {}  # bytes: packed (restored, or saved since changed)
        self._dirty: set[str] = set()
        self.due = DueTimes()

    def __contains__(self, rid: str) -> bool:
        return rid in self._states

    def __len__(self) -> int:
        return len(self._states)

    def get(self, rid: str) -> ResidentState:
        """The resident's state, unpacked if it was at rest; a new one (to be saved) if it had none."""
        state = self._states.get(rid)
        if type(state) is bytes:
            state = self._states[rid] = self._unpacked(rid, state)
        if state is None:
            state = self._states[rid] = new_state(rid)
            self._dirty.add(rid)
        return state

    def held(self, rid: str) -> ResidentState | bytes | None:
        """What is held for the resident, as it is (tests: at rest or not)."""
        return self._states.get(rid)

    def put(self, rid: str, state: ResidentState) -> None:
        """The resident's new state (marked for the next save when it changed), scheduled by its next timer."""
        if self._states.get(rid) is not state:
            self._states[rid] = state
            self._dirty.add(rid)
        self.due.schedule(rid, next_due(state))

    def changed(self) -> dict[str, ResidentState]:
        """The states changed since the last call (what the next save writes); they count as saved from now on."""
        snapshot = {rid: self.get(rid) for rid in self._dirty if rid in self._states}
        self._dirty = set()
        return snapshot

    def at_rest(self, saved: Iterable[tuple[str, ResidentState, bytes]]) -> None:
        """Keep the saved bytes instead of a state not changed since (~700 bytes instead of ~3,000: 1M residents
        fit in 0.7 GiB); its next event or timer unpacks it again (~5 µs)."""
        states = self._states
        for rid, state, raw in saved:
            if states.get(rid) is state:
                states[rid] = raw

    def give_back(self, residents: Iterable[str]) -> None:
        """A save that failed: those residents (still held) are saved again next time."""
        self._dirty |= {rid for rid in residents if rid in self._states}

    def restore(self, rows: dict[str, bytes | None], without_state: Iterable[str], now: datetime) -> None:
        """Take on restored states, kept packed and scheduled by the next-due header each carries; overdue ones
        (an outage's) and residents without a state (a tick arms their timers) go to the catch-up lane."""
        # Unpacking a million states here would take ~7 s: each is unpacked when its first event or timer needs it.
        for rid, raw in rows.items():
            if raw is None:
                self._states.pop(rid, None)
                continue
            self._states[rid] = raw
            known, due = stored_next_due(raw)
            if not known:
                self.due.at(rid, now, late=True)  # stored before the header: a tick finds out
            else:
                self.due.schedule(rid, due, late=due is not None and due <= now)
        for rid in without_state:
            self.due.at(rid, now, late=True)

    def forget(self, gone: Callable[[str], bool]) -> None:
        """Drop the residents `gone` says are no longer owned (their partitions were revoked)."""
        for rid in [rid for rid in self._states if gone(rid)]:
            del self._states[rid]
        self._dirty = {rid for rid in self._dirty if rid in self._states}

    def _unpacked(self, rid: str, raw: bytes) -> ResidentState:
        try:
            return unpack_state(raw)
        except (KeyError, TypeError, ValueError) as err:  # start it afresh: its timers are armed again by a tick
            log.error("unreadable rule state for resident %s: %s; started afresh", rid, type(err).__name__)
            self._dirty.add(rid)
            return new_state(rid)
