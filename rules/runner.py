"""Bus events and clock ticks through the pure engine: in-memory states, a heap of due times, batched saves."""
from __future__ import annotations

import asyncio
import logging
from contextlib import suppress
from functools import cache
from datetime import datetime
from typing import Any

from rules.directory import Directory
from rules.engine import evaluate, new_state, next_due, resume, tick
from rules.model import ResidentState
from rules.replay import Replayer
from rules.outbox import AlertOutbox
from rules.saver import StateSaver
from rules.stores import RuleStores
from rules.timers import DueTimes
from telecare.alerts import AlertSink, AlertTrigger
from telecare.bus import EVENTS, Bus, FeedGap, FeedState
from telecare.clock import Clock
from telecare.events import Event, EventType
from telecare.health import Health, PartState
from telecare.metrics import EVENTS_PROCESSED, RULE_TIMERS_FIRED, RULES_ERRORS
from telecare.people import ResidentLookup

log = logging.getLogger(__name__)

GROUP = "rules"
PART = "rules"  # this loop's name in the Health registry
MIN_TIMER_GAP_S = 0.01  # dense timers fire in batches 10 ms apart, not one wake-up each


class RulesRunner:
    """Consumes bus `events` (group "rules"), ticks timers from the clock, persists state, raises alerts."""

    def __init__(self, stores: RuleStores, bus: Bus, residents: ResidentLookup, alerts: AlertSink, clock: Clock, *,
                 tick_seconds: float = 1.0, refresh_seconds: float = 300.0, device_refresh_seconds: float = 5.0,
                 save_every: int = 5000, catch_up_after_s: float = 2.0, health: Health | None = None) -> None:
        bus.register(EVENTS, GROUP)  # before run(): events published meanwhile wait in our group's queue
        # Every adapter is handed in (the composition root's, or in-memory fakes in orchestration tests).
        self._stores, self._bus, self._clock, self._health = stores, bus, clock, health
        self._directory = Directory(residents, refresh_seconds=refresh_seconds,
                                    device_refresh_seconds=device_refresh_seconds)
        self._outbox = AlertOutbox(alerts)  # started by run(): verdicts then go out from their own task
        self._saver = StateSaver(stores.states, stores.progress, self._outbox)
        self._replayer = Replayer(stores.progress, stores.events, catch_up_after_s=catch_up_after_s)
        if bus.keeps_from_register:
            self._replayer.not_needed()
        self._tick_seconds, self._save_every = tick_seconds, save_every
        self._states: dict[str, ResidentState] = {}
        self._due = DueTimes()
        self._loaded, self._load_lock = False, asyncio.Lock()

    async def start(self) -> None:
        """Load registry and stored states, then tick everyone once (fires what came due while we were down)."""
        async with self._load_lock:
            if self._loaded:
                return
            now = self._clock.now()
            # Supervision restarts from our start (devices were not silent, we were deaf); other timers
            # keep their due times, so one that came due while we were down fires once, now.
            self._states.update({rid: resume(s, now) for rid, s in (await self._stores.states.load_all()).items()})
            await self._refresh_registry()
            self._saver.progress = await self._replayer.load(now)
            await self._replayer.replay(self._saver.progress, self._evaluate)
            for resident_id in list(self._directory.residents):
                await self._tick_resident(resident_id, now)
            await self.flush(now)
            self._loaded = True

    async def run(self) -> None:
        """Process events and ticks until cancelled; saves pending state on the way out."""
        await self.start()
        self._report(PartState.OK)
        outbox = self._outbox.start()  # alarms are sent while the next events are evaluated
        ticker = asyncio.create_task(self._tick_loop(), name="rules-ticker")
        catch_up = asyncio.create_task(self._replayer.catch_up(self._saver.progress, self._evaluate),
                                       name="rules-catch-up")
        for helper in (outbox, ticker, catch_up):
            helper.add_done_callback(self._helper_ended)
        try:
            async for message in self._bus.subscribe(EVENTS, GROUP, gaps=True):
                if isinstance(message.value, FeedGap):
                    if message.value.state is FeedState.RESUMED:  # the bus lost some: take them from the table
                        await self._replayer.after_gap(self._saver.progress, self._evaluate)
                    continue
                await self.process(message.value)
                if self._saver.pending >= self._save_every:
                    self._saver.flush_soon(self._states, self._clock.now())  # evaluation goes on meanwhile
            raise RuntimeError("the events subscription ended")  # only cancellation may stop the rules
        except asyncio.CancelledError:
            if self._health is not None:
                self._health.forget(PART)  # stopped on purpose
            raise
        except BaseException as err:
            # Each event is isolated in _evaluate: what gets here is the bus or the runner itself.
            log.error("rules event loop died: %s", type(err).__name__)
            self._report(PartState.FAILED, f"event loop died: {type(err).__name__}")
            raise
        finally:
            ticker.cancel()
            catch_up.cancel()
            await asyncio.gather(ticker, catch_up, *self._saver.saving, return_exceptions=True)
            try:
                await self.flush()  # waits for the verdicts queued so far to be sent
            except Exception as err:  # noqa: BLE001 - shutting down: report, do not mask the reason we stop
                log.error("final rule state save failed: %s", type(err).__name__)
            finally:
                await self._outbox.stop()

    async def process(self, event: Event) -> list[AlertTrigger]:
        """Evaluate one event; raise the alerts it triggers; return them."""
        if not self._loaded:
            await self.start()
        if not self._replayer.from_bus(getattr(event, "id", None)):
            return []  # already evaluated from the table
        return await self._evaluate(event)

    def _report(self, state: PartState, detail: str = "") -> None:
        if self._health is not None:
            self._health.report(PART, state, detail)

    def _helper_ended(self, task: asyncio.Task[None]) -> None:
        if not task.cancelled() and task.exception() is not None:  # each catches what it can: this is a bug
            log.error("%s died: %s", task.get_name(), type(task.exception()).__name__)
            self._report(PartState.FAILED, f"{task.get_name()} died: {type(task.exception()).__name__}")

    async def _evaluate(self, event: Event) -> list[AlertTrigger]:
        """One event (from the bus or the table), isolated: its failure is counted and logged by id."""
        try:
            return await self._evaluate_one(event)
        except Exception as err:  # noqa: BLE001 - one bad event must not stop the rules for everyone
            RULES_ERRORS.labels("internal_error").inc()
            log.error("rules: event %s (resident %s) failed: %s; skipped", getattr(event, "id", None),
                      getattr(event, "resident_id", None), type(err).__name__)
            if isinstance(event, Event):
                with suppress(Exception):
                    self._saver.progress.seen(event)  # replaying it at every start would fail again
            return []

    async def _evaluate_one(self, event: Event) -> list[AlertTrigger]:
        if not isinstance(event, Event):
            RULES_ERRORS.labels("bad_message").inc()
            log.warning("ignored a bus message that is not an event: %s", type(event).__name__)
            return []
        rid = event.resident_id
        resident = await self._directory.for_event(event)
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
        self._saver.progress.seen(event)
        _processed(event.type).inc()
        await self._outbox.send(triggers, now)
        return triggers

    async def tick(self) -> list[AlertTrigger]:
        """Fire every timer due by clock.now(); retry failed alerts; save changed states when due."""
        if not self._loaded:
            await self.start()
        if self._directory.due_for_refresh():
            await self._refresh_registry()
        now = self._clock.now()
        await self._outbox.retry(now)
        fired = await self.fire_due(now)
        if self._saver.due(now):
            await self.flush(now)
        return fired

    async def fire_due(self, now: datetime | None = None) -> list[AlertTrigger]:
        """Fire the timers due by `now` (default clock.now()) and nothing else; the triggers."""
        now = now or self._clock.now()
        fired: list[AlertTrigger] = []
        for rid in self._due.due(now):
            fired += await self._tick_resident(rid, now)
        return fired

    async def flush(self, now: datetime | None = None) -> int:
        """Save every changed state now (batched), with the progress through the events table."""
        return await self._saver.flush(self._states, now or self._clock.now())

    @property
    def caught_up(self) -> bool:
        """True once events stored around start but missed by the bus have been evaluated."""
        return self._replayer.caught_up

    @property
    def pending_alerts(self) -> int:
        """Triggers the alert store refused, waiting for a retry at the next tick."""
        return self._outbox.pending

    def state(self, resident_id: str) -> ResidentState | None:
        """The in-memory state of a resident (for inspection and tests)."""
        return self._states.get(resident_id)

    async def _tick_loop(self) -> None:
        # Timers fire when due (a bed exit's alarm must not wait up to a tick); the rest of a tick (registry
        # refresh, refused alerts retried, saves) keeps its cadence, so an outage is not retried every 10 ms.
        loop = asyncio.get_running_loop()
        next_tick = loop.time() + self._tick_seconds
        while True:
            await asyncio.sleep(self._sleep_s(next_tick - loop.time()))
            try:
                if loop.time() >= next_tick:
                    next_tick = loop.time() + self._tick_seconds
                    await self.tick()
                else:
                    await self.fire_due()
            except Exception as err:  # noqa: BLE001 - the ticker must outlive a bad tick
                RULES_ERRORS.labels("tick").inc()
                log.error("rules tick failed: %s", type(err).__name__)

    def _sleep_s(self, until_tick_s: float) -> float:
        """Until the next timer is due, never past the next tick, never under MIN_TIMER_GAP_S."""
        return max(MIN_TIMER_GAP_S, self._due.wait_s(self._clock.now(), until_tick_s))

    async def _tick_resident(self, rid: str, now: datetime) -> list[AlertTrigger]:
        """One resident's timers, isolated: a failure is counted and logged by id, the others go on."""
        try:
            return await self._tick_one(rid, now)
        except Exception as err:  # noqa: BLE001 - one resident's timer must not stop everyone else's
            RULES_ERRORS.labels("internal_error").inc()
            log.error("rules timer for resident %s failed: %s", rid, type(err).__name__)
            return []

    async def _tick_one(self, rid: str, now: datetime) -> list[AlertTrigger]:
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
            self._due.schedule(rid, next_due(state))
        for trigger in triggers:
            RULE_TIMERS_FIRED.labels(trigger.type.value).inc()
        await self._outbox.send(triggers, now)
        return triggers

    def _state(self, rid: str) -> ResidentState:
        state = self._states.get(rid)
        if state is None:
            state = self._states[rid] = new_state(rid)
            self._saver.changed(rid, None, state)
        return state

    def _set_state(self, rid: str, state: ResidentState) -> None:
        self._saver.changed(rid, self._states.get(rid), state)
        self._states[rid] = state
        self._due.schedule(rid, next_due(state))

    async def _refresh_registry(self) -> None:
        """Reload residents and devices; new or changed residents get a tick now (e.g. back home: arm inactivity)."""
        changed = await self._directory.refresh_all()
        if self._loaded:
            now = self._clock.now()
            for rid in changed:
                self._due.at(rid, now)


@cache
def _processed(kind: EventType) -> Any:
    """EVENTS_PROCESSED child per event type, looked up once (labels() is slow on the hot path)."""
    return EVENTS_PROCESSED.labels(kind.value)
