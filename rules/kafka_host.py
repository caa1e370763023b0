"""The rule engine hosted on Kafka: one consumer-group member per process, state per partition in `rules-state`.

Per batch of `events` (getmany): evaluate each event with the pure engine, fire the owned residents' due
timers, then publish the verdicts to `alert-triggers` (acked), the changed states to the compacted
`rules-state` topic (acked), and only then commit the batch's offsets. A crash anywhere in between
redelivers events that are evaluated again; their verdicts carry the same key (rules/verdicts.py) and the
alert writer applies each key once. On assignment the states of the assigned partitions' residents are read
from `rules-state` to its end before any of their events is evaluated; on revocation pending work is
flushed and committed, then those residents are forgotten. `rules-state` has as many partitions as `events`
and the same key, so a resident's state lives in the partition number of its events.
"""
from __future__ import annotations

import asyncio
import logging
import time
from datetime import datetime
from typing import Any

from rules.catch_up import timer_clock
from rules.directory import Directory
from rules.engine import Decision, evaluate, tick
from rules.kafka_saver import KafkaStateSaver
from rules.kafka_states import OwnedStates
from rules.model import ResidentState
from rules.runner import _processed  # the per-type counter, looked up once (labels() is slow per event)
from telecare.bus import ALERT_TRIGGERS, EVENTS
from telecare.clock import Clock
from telecare.errors import BusError, ConfigError
from telecare.events import Event, decode_event
from telecare.health import Health, PartState
from telecare.kafkabus import RULES_STATE, KafkaBus
from telecare.metrics import RULE_TIMERS_FIRED, RULES_ERRORS
from telecare.people import ResidentLookup
from telecare.tasks import raise_if_cancelled

log = logging.getLogger(__name__)

GROUP = "rules"
PART = "rules"
LEAVE_TIMEOUT_S = 10.0
RESTORE_LOOKUP_TIMEOUT_S = 30.0  # the group's committed offsets of newly assigned partitions
TICK_BUDGET_S = 0.05  # timer work per batch before the next fetch (see _tick_due)


class KafkaRulesHost:
    """Consumes `events` in group "rules", owns the state of its partitions' residents, ticks their timers."""

    def __init__(self, bus: KafkaBus, residents: ResidentLookup, clock: Clock, *, tick_seconds: float = 1.0,
                 refresh_seconds: float = 300.0, device_refresh_seconds: float = 5.0, group: str = GROUP,
                 health: Health | None = None, session_timeout_ms: int = 10_000, max_records: int = 1000,
                 save_seconds: float = 0.5) -> None:
        bus.register(EVENTS, group)  # a first start anchors the group here: events published meanwhile are kept
        self._bus, self._clock, self._health, self._group = bus, clock, health, group
        self._directory = Directory(residents, refresh_seconds=refresh_seconds,
                                    device_refresh_seconds=device_refresh_seconds)
        self._tick_ms = max(1, int(tick_seconds * 1000))
        self._member_options = {"session_timeout_ms": session_timeout_ms,
                                "heartbeat_ms": max(100, session_timeout_ms // 3), "max_records": max_records}
        self._member: Any = None
        self._states = OwnedStates()
        self._verdicts: list[Decision] = []
        self._offsets: dict[int, int] = {}  # partition -> next offset, evaluated but not committed yet
        self._owned: set[int] = set()
        self._next: dict[int, int] = {}  # owned partition -> next offset to evaluate
        self._due = self._states.due
        self._lock = asyncio.Lock()  # one batch or one rebalance step at a time
        self._save_seconds, self._saved_at = save_seconds, time.monotonic()
        self._saver = KafkaStateSaver(self._publish_states, self._commit, self._give_back, self._states.at_rest)
        self._started = False
        self._behind = False  # due timers left over from the last batch's budget
        self._held = False  # the last step held timers back for the backlog (rules/catch_up.py)
        self._restoring: set[int] = set()  # assigned, paused until their states are read (_restore)
        self._restores: set[asyncio.Task[None]] = set()
        self._restore_error: BaseException | None = None
        self._assignments, self._assignment_of = 0, {}  # assignment count; partition -> the one that added it
        self._arrived: dict[int, datetime] = {}  # partition -> arrival time of the last event evaluated from it
        self.evaluated = 0  # events evaluated by this process (redeliveries included)
        self.restored = 0  # states read back from rules-state
        self.ticked = 0  # resident ticks run (inspection, the restart bench)

    async def start(self) -> None:
        """Topics ready (same partition count for events and rules-state) and the registry loaded."""
        if self._started:
            return
        self._report(PartState.STARTING, "joining the rules group")
        await self._bus.start()
        if self._bus.partitions(EVENTS) != self._bus.partitions(RULES_STATE):
            raise ConfigError(f"topics {EVENTS} and {RULES_STATE} must have the same partition count "
                              f"({self._bus.partitions(EVENTS)} != {self._bus.partitions(RULES_STATE)})")
        await self._directory.refresh_all()
        self._started = True

    async def run(self) -> None:
        """Join the group and process batches until cancelled; a dead loop reports FAILED."""
        try:
            await self.start()
            self._member = self._bus.member(EVENTS, self._group, self._assigned, self._revoked,
                                            **self._member_options)
            await self._member.start(self._bus.registered_at(EVENTS, self._group))
            self._report(PartState.OK, "consuming")
            while True:
                await self._step()
                raise_if_cancelled()
        except asyncio.CancelledError:
            if self._health is not None:
                self._health.forget(PART)
            raise
        except BaseException as err:
            log.error("rules (kafka) loop died: %s", type(err).__name__)
            self._report(PartState.FAILED, f"event loop died: {type(err).__name__}")
            raise
        finally:
            for task in list(self._restores):
                task.cancel()
            if self._member is not None:
                try:  # a clean stop saves and commits what was evaluated (a dead broker must not hold the exit,
                    # nor a rebalance step holding the lock: the wait for it is inside the deadline too)
                    await asyncio.wait_for(self._locked_flush(), LEAVE_TIMEOUT_S)
                except (Exception, asyncio.CancelledError) as err:  # noqa: BLE001 - never mask why we stop
                    log.warning("rules: final save failed: %s", type(err).__name__)
                try:
                    await asyncio.wait_for(self._member.stop(), LEAVE_TIMEOUT_S)
                except (Exception, asyncio.CancelledError) as err:  # noqa: BLE001 - never mask why we stop
                    log.warning("rules: leaving the group failed: %s", type(err).__name__)

    async def _locked_flush(self) -> None:
        async with self._lock:
            await self._flush()

    async def _step(self) -> None:
        if self._restore_error is not None:
            raise self._restore_error  # run() reports FAILED; the process exits non-zero
        # A step may otherwise never yield: getmany(timeout_ms=0) returns what is buffered without awaiting, and a
        # step without verdicts awaits nothing else. Spinning so would starve aiokafka's fetcher and heartbeat.
        await asyncio.sleep(0)
        _, batch = await self._member.fetch(self._wait_ms())
        async with self._lock:
            # By offset, not by rebalance generation: a batch fetched across a rebalance may hold records of the
            # new assignment (dropping them would skip them: the consumer's position is already past them), or
            # records the new assignment will fetch again from the committed offset (those are skipped here).
            for partition, records in batch.items():
                expected = self._next.get(partition)
                if expected is None:
                    continue  # not ours (any more)
                for offset, _key, raw in records:
                    if offset < expected:
                        continue
                    if (arrived := await self._evaluate(raw)) is not None:
                        self._arrived[partition] = arrived
                    expected = self._next[partition] = self._offsets[partition] = offset + 1
            if self._directory.due_for_refresh():
                await self._refresh_registry()
            backlog = {p: (end - self._next[p]) if (end := self._member.highwater(p)) is not None else None
                       for p in self._owned if p in self._next}
            now = self._clock.now()
            tick_at = timer_clock(now, backlog, self._arrived)
            self._held = tick_at is None or tick_at < now  # timers wait for the backlog (or a restore)
            if tick_at is not None:
                self._tick_due(tick_at)
            # Verdicts go out with every batch (alarm latency); states and the commit every save_seconds (a
            # resident's state is written once per interval, not once per batch).
            await self._flush(states=time.monotonic() - self._saved_at >= self._save_seconds, inline=False)

    def _wait_ms(self) -> int:
        """How long a fetch may wait for events: not past the next timer (its lag would be up to a tick), never
        longer than a tick (the registry refresh, the saves), not at all while timers are left over."""
        if self._behind:
            return 0
        wait_s = self._due.wait_s(self._clock.now(), self._tick_ms / 1000)
        if wait_s <= 0:  # due since the last tick: fire it now; held by the backlog: the fetch brings that
            return self._tick_ms if self._held else 0
        return min(self._tick_ms, int(wait_s * 1000) + 1)

    async def _evaluate(self, raw: bytes) -> datetime | None:
        """One event, isolated: a bad one is counted and logged by id, never retried forever; its arrival time."""
        try:
            event = decode_event(raw)
        except Exception as err:  # noqa: BLE001 - an undecodable record must not stop the rules
            RULES_ERRORS.labels("bad_message").inc()
            log.warning("undecodable event skipped: %s", type(err).__name__)
            return None
        try:
            await self._evaluate_one(event)
        except Exception as err:  # noqa: BLE001 - one bad event must not stop the rules for everyone
            RULES_ERRORS.labels("internal_error").inc()
            log.error("rules: event %s (resident %s) failed: %s; skipped", event.id, event.resident_id,
                      type(err).__name__)
        return event.received_at

    async def _evaluate_one(self, event: Event) -> None:
        rid = event.resident_id
        resident = await self._directory.for_event(event)
        if resident is None:
            RULES_ERRORS.labels("unknown_resident").inc()
            log.warning("event %s for unknown resident %s ignored", event.id, rid)
            return
        state, decisions = evaluate(event, resident, self._directory.devices(rid), self._states.get(rid),
                                    self._clock.now())
        self._states.put(rid, state)
        self.evaluated += 1
        _processed(event.type).inc()
        self._verdicts += decisions

    def _tick_due(self, now: datetime) -> None:
        """Fire the due timers of owned residents (a resident of a revoked partition is skipped).

        At most TICK_BUDGET_S per batch: after an outage or an assignment a million residents come due at once,
        and the events fetched meanwhile (a help press) must not wait for all of them; the rest stay due in the
        heap and are ticked with the next batches, earliest first."""
        budget_end, self._behind = time.monotonic() + TICK_BUDGET_S, False
        for count, rid in enumerate(self._due.due(now), 1):
            if count % 128 == 0 and time.monotonic() > budget_end:
                self._due.at(rid, now)  # popped but not ticked: back in the heap, first next time
                self._behind = True  # the next fetch does not wait: only for what is already there
                return
            resident = self._directory.residents.get(rid)
            if resident is None or self._bus.partition_of(EVENTS, rid) not in self._owned:
                continue
            self.ticked += 1
            try:
                old = self._states.get(rid)
                state, triggers = tick(resident, self._directory.devices(rid), old, now)
            except Exception as err:  # noqa: BLE001 - one resident's timer must not stop everyone else's
                RULES_ERRORS.labels("evaluate").inc()
                log.error("rule tick failed for resident %s: %s", rid, type(err).__name__)
                continue
            self._states.put(rid, state)  # marked for the next save only if it changed; scheduled either way
            for trigger in triggers:
                RULE_TIMERS_FIRED.labels(trigger.type.value).inc()
            self._verdicts += triggers

    async def _flush(self, states: bool = True, *, inline: bool = True) -> None:
        """Verdicts now; then (if `states`) the changed states and the offsets, each after the one before was
        acknowledged. `inline=False`: the states go to the background saver (skipped while one is running)."""
        if self._verdicts:
            await self._bus.publish_many(ALERT_TRIGGERS, [(v.resident_id, v) for v in self._verdicts])
            self._verdicts = []
        if not states or (not inline and self._saver.busy):
            return
        if inline:
            await self._saver.wait()  # a background save gives back what failed: include it
        self._saved_at = time.monotonic()
        snapshot = self._states.changed()
        offsets, self._offsets = self._offsets, {}
        if inline:
            await self._saver.save_now(snapshot, offsets)
        else:
            self._saver.start(snapshot, offsets)

    async def _publish_states(self, items: list[tuple[str, bytes]]) -> None:
        if not items:
            return
        # Fenced by time: after a freeze past the session timeout the partitions may be someone else's, and these
        # (older) states would overwrite theirs. The save fails instead: its states are saved again once a
        # heartbeat proves the membership, or forgotten with the partitions at the revocation that follows.
        if not self._member.certainly_member():
            raise BusError("rule states not saved: no proof from the group coordinator that this worker still "
                           "owns its partitions (frozen past the session timeout?)")
        await self._bus.publish_many(RULES_STATE, items)

    async def _commit(self, offsets: dict[int, int]) -> bool:
        owned = {p: o for p, o in offsets.items() if p in self._owned}  # a revoked partition is the next owner's
        return await self._member.commit(owned) if owned else True

    def _give_back(self, residents: set[str], offsets: dict[int, int]) -> None:
        """A save that failed: its residents are saved again next time; newer offsets supersede its ones."""
        self._states.give_back(residents)
        for partition, offset in offsets.items():
            if partition in self._owned:
                self._offsets.setdefault(partition, offset)

    async def _assigned(self, partitions: set[int]) -> None:
        """Pause the new partitions and restore their states beside the loop (see _restore).

        Not inside this callback: aiokafka sends no heartbeat until it returns, and reading a million states takes
        longer than the session timeout (the member was evicted and the group rebalanced again)."""
        self._member.pause(partitions)
        self._restoring |= partitions
        self._assignments += 1
        for p in partitions:  # a restore still reading for an earlier assignment of p must not apply its rows
            self._assignment_of[p] = self._assignments
        task = asyncio.create_task(self._restore(set(partitions), self._assignments), name="rules-state-restore")
        self._restores.add(task)
        task.add_done_callback(self._restore_done)

    def _restore_done(self, task: asyncio.Task[None]) -> None:
        """A restore that died leaves its partitions paused for good: the loop must die with it (loudly)."""
        self._restores.discard(task)
        if not task.cancelled() and task.exception() is not None:
            self._restore_error = task.exception()
            log.error("rules: restoring partitions died: %s", type(self._restore_error).__name__)

    async def _restore(self, partitions: set[int], assignment: int) -> None:
        """Read the partitions' states from rules-state, then (under the lock) own, schedule and resume them."""
        attempt = 0
        while True:
            try:
                started = time.monotonic()
                rows = await self._bus.read_table(RULES_STATE, partitions)
                committed = await asyncio.wait_for(self._member.committed(partitions), RESTORE_LOOKUP_TIMEOUT_S)
                break
            except Exception as err:  # noqa: BLE001 - retried: those partitions stay paused, never skipped
                attempt += 1
                self._report(PartState.RECONNECTING, f"restoring rule state: {type(err).__name__}")
                log.warning("rules: restoring partitions %s failed (%s); retry %d", sorted(partitions),
                            type(err).__name__, attempt)
                await asyncio.sleep(min(5.0, 0.1 * 2 ** attempt))
        read_s = time.monotonic() - started
        async with self._lock:
            # A partition revoked meanwhile is the next owner's; one assigned again since is that restore's.
            mine = {p for p in partitions & self._restoring if self._assignment_of.get(p) == assignment}
            if not mine:
                return
            if mine != partitions:
                rows = {rid: raw for rid, raw in rows.items() if self._bus.partition_of(EVENTS, rid) in mine}
            self._apply_restored(rows, mine)
            self._next.update({p: committed[p] for p in mine})
            self._owned |= mine
            self._restoring -= mine
            self._member.resume({p: committed[p] for p in mine})
            if attempt:
                self._report(PartState.OK, "consuming")
            log.info("rules: assigned partitions %s, %d states restored in %.2fs (%.2fs reading rules-state)",
                     sorted(mine), len(rows), time.monotonic() - started, read_s)

    def _apply_restored(self, rows: dict[str, bytes | None], partitions: set[int]) -> None:
        without = [rid for rid in self._directory.residents
                   if rid not in rows and self._bus.partition_of(EVENTS, rid) in partitions]
        self._states.restore(rows, without, self._clock.now())
        self.restored += len(rows)

    async def _revoked(self, partitions: set[int]) -> None:
        """Flush and commit what was evaluated, then forget the residents of the partitions given up."""
        async with self._lock:
            try:
                await self._flush()
            except Exception as err:  # noqa: BLE001 - the next owner redoes what was not committed
                log.error("rules: flush on revocation failed: %s", type(err).__name__)
            self._owned -= partitions
            self._restoring -= partitions
            for p in partitions:
                self._next.pop(p, None)
                self._arrived.pop(p, None)
            self._states.forget(lambda rid: self._bus.partition_of(EVENTS, rid) in partitions)
            self._offsets = {p: o for p, o in self._offsets.items() if p not in partitions}

    async def _refresh_registry(self) -> None:
        changed = await self._directory.refresh_all()
        now = self._clock.now()
        for rid in changed:
            self._due.at(rid, now)

    def _report(self, state: PartState, detail: str = "") -> None:
        if self._health is not None:
            self._health.report(PART, state, detail)

    @property
    def owned(self) -> set[int]:
        """Partitions of `events` this host owns now."""
        return set(self._owned)

    async def settled(self) -> None:
        """Returns once no batch or rebalance step is in progress (its verdicts are acknowledged): tests."""
        async with self._lock:
            return

    def next_due_at(self) -> datetime | None:
        """When the next resident's timers are due (inspection, the restart bench)."""
        return self._due.earliest()

    def state(self, resident_id: str) -> ResidentState | None:
        """The in-memory state of an owned resident (inspection, tests)."""
        return self._states.get(resident_id) if resident_id in self._states else None

