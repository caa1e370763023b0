"""Bus events and clock ticks through the pure engine: in-memory states, a heap of due times, batched saves."""
from __future__ import annotations

import asyncio
import heapq
import logging
from datetime import datetime
from typing import Any

from rules.alert_store import AlertStore
from rules.directory import Directory
from rules.engine import evaluate, new_state, next_due, resume, tick
from rules.model import ResidentState
from rules.progress import REPLAY_MARGIN, ProgressStore, ProgressTracker
from rules.state import RuleStateStore
from telecare.alerts import AlertTrigger
from telecare.bus import EVENTS, Bus
from telecare.clock import Clock
from telecare.errors import StoreError
from telecare.events import Event
from telecare.metrics import EVENTS_PROCESSED, RULE_TIMERS_FIRED, RULES_ERRORS
from telecare.people import ResidentLookup
from telecare.store import Database

log = logging.getLogger(__name__)

GROUP = "rules"
SAVE_CHUNK = 2000  # states per upsert statement (keeps one jsonb parameter a few MB at most)
# A change that only slides deadlines or last-seen times (every heartbeat makes one) is saved at most this
# often: losing it in a crash costs nothing, since restart re-arms supervision from the restart. A change to
# which timers exist, a firing or an episode flag is saved at the next tick, so restarts never lose or repeat one.
SOFT_SAVE_SECONDS = 30.0


class RulesRunner:
    """Consumes bus `events` (group "rules"), ticks timers from the clock, persists state, raises alerts."""

    def __init__(self, db: Database, bus: Bus, residents: ResidentLookup, alerts: AlertStore, clock: Clock, *,
                 tick_seconds: float = 1.0, refresh_seconds: float = 300.0, device_refresh_seconds: float = 5.0,
                 save_every: int = 5000) -> None:
        register = getattr(bus, "register", None)
        if register is not None:  # before run(): events published meanwhile wait in our group's queue
            register(EVENTS, GROUP)
        self._bus, self._alerts, self._clock = bus, alerts, clock
        self._directory = Directory(residents, refresh_seconds=refresh_seconds,
                                    device_refresh_seconds=device_refresh_seconds)
        self._store = RuleStateStore(db)
        self._progress_store = ProgressStore(db)
        self._progress = ProgressTracker(None)
        self._replayed: set = set()  # ids evaluated by the start-up replay that may also come on the bus
        self._tick_seconds, self._save_every = tick_seconds, save_every
        self._states: dict[str, ResidentState] = {}
        self._dirty: set[str] = set()
        self._soft_dirty: set[str] = set()
        self._soft_saved_at: datetime | None = None
        self._heap: list[tuple[datetime, str]] = []
        self._scheduled: dict[str, datetime] = {}  # earliest heap entry per resident; later entries are stale
        self._retry: list[AlertTrigger] = []
        self._counters: dict[str, Any] = {}
        self._loaded, self._load_lock = False, asyncio.Lock()

    async def start(self) -> None:
        """Load registry and stored states, then tick everyone once (fires what came due while we were down)."""
        async with self._load_lock:
            if self._loaded:
                return
            now = self._clock.now()
            # Supervision restarts from our start (devices were not silent, we were deaf); other timers
            # keep their due times, so one that came due while we were down fires once, now.
            self._states.update({rid: resume(s, now) for rid, s in (await self._store.load_all()).items()})
            await self._refresh_registry()
            await self._replay(now)
            for resident_id in list(self._directory.residents):
                await self._tick_resident(resident_id, now)
            await self.flush(now)
            self._loaded = True

    async def _replay(self, now: datetime) -> None:
        """Evaluate events that were stored but never evaluated (we stopped between ingest and rules)."""
        saved = await self._progress_store.load()
        self._progress = ProgressTracker(saved)
        if saved is None:  # first start: nothing was promised before now
            return
        replayed = 0
        async for event in self._progress_store.events_after(saved.processed_through - REPLAY_MARGIN):
            if not self._progress.already_done(event):
                await self._evaluate(event)
                self._replayed.add(event.id)
                replayed += 1
        if replayed:
            log.warning("replayed %d stored events the rules had not evaluated before stopping", replayed)

    async def run(self) -> None:
        """Process events and ticks until cancelled; saves pending state on the way out."""
        await self.start()
        ticker = asyncio.create_task(self._tick_loop(), name="rules-ticker")
        try:
            async for message in self._bus.subscribe(EVENTS, GROUP):
                await self.process(message.value)
                if len(self._dirty) >= self._save_every:
                    await self.flush()
        finally:
            ticker.cancel()
            await asyncio.gather(ticker, return_exceptions=True)
            try:
                await self.flush()
            except Exception as err:  # noqa: BLE001 - shutting down: report, do not mask the reason we stop
                log.error("final rule state save failed: %s", type(err).__name__)

    async def process(self, event: Event) -> list[AlertTrigger]:
        """Evaluate one event; raise the alerts it triggers; return them."""
        if not self._loaded:
            await self.start()
        if self._replayed and getattr(event, "id", None) in self._replayed:
            self._replayed.discard(event.id)  # stored and published while we replayed: evaluated once already
            return []
        return await self._evaluate(event)

    async def _evaluate(self, event: Event) -> list[AlertTrigger]:
        if not isinstance(event, Event):
            RULES_ERRORS.labels("bad_message").inc()
            log.warning("ignored a bus message that is not an event: %s", type(event).__name__)
            return []
        rid = event.resident_id
        try:
            resident = await self._directory.find(rid)
            if resident is not None and self._directory.owner(event.device_id) != rid:
                await self._directory.refresh_devices()  # a device paired since our last load
        except StoreError as err:  # registry unreachable: go on with what we know
            RULES_ERRORS.labels("registry").inc()
            log.error("registry lookup failed for resident %s: %s", rid, err)
            resident = self._directory.residents.get(rid)
        if resident is None:
            RULES_ERRORS.labels("unknown_resident").inc()
            log.warning("event %s for unknown resident %s ignored", event.id, rid)
            return []
        now = self._clock.now()
        try:
            state, triggers = evaluate(event, resident, self._directory.devices(rid), self._state(rid), now)
        except Exception as err:  # noqa: BLE001 - one bad event must not stop the rules for everyone
            RULES_ERRORS.labels("evaluate").inc()
            log.error("rule evaluation failed for event %s (resident %s): %s", event.id, rid, type(err).__name__)
            return []
        self._set_state(rid, state)
        self._progress.seen(event)
        self._counter(event.type).inc()
        if triggers:
            await self._raise(triggers, now)
        return triggers

    async def tick(self) -> list[AlertTrigger]:
        """Fire every timer due by clock.now(); retry failed alerts; save changed states."""
        if not self._loaded:
            await self.start()
        if self._directory.due_for_refresh():
            await self._refresh_registry()
        now = self._clock.now()
        fired: list[AlertTrigger] = []
        if self._retry:
            retry, self._retry = self._retry, []
            await self._raise(retry, now)
        while self._heap and self._heap[0][0] <= now:
            due, rid = heapq.heappop(self._heap)
            if self._scheduled.get(rid) != due:
                continue  # superseded by an earlier entry that was already handled
            del self._scheduled[rid]
            fired += await self._tick_resident(rid, now)
        soft_due = self._soft_saved_at is None or (now - self._soft_saved_at).total_seconds() >= SOFT_SAVE_SECONDS
        if soft_due:
            self._soft_saved_at = now
        await self.flush(now, soft=soft_due)
        return fired

    async def flush(self, now: datetime | None = None, *, soft: bool = True) -> int:
        """Save changed states (batched); sliding-only changes too when `soft`. On a DB error keep them dirty."""
        if soft:
            self._dirty |= self._soft_dirty
            self._soft_dirty = set()
        if not self._dirty:
            return 0
        ids, self._dirty = list(self._dirty), set()
        states = [self._states[i] for i in ids]
        at = now or self._clock.now()
        try:
            for start in range(0, len(states), SAVE_CHUNK):
                await self._store.save_many(states[start:start + SAVE_CHUNK], at)
            # After the states it covers: a crash in between replays a few events, never skips one.
            progress = self._progress.take()
            if progress is not None:
                await self._progress_store.save(progress, at)
        except StoreError as err:
            self._dirty.update(ids)
            RULES_ERRORS.labels("state_store").inc()
            log.error("could not save rule state (%d residents): %s", len(ids), err)
            return 0
        return len(states)

    @property
    def pending_alerts(self) -> int:
        """Triggers the alert store refused, waiting for a retry at the next tick."""
        return len(self._retry)

    def state(self, resident_id: str) -> ResidentState | None:
        """The in-memory state of a resident (for inspection and tests)."""
        return self._states.get(resident_id)

    async def _tick_loop(self) -> None:
        while True:
            await asyncio.sleep(self._tick_seconds)
            try:
                await self.tick()
            except Exception as err:  # noqa: BLE001 - the ticker must outlive a bad tick
                RULES_ERRORS.labels("tick").inc()
                log.error("rules tick failed: %s", type(err).__name__)

    async def _tick_resident(self, rid: str, now: datetime) -> list[AlertTrigger]:
        resident = self._directory.residents.get(rid)
        if resident is None:
            return []
        old = self._state(rid)
        try:
            state, triggers = tick(resident, self._directory.devices(rid), old, now)
        except Exception as err:  # noqa: BLE001
            RULES_ERRORS.labels("evaluate").inc()
            log.error("rule tick failed for resident %s: %s", rid, type(err).__name__)
            return []
        if state is not old:
            self._set_state(rid, state)
        else:
            self._schedule(rid, state)
        for trigger in triggers:
            RULE_TIMERS_FIRED.labels(trigger.type.value).inc()
        if triggers:
            await self._raise(triggers, now)
        return triggers

    def _counter(self, kind: Any) -> Any:
        """EVENTS_PROCESSED child per event type, looked up once (labels() is slow on the hot path)."""
        if kind not in self._counters:
            self._counters[kind] = EVENTS_PROCESSED.labels(kind.value)
        return self._counters[kind]

    def _state(self, rid: str) -> ResidentState:
        state = self._states.get(rid)
        if state is None:
            state = self._states[rid] = new_state(rid)
            self._dirty.add(rid)
        return state

    def _set_state(self, rid: str, state: ResidentState) -> None:
        old = self._states.get(rid)
        self._states[rid] = state
        if old is not None and rid not in self._dirty and _only_slides(old, state):
            self._soft_dirty.add(rid)
        else:
            self._dirty.add(rid)
            self._soft_dirty.discard(rid)
        self._schedule(rid, state)

    def _schedule(self, rid: str, state: ResidentState) -> None:
        """Keep one live heap entry per resident at its earliest due time (no entry per event)."""
        due = next_due(state)
        if due is None:
            return
        current = self._scheduled.get(rid)
        if current is None or due < current:
            self._scheduled[rid] = due
            heapq.heappush(self._heap, (due, rid))

    async def _raise(self, triggers: list[AlertTrigger], now: datetime) -> None:
        for trigger in triggers:
            try:
                await self._alerts.raise_or_attach(trigger, now)
            except StoreError as err:
                # Never lose an alert: keep it and retry at the next tick.
                self._retry.append(trigger)
                RULES_ERRORS.labels("alert_store").inc()
                log.error("could not raise %s alert for resident %s: %s", trigger.type.value,
                          trigger.resident_id, err)

    async def _refresh_registry(self) -> None:
        """Reload residents and devices; new or changed residents get a tick now (e.g. back home: arm inactivity)."""
        changed = await self._directory.refresh_all()
        if self._loaded:
            now = self._clock.now()
            for rid in changed:
                self._scheduled[rid] = now
                heapq.heappush(self._heap, (now, rid))


def _only_slides(old: ResidentState, new: ResidentState) -> bool:
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
