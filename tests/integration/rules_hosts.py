"""Two hosts of the same rule engine behind one test interface: the in-process RulesRunner and the Kafka worker.

The Kafka host publishes verdicts to `alert-triggers`; `VerdictApplier` stands in for the alert writer that
consumes that topic (each verdict key applied once, rules/verdicts.py) so both hosts end in the same alerts table.
"""
from __future__ import annotations

import asyncio
import time
import uuid
from collections import Counter
from typing import Any

from alerts.store import AlertStore
from alerts.triggers import TriggerApplier
from rules.kafka_host import KafkaRulesHost
from rules.model import ResidentState
from rules.packed import unpack_state
from rules.runner import RulesRunner
from rules.state import PgRuleStateStore
from rules.stores import pg_rule_stores
from rules.verdicts import verdict_key
from telecare.bus import ALERT_TRIGGERS, EVENTS, InProcessBus
from telecare.clock import FakeClock
from telecare.events import Event
from telecare.people import ResidentLookup


class VerdictApplier:
    """Reads alert-triggers (own group) and applies each verdict key once to the alert store, a fetched batch per
    transaction as the alerts part does (alerts/triggers.py): one commit per verdict could not keep up with a
    30,000-alarm backlog on a loaded machine (the failover test then timed out with verdicts still unread)."""

    def __init__(self, bus: Any, db: Any, store: AlertStore, clock: FakeClock, lookup: ResidentLookup) -> None:
        self.group = f"applier-{uuid.uuid4().hex[:8]}"
        self._bus, self._clock, self._lookup = bus, clock, lookup
        self._applier = TriggerApplier(db, store)
        self.seen: set[str] = set()
        self.raw: Counter[str] = Counter()  # verdicts received per key, before dedupe
        self.received, self.received_at = 0, time.monotonic()  # progress, printed when a test times out
        bus.register(ALERT_TRIGGERS, self.group)

    async def run(self) -> None:
        async for batch in self._bus.subscribe_batches(ALERT_TRIGGERS, self.group):
            mine = {r.id for r in await self._lookup.all_residents()}
            fresh: dict[str, Any] = {}
            for message in batch:
                if message.key not in mine:
                    continue  # another test's resident (the topic is shared by the session's tests)
                key = verdict_key(message.value)
                self.raw[key] += 1
                if key not in self.seen:
                    fresh.setdefault(key, message.value)
            if fresh:
                await self._applier.apply_many(list(fresh.values()), self._clock.now())
                self.seen.update(fresh)
            self.received += len(batch)
            self.received_at = time.monotonic()

    def progress(self) -> str:
        """How far it got (for a failure message)."""
        return (f"applier: {self.received} verdicts received, {len(self.seen)} keys applied, the last batch "
                f"{time.monotonic() - self.received_at:.1f}s ago")


class Host:
    """start / send / stop / restart one rules host of either kind over a real database (and broker)."""

    def __init__(self, kind: str, db: Any, lookup: ResidentLookup, clock: FakeClock,
                 kafka_bootstrap: str | None) -> None:
        self.kind, self.db, self.lookup, self.clock = kind, db, lookup, clock
        self._bootstrap = kafka_bootstrap
        self.group = f"rules-{uuid.uuid4().hex[:8]}"  # a fresh group per test: no other test's offsets
        self._tasks: list[asyncio.Task] = []
        self.runner: Any = None
        self.bus: Any = None
        self.applier: VerdictApplier | None = None
        self._applier_task: asyncio.Task | None = None
        if kind == "kafka":  # the alert writer is its own process: it outlives the rules host's restarts
            from telecare.kafkabus import KafkaBus

            self._applier_bus = KafkaBus(kafka_bootstrap)
            self.applier = VerdictApplier(self._applier_bus, db, AlertStore(db, self._applier_bus), clock, lookup)
        self._make()

    def _make(self) -> None:
        if self.kind == "inprocess":
            self.bus = InProcessBus()
            self.runner = RulesRunner(pg_rule_stores(self.db), self.bus, self.lookup, AlertStore(self.db, self.bus),
                                      self.clock, tick_seconds=0.01, device_refresh_seconds=0)
        else:
            from telecare.kafkabus import KafkaBus

            self.bus = KafkaBus(self._bootstrap)
            self.runner = KafkaRulesHost(self.bus, self.lookup, self.clock, tick_seconds=0.02, group=self.group,
                                         device_refresh_seconds=0, session_timeout_ms=6000)

    async def start(self) -> None:
        """Run the host (and, for Kafka, the verdict applier) as tasks; returns once the host owns its partitions."""
        self._tasks.append(asyncio.create_task(self.runner.run()))
        if self.kind == "kafka":
            if self._applier_task is None:
                self._applier_task = asyncio.create_task(self.applier.run())
            from tests.conftest import eventually

            await eventually(lambda: self.runner.owned or self._died(), timeout=60)

    def _died(self) -> bool:
        for task in [*self._tasks, *([self._applier_task] if self._applier_task else [])]:
            if task.done():
                task.result()  # raises why it ended
        return False

    async def send(self, event: Event) -> None:
        """Publish an event as ingest would."""
        await self.bus.publish(EVENTS, event.resident_id, event)

    def state(self, rid: str) -> ResidentState | None:
        """The host's in-memory state of a resident."""
        return self.runner.state(rid)

    async def saved_state(self, rid: str) -> ResidentState | None:
        """The state a restart would start from (rule_state table, or rules-state topic)."""
        if self.kind == "inprocess":
            self.clock.advance(0.2)  # the runner saves every few seconds of rule time
            return await PgRuleStateStore(self.db).load(rid)
        from telecare.kafkabus import RULES_STATE

        rows = await self.bus.read_table(RULES_STATE, {self.bus.partition_of(EVENTS, rid)})
        raw = rows.get(rid)
        return unpack_state(raw) if raw else None

    async def stop(self) -> None:
        """Cancel the host (it saves or commits on the way out) and close its bus."""
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        self._tasks = []
        await self.bus.close()

    async def close(self) -> None:
        """Stop the host and the verdict applier."""
        await self.stop()
        if self._applier_task is not None:
            self._applier_task.cancel()
            await asyncio.gather(self._applier_task, return_exceptions=True)
            await self._applier_bus.close()

    async def restart(self) -> None:
        """A new process: a new host (and bus) over the same stores or the same group."""
        await self.stop()
        self._make()
        await self.start()
