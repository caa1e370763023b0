"""How far the rules got through the events table (saved with the state, replayed from at start): the
tracker, the ProgressStore and StoredEvents protocols, their PostgreSQL adapters and in-memory fakes."""
from __future__ import annotations

from collections import deque
from collections.abc import AsyncIterator, Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Protocol
from uuid import UUID

from telecare.errors import StoreError
from telecare.events import Event, EventType
from telecare.store import Database

# Events reach the rules in about the order ingest received them, but batches from several ingest
# processes interleave; anything received within this margin before the watermark is checked by id.
REPLAY_MARGIN = timedelta(seconds=10)
REPLAY_PAGE = 5000


@dataclass(frozen=True, slots=True)
class Progress:
    processed_through: datetime
    recent_ids: frozenset[str]


class ProgressTracker:
    """In memory: the newest received_at evaluated, and the ids evaluated within the margin before it."""

    def __init__(self, saved: Progress | None) -> None:
        self._saved = saved
        self._high: datetime | None = saved.processed_through if saved else None
        self._recent: deque[tuple[datetime, str]] = deque()
        self._changed = False

    def already_done(self, event: Event) -> bool:
        """True when the saved progress says this event was evaluated before the restart."""
        saved = self._saved
        return saved is not None and (event.received_at < saved.processed_through - REPLAY_MARGIN
                                      or str(event.id) in saved.recent_ids)

    def seen(self, event: Event) -> None:
        """Record that an event was evaluated."""
        if self._high is None or event.received_at > self._high:
            self._high = event.received_at
        self._recent.append((event.received_at, str(event.id)))
        horizon = self._high - REPLAY_MARGIN
        while self._recent and self._recent[0][0] < horizon:
            self._recent.popleft()
        self._changed = True

    def current(self) -> Progress | None:
        """The progress so far, without marking it saved (where a catch-up after a bus gap starts)."""
        return Progress(self._high, frozenset(i for _, i in self._recent)) if self._high is not None else None

    def take(self) -> Progress | None:
        """The progress to save, or None when nothing was evaluated since the last call."""
        if not self._changed or self._high is None:
            return None
        self._changed = False
        return Progress(self._high, frozenset(i for _, i in self._recent))


class ProgressStore(Protocol):
    """Where the rules' progress is kept between runs."""

    async def load(self) -> Progress | None:
        """The saved progress, or None before the first save."""
        ...

    async def save(self, progress: Progress, now: datetime) -> None:
        """Replace the saved progress (StoreError when the store is down)."""
        ...


class StoredEvents(Protocol):
    """The replay reader: events ingest stored, which the bus may not have delivered."""

    def events_after(self, since: datetime) -> AsyncIterator[Event]:
        """Stored events received after `since`, oldest first."""
        ...


class PgProgressStore:
    """The rules_progress table's one writer."""

    def __init__(self, db: Database) -> None:
        self._db = db

    async def load(self) -> Progress | None:
        """The saved progress row, or None."""
        row = await self._db.fetchrow("SELECT processed_through, recent_ids FROM rules_progress WHERE id = 1")
        return Progress(row["processed_through"], frozenset(row["recent_ids"])) if row else None

    async def save(self, progress: Progress, now: datetime) -> None:
        """Upsert the one progress row (not durable, like the states it covers: rules/state.py)."""
        async with self._db.transaction(durable=False) as tx:
            await tx.execute(
                """INSERT INTO rules_progress (id, processed_through, recent_ids, updated_at) VALUES (1, %s, %s, %s)
                   ON CONFLICT (id) DO UPDATE SET processed_through = EXCLUDED.processed_through,
                          recent_ids = EXCLUDED.recent_ids, updated_at = EXCLUDED.updated_at""",
                (progress.processed_through, sorted(progress.recent_ids), now),
            )


class PgStoredEvents:
    """Reads the events table (ingest writes it) page by page."""

    def __init__(self, db: Database) -> None:
        self._db = db

    async def events_after(self, since: datetime) -> AsyncIterator[Event]:
        """Stored events received after `since`, oldest first, page by page."""
        after: tuple[datetime, UUID] | None = None
        while True:
            rows = await self._db.fetch(
                """SELECT id, ts, received_at, gateway_id, device_id, resident_id, type, msg_id, battery, value
                   FROM events WHERE received_at > %(since)s
                     AND (%(at)s::timestamptz IS NULL OR (received_at, id) > (%(at)s::timestamptz, %(id)s::uuid))
                   ORDER BY received_at, id LIMIT %(limit)s""",
                {"since": since, "at": after[0] if after else None, "id": after[1] if after else None,
                 "limit": REPLAY_PAGE},
            )
            for r in rows:
                yield Event(r["id"], r["gateway_id"], r["device_id"], r["resident_id"], EventType(r["type"]),
                            r["ts"], r["received_at"], r["msg_id"], r["battery"], r["value"])
            if len(rows) < REPLAY_PAGE:
                return
            after = (rows[-1]["received_at"], rows[-1]["id"])


class InMemoryProgressStore:
    """ProgressStore in memory, for orchestration tests; `failing` makes saves raise StoreError."""

    def __init__(self, saved: Progress | None = None) -> None:
        self.saved = saved
        self.failing = False

    async def load(self) -> Progress | None:
        """The saved progress, or None."""
        return self.saved

    async def save(self, progress: Progress, now: datetime) -> None:
        """Keep `progress` (or raise StoreError while `failing`)."""
        if self.failing:
            raise StoreError("rules progress store unavailable (fake)")
        self.saved = progress


class InMemoryStoredEvents:
    """StoredEvents over a list, for orchestration tests: `store()` what ingest would have written."""

    def __init__(self, events: Iterable[Event] = ()) -> None:
        self.events: list[Event] = list(events)

    def store(self, *events: Event) -> None:
        """Add events as ingest's sink would."""
        self.events.extend(events)

    async def events_after(self, since: datetime) -> AsyncIterator[Event]:
        """Stored events received after `since`, oldest first."""
        for event in sorted(self.events, key=lambda e: (e.received_at, str(e.id))):
            if event.received_at > since:
                yield event
