"""Which resident states need saving, and when: arming or firing at once, sliding times lazily."""
from __future__ import annotations

import logging
from collections.abc import Mapping
from datetime import datetime

from rules.model import ResidentState
from rules.progress import ProgressStore, ProgressTracker
from rules.state import RuleStateStore
from telecare.errors import StoreError
from telecare.metrics import RULES_ERRORS
from telecare.store import Database

log = logging.getLogger(__name__)

SAVE_CHUNK = 2000  # states per upsert statement (keeps one jsonb parameter a few MB at most)
# A change that only slides deadlines or last-seen times (every heartbeat makes one) is saved at most this
# often: losing it in a crash costs nothing, since restart re-arms supervision from the restart. A change to
# which timers exist, a firing or an episode flag is saved at the next tick, so restarts never lose or repeat one.
SOFT_SAVE_SECONDS = 30.0


class StateSaver:
    """Tracks changed states and saves them with the rules' progress through the events table."""

    def __init__(self, db: Database) -> None:
        self.store = RuleStateStore(db)
        self.progress_store = ProgressStore(db)
        self.progress = ProgressTracker(None)
        self._dirty: set[str] = set()
        self._soft: set[str] = set()
        self._soft_saved_at: datetime | None = None

    @property
    def pending(self) -> int:
        """States waiting for the next save (sliding-only ones not counted)."""
        return len(self._dirty)

    def changed(self, rid: str, old: ResidentState | None, new: ResidentState) -> None:
        """Note a new state for a resident."""
        if old is not None and rid not in self._dirty and only_slides(old, new):
            self._soft.add(rid)
        else:
            self._dirty.add(rid)
            self._soft.discard(rid)

    def soft_due(self, now: datetime) -> bool:
        """True (once per interval) when sliding-only changes should be saved too."""
        if self._soft_saved_at is not None and (now - self._soft_saved_at).total_seconds() < SOFT_SAVE_SECONDS:
            return False
        self._soft_saved_at = now
        return True

    async def flush(self, states: Mapping[str, ResidentState], at: datetime, *, soft: bool = True) -> int:
        """Save changed states (batched), then the progress they cover. On a DB error keep them for next time."""
        if soft:
            self._dirty |= self._soft
            self._soft = set()
        if not self._dirty:
            return 0
        ids, self._dirty = list(self._dirty), set()
        batch = [states[i] for i in ids]
        try:
            for start in range(0, len(batch), SAVE_CHUNK):
                await self.store.save_many(batch[start:start + SAVE_CHUNK], at)
            # After the states it covers: a crash in between replays a few events, never skips one.
            progress = self.progress.take()
            if progress is not None:
                await self.progress_store.save(progress, at)
        except StoreError as err:
            self._dirty.update(ids)
            RULES_ERRORS.labels("state_store").inc()
            log.error("could not save rule state (%d residents): %s", len(ids), err)
            return 0
        return len(batch)


def only_slides(old: ResidentState, new: ResidentState) -> bool:
    """True when `new` differs from `old` only in last-seen times and the due times of the same live timers."""
    if (old.low_battery != new.low_battery or old.last_bed_return != new.last_bed_return
            or old.doses_planned_until != new.doses_planned_until or old.dose_plan != new.dose_plan
            or old.timers.keys() != new.timers.keys() or old.last_seen.keys() != new.last_seen.keys()):
        return False
    for key, timer in new.timers.items():
        before = old.timers[key]
        if timer is not before and (timer.fired or before.fired or timer.rule is not before.rule
                                    or timer.delayed != before.delayed):
            return False
    return True
