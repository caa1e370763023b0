"""Which resident states need saving, and when: arming or firing at once, sliding times lazily."""
from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping
from datetime import datetime
from typing import Protocol

from rules.model import ResidentState
from rules.progress import ProgressStore, ProgressTracker
from rules.state import RuleStateStore
from telecare.errors import StoreError
from telecare.metrics import RULES_ERRORS

log = logging.getLogger(__name__)

# States per upsert statement. Each chunk is encoded on the event loop (~10 us a state), then the loop is free
# while the database writes it: small chunks keep a save of many states from stalling alarm evaluation.
SAVE_CHUNK = 500
# Changed states are saved together with the rules' progress through the events table at most this often:
# what a crash loses in between is replayed from the table at the next start. A state in which a timer
# fired is saved at the next tick, so a restart never fires that timer again.
SAVE_SECONDS = 5.0


class VerdictsSent(Protocol):
    """The outbox as the saver sees it: a point in the verdicts handed in, and a wait until they are sent."""

    def mark(self) -> int:
        """The point reached so far."""
        ...

    async def sent_through(self, mark: int) -> None:
        """Return once everything handed in before `mark` is sent."""
        ...


class StateSaver:
    """Tracks changed states and saves them with the rules' progress through the events table."""

    def __init__(self, states: RuleStateStore, progress: ProgressStore, outbox: VerdictsSent | None = None) -> None:
        self._states, self._progress_store, self._outbox = states, progress, outbox
        self.progress = ProgressTracker(None)
        self._dirty: set[str] = set()
        self._urgent = False
        self._saved_at: datetime | None = None
        self._lock = asyncio.Lock()  # one save at a time: a later save's progress must not pass an earlier's states
        self._background: asyncio.Task[int] | None = None

    @property
    def pending(self) -> int:
        """States waiting for the next save."""
        return len(self._dirty)

    def changed(self, rid: str, old: ResidentState | None, new: ResidentState) -> None:
        """Note a new state for a resident."""
        self._dirty.add(rid)
        if not self._urgent and fired_timer(old, new):
            self._urgent = True

    def due(self, now: datetime) -> bool:
        """True when a timer fired since the last save, or the save interval has passed."""
        return self._urgent or self._saved_at is None or (now - self._saved_at).total_seconds() >= SAVE_SECONDS

    @property
    def saving(self) -> list[asyncio.Task[int]]:
        """The save started by flush_soon(), while it runs."""
        return [self._background] if self._background is not None and not self._background.done() else []

    def flush_soon(self, states: Mapping[str, ResidentState], at: datetime) -> None:
        """Start a save in its own task (unless one is running), so the caller goes on evaluating."""
        if not self.saving:
            self._background = asyncio.create_task(self.flush(states, at), name="rules-save")
            self._background.add_done_callback(_save_ended)

    async def flush(self, states: Mapping[str, ResidentState], at: datetime) -> int:
        """Save changed states (batched), then the progress they cover. On a DB error keep them for next time."""
        async with self._lock:
            return await self._flush(states, at)

    async def _flush(self, states: Mapping[str, ResidentState], at: datetime) -> int:
        self._saved_at, self._urgent = at, False
        if not self._dirty:
            return 0
        ids, self._dirty = list(self._dirty), set()
        batch = [states[i] for i in ids]
        covered = self.progress.current()  # what these states include; events evaluated while we write do not
        sent = self._outbox.mark() if self._outbox is not None else 0
        try:
            if self._outbox is not None:
                # A state (a fired timer, an alarm seen) or progress saved before its verdicts reach the alert
                # store would, after a crash, never send them: replay re-evaluates from that state and sees
                # nothing new. So the states taken above wait until their events' verdicts are sent.
                await self._outbox.sent_through(sent)
            for start in range(0, len(batch), SAVE_CHUNK):
                await self._states.save_many(batch[start:start + SAVE_CHUNK], at)
                await asyncio.sleep(0)  # let events and ticks in between chunks
            # After the states it covers: a crash in between replays a few events, never skips one.
            if self.progress.current() == covered:
                progress = self.progress.take()  # None when nothing was evaluated since the last save
            else:
                progress = covered  # the newer events' states are dirty again: saved with their progress next time
            if progress is not None:
                await self._progress_store.save(progress, at)
        except BaseException as err:
            self._dirty.update(ids)
            self._urgent = True
            if not isinstance(err, StoreError):
                raise  # the outbox stopped (its owner reports FAILED) or we are cancelled: saved next time
            RULES_ERRORS.labels("state_store").inc()
            log.error("could not save rule state (%d residents): %s", len(ids), err)
            return 0
        return len(batch)


def _save_ended(task: asyncio.Task[int]) -> None:
    if not task.cancelled() and task.exception() is not None:  # its states stay dirty: the next save retries
        RULES_ERRORS.labels("state_store").inc()
        log.error("rule state save failed: %s", type(task.exception()).__name__)


def fired_timer(old: ResidentState | None, new: ResidentState) -> bool:
    """True when `new` has a fired timer that `old` did not have fired."""
    for key, timer in new.timers.items():
        if timer.fired:
            before = old.timers.get(key) if old is not None else None
            if before is None or not before.fired:
                return True
    return False
