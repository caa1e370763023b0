"""Events stored but not evaluated: replayed at start, caught up once the bus is live and after every bus
gap (a reconnect), never evaluated twice."""
from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from datetime import datetime
from uuid import UUID

from rules.progress import REPLAY_MARGIN, Progress, ProgressStore, ProgressTracker, StoredEvents
from telecare.errors import StoreError
from telecare.events import Event
from telecare.metrics import RULES_ERRORS

log = logging.getLogger(__name__)

Evaluate = Callable[[Event], Awaitable[object]]
Skip = Callable[[Event], bool]
# A catch-up pass that cannot read the events table retries with this capped back-off (it must not give up).
RETRY_MIN_S, RETRY_MAX_S = 0.1, 2.0


class Replayer:
    """Keeps the ids evaluated from the table so their bus copies are skipped, and vice versa."""

    def __init__(self, progress: ProgressStore, events: StoredEvents, *, catch_up_after_s: float = 2.0) -> None:
        self._progress, self._events = progress, events
        self._catch_up_after_s = catch_up_after_s
        self._from_table: set[UUID] = set()
        # Ids evaluated since start, until the catch-up pass: a bus that starts listening only when we
        # subscribe (PostgreSQL NOTIFY) loses what was committed between the replay and that moment.
        self._since_start: set[UUID] | None = set()
        self._catch_up_from: datetime | None = None
        self._saved: Progress | None = None

    async def load(self, now: datetime) -> ProgressTracker:
        """At start: the saved progress, as the tracker to go on with."""
        self._saved = await self._progress.load()
        self._catch_up_from = now - REPLAY_MARGIN
        return ProgressTracker(self._saved)

    async def replay(self, tracker: ProgressTracker, evaluate: Evaluate) -> None:
        """At start, after load(): evaluate what was stored after the saved progress."""
        if self._saved is None:  # first start: nothing was promised before now
            return
        count = await self._evaluate_missing(self._saved.processed_through - REPLAY_MARGIN,
                                             tracker.already_done, evaluate)
        if count:
            log.warning("replayed %d stored events the rules had not evaluated before stopping", count)

    @property
    def caught_up(self) -> bool:
        """True once the catch-up pass after start has run."""
        return self._since_start is None

    def from_bus(self, event_id: UUID | None) -> bool:
        """Note an event arriving on the bus; False when it was already evaluated from the table."""
        if event_id in self._from_table:
            self._from_table.discard(event_id)
            return False
        if self._since_start is not None:
            self._since_start.add(event_id)
        return True

    def not_needed(self) -> None:
        """The bus kept everything published since we registered: no catch-up pass."""
        self._since_start = None

    async def catch_up(self, tracker: ProgressTracker, evaluate: Evaluate) -> None:
        """Once the subscription is surely live, evaluate events stored since start that the bus missed."""
        await asyncio.sleep(self._catch_up_after_s)
        if self._since_start is not None and self._catch_up_from is not None:
            done: set[UUID] = set()  # evaluated by this pass, kept across its retries
            count = await self._until_read(self._catch_up_from, lambda e: tracker.already_done(e) or e.id in done,
                                           evaluate, done, "start-up catch-up")
            if count:
                log.warning("caught up %d stored events the bus did not deliver at start", count)
        self._since_start = None
        await asyncio.sleep(self._catch_up_after_s)
        self._from_table.clear()  # their bus copies, if any, have arrived by now

    async def after_gap(self, tracker: ProgressTracker, evaluate: Evaluate) -> int:
        """The bus resumed after losing messages: evaluate, once, what was stored since the newest event evaluated.

        Call it before handling the next bus message: the starting point is taken now, then the pass
        retries until the table answers (a lost alert is worse than a late one).
        """
        current = tracker.current()
        since = current.processed_through - REPLAY_MARGIN if current is not None else self._catch_up_from
        if since is None:
            return 0
        recent = current.recent_ids if current is not None else frozenset()
        done: set[UUID] = set()  # evaluated by this pass, kept across its retries
        count = await self._until_read(since, lambda e: tracker.already_done(e) or str(e.id) in recent or e.id in done,
                                       evaluate, done, "catch-up after a bus gap")
        # Their bus copies (committed after the reconnect, queued behind this pass) are skipped meanwhile.
        asyncio.get_running_loop().call_later(self._catch_up_after_s, self._from_table.difference_update, done)
        if count:
            log.warning("caught up %d stored events the bus did not deliver during a gap", count)
        return count

    async def _until_read(self, since: datetime, skip: Skip, evaluate: Evaluate, done: set[UUID], what: str) -> int:
        """_evaluate_missing, retried with back-off until the table answers (a lost alert is worse than a late one)."""
        delay = RETRY_MIN_S
        while True:
            try:
                return await self._evaluate_missing(since, skip, evaluate, done)
            except StoreError as err:
                RULES_ERRORS.labels("catch_up").inc()
                log.error("%s could not read the events table (%s); retry in %.1fs", what, err, delay)
                await asyncio.sleep(delay)
                delay = min(delay * 2, RETRY_MAX_S)

    async def _evaluate_missing(self, since: datetime, skip: Skip, evaluate: Evaluate,
                                into: set[UUID] | None = None) -> int:
        count = 0
        async for event in self._events.events_after(since):
            if skip(event) or (self._since_start is not None and event.id in self._since_start):
                continue
            # Marked before awaiting: the bus may bring the same event meanwhile.
            self._from_table.add(event.id)
            if self._since_start is not None:
                self._since_start.add(event.id)
            if into is not None:
                into.add(event.id)
            await evaluate(event)
            count += 1
        return count
