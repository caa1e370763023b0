"""The consuming side of the Kafka bus: one consumer-group member per subscription (see telecare/kafkabus.py).

Fetch, decode, yield; commit what the subscriber came back for; drop prefetched records when a rebalance
moves partitions; probe the broker so an outage becomes a FeedGap. aiokafka is owned by the two kafka*
modules of the kernel and imported nowhere else.
"""
from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from aiokafka import AIOKafkaConsumer, ConsumerRebalanceListener, TopicPartition
from aiokafka.errors import ConsumerStoppedError, KafkaError, NoOffsetForPartitionError, OffsetOutOfRangeError

from telecare.bus import FeedGap, FeedState, Message
from telecare.health import PartState
from telecare.kafkalag import LagGauge
from telecare.tasks import raise_if_cancelled

if TYPE_CHECKING:
    from telecare.kafkabus import KafkaBus

log = logging.getLogger(__name__)

COMMIT_EVERY_S = 1.0
COMMIT_TIMEOUT_S = 2.0
PROBE_EVERY_S = 2.0
STOP_TIMEOUT_S = 10.0
BACKOFF_MIN_S, BACKOFF_MAX_S = 0.1, 5.0


def backoff(attempt: int) -> float:
    """Seconds to wait before retry number `attempt` (0-based): 0.1 s doubling to 5 s."""
    return min(BACKOFF_MAX_S, BACKOFF_MIN_S * 2 ** attempt)


class _Throttle(logging.Filter):
    """Lets each aiokafka message template through once per `every_s`: an outage would log it every 100 ms."""

    def __init__(self, every_s: float = 10.0) -> None:
        super().__init__()
        self._every_s = every_s
        self._last: dict[str, float] = {}

    def filter(self, record: logging.LogRecord) -> bool:
        now, key = time.monotonic(), f"{record.name}:{record.msg}"
        if now - self._last.get(key, -self._every_s) < self._every_s:
            return False
        self._last[key] = now
        return True


def throttle_aiokafka_logs() -> None:
    """Install the _Throttle on every aiokafka logger (idempotent)."""
    # A logger's filters see only its own records (not its children's): name every module that logs.
    for name in ("aiokafka", "aiokafka.client", "aiokafka.conn", "aiokafka.cluster", "aiokafka.admin.client",
                 "aiokafka.consumer.consumer", "aiokafka.consumer.fetcher", "aiokafka.consumer.group_coordinator",
                 "aiokafka.producer.producer", "aiokafka.producer.sender"):
        target = logging.getLogger(name)
        if not any(isinstance(f, _Throttle) for f in target.filters):
            target.addFilter(_Throttle())


class _Rebalance(ConsumerRebalanceListener):
    """Commits what was processed before partitions move; bumps a generation so prefetched records are dropped."""

    def __init__(self, sub: Subscription) -> None:
        self._sub = sub

    async def on_partitions_revoked(self, revoked: Any) -> None:
        self._sub.generation += 1
        await self._sub.commit(set(revoked))
        for tp in revoked:  # no longer ours: whatever did not commit is the next owner's to redo
            self._sub.processed.pop(tp, None)

    async def on_partitions_assigned(self, assigned: Any) -> None:
        self._sub.generation += 1


class Subscription:
    """One consumer-group member: fetch, decode, yield, commit; reports to Health as `part`."""

    def __init__(self, bus: KafkaBus, topic: str, gid: str, decode: Callable[[bytes], Any], part: str, *,
                 max_records: int = 500) -> None:
        self.bus, self.topic, self.gid, self.decode, self.part = bus, topic, gid, decode, part
        self.max_records = max_records  # per fetch: one batch of subscribe_batches
        self.generation = 0
        self.processed: dict[TopicPartition, int] = {}  # next offset to commit, per partition
        self.consumer: AIOKafkaConsumer | None = None
        self.lost_at: datetime | None = None
        self._last_commit = self._last_probe = time.monotonic()
        self.lag = LagGauge(topic, gid)

    async def _start(self, since_ms: int) -> None:
        attempt = 0
        while True:
            consumer = None
            try:
                await self.bus._anchor(self.topic, self.gid, since_ms)
                consumer = self.bus._consumer(self.gid, auto_offset_reset="none", max_poll_records=self.max_records)
                consumer.subscribe([self.topic], listener=_Rebalance(self))
                await consumer.start()
                self.consumer = consumer
                self.bus._subscriptions.add(self)
                self.bus._health.report(self.part, PartState.OK, "consuming")
                return
            except (KafkaError, OSError) as err:
                if consumer is not None:  # a consumer that failed to start still holds its client: free it
                    with contextlib.suppress(Exception):
                        await consumer.stop()
                self.bus._health.report(self.part, PartState.RECONNECTING, type(err).__name__)
                log.warning("%s; retry %d", self.bus._fail(f"consumer {self.gid} start", err), attempt + 1)
                await asyncio.sleep(backoff(attempt))
                attempt += 1

    async def run(self, since_ms: int, gaps: bool, batches: bool = False) -> AsyncIterator[Any]:
        self.bus._health.report(self.part, PartState.STARTING, "connecting")
        await self._start(since_ms)
        consumer = self.consumer
        assert consumer is not None
        while not self.bus._closed:
            raise_if_cancelled()
            try:
                batch = await consumer.getmany(timeout_ms=500)
            except OffsetOutOfRangeError as err:
                for gap in await self._jump(err.args[0] if err.args else {}):
                    if gaps:
                        yield Message(self.topic, "", gap)
                continue
            except NoOffsetForPartitionError as err:  # a partition added after anchoring: it starts empty
                await consumer.seek_to_beginning(*[a for a in err.args if isinstance(a, TopicPartition)])
                continue
            except (KafkaError, ConsumerStoppedError) as err:  # stopped: close() stopped it under this loop
                if self.bus._closed:
                    break
                batch = {}
                log.warning("%s", self.bus._fail(f"consumer {self.gid} fetch", err))
            await self.lag.maybe_report(consumer)
            gap = await self._probe(bool(batch))
            if gap is not None and gaps:
                yield Message(self.topic, "", gap)
            generation = self.generation
            if batches:  # one list per fetch: its offsets count as processed only once the subscriber is back
                if batch:
                    async for done in self._as_batch(batch, generation):
                        yield done
                if time.monotonic() - self._last_commit >= COMMIT_EVERY_S:
                    await self.commit()
                continue
            for tp, records in batch.items():
                for record in records:
                    if self.generation != generation:
                        break  # a rebalance reset the positions: these records come again from the commit point
                    try:
                        value = self.decode(record.value)
                    except Exception as err:  # noqa: BLE001 - one bad record must not end the subscription
                        log.warning("undecodable message on %s partition %d offset %d: %s; skipped",
                                    self.topic, tp.partition, record.offset, type(err).__name__)
                    else:
                        yield Message(self.topic, record.key.decode() if record.key else "", value)
                    if self.generation == generation:
                        self.processed[tp] = record.offset + 1
            if time.monotonic() - self._last_commit >= COMMIT_EVERY_S:
                await self.commit()

    async def _as_batch(self, batch: dict[TopicPartition, list[Any]], generation: int) -> AsyncIterator[list[Message]]:
        """The fetch as one list of Messages (undecodable records logged and skipped), then mark it processed."""
        out: list[Message] = []
        ends: dict[TopicPartition, int] = {}
        for tp, records in batch.items():
            for record in records:
                ends[tp] = record.offset + 1
                try:
                    value = self.decode(record.value)
                except Exception as err:  # noqa: BLE001 - one bad record must not end the subscription
                    log.warning("undecodable message on %s partition %d offset %d: %s; skipped",
                                self.topic, tp.partition, record.offset, type(err).__name__)
                    continue
                out.append(Message(self.topic, record.key.decode() if record.key else "", value))
        if out:
            yield out
        if self.generation == generation:  # a rebalance meanwhile: the new owner redoes them from the commit
            self.processed.update(ends)

    async def _jump(self, offsets: dict[TopicPartition, int]) -> list[FeedGap]:
        """Unread messages were deleted (retention): restart from the oldest kept; tell the subscriber."""
        assert self.consumer is not None
        tps = [tp for tp in offsets if isinstance(tp, TopicPartition)] or list(self.consumer.assignment())
        await self.consumer.seek_to_beginning(*tps)
        now = datetime.now(UTC)
        detail = f"offsets out of range on {len(tps)} partition(s): messages were deleted before they were read"
        log.error("consumer %s on %s: %s", self.gid, self.topic, detail)
        return [FeedGap(FeedState.LOST, now, detail), FeedGap(FeedState.RESUMED, now, detail, missed=True)]

    async def _probe(self, received: bool) -> FeedGap | None:
        """Is the broker answering? LOST once when it stops, RESUMED(missed=False) when it is back."""
        now = time.monotonic()
        if not received and now - self._last_probe < PROBE_EVERY_S:
            return None
        self._last_probe = now
        ok = received
        if not ok:
            assert self.consumer is not None
            try:
                await asyncio.wait_for(self.consumer.end_offsets([TopicPartition(self.topic, 0)]), PROBE_EVERY_S)
                ok = True
            except (KafkaError, OSError, asyncio.TimeoutError):
                ok = False
        if ok and self.lost_at is not None:
            lost_at, self.lost_at = self.lost_at, None
            self.bus._health.report(self.part, PartState.OK, "consuming")
            log.info("consumer %s on %s: the broker answers again", self.gid, self.topic)
            return FeedGap(FeedState.RESUMED, lost_at, "the broker answers again; position kept", missed=False)
        if not ok and self.lost_at is None:
            self.lost_at = datetime.now(UTC)
            self.bus._health.report(self.part, PartState.RECONNECTING, "the broker does not answer")
            log.warning("consumer %s on %s: the broker does not answer", self.gid, self.topic)
            return FeedGap(FeedState.LOST, self.lost_at, "the Kafka broker does not answer")
        return None

    async def commit(self, only: set[TopicPartition] | None = None) -> None:
        """Commit processed offsets (of `only`, when given); a failure keeps them for the next try."""
        self._last_commit = time.monotonic()
        offsets = {tp: o for tp, o in self.processed.items() if only is None or tp in only}
        if not offsets or self.consumer is None:
            return
        try:
            # Bounded: aiokafka retries a commit until the coordinator answers, which would stall the loop
            # (and its outage report) for as long as the broker is down. Uncommitted offsets wait for the next try.
            await asyncio.wait_for(self.consumer.commit(offsets), COMMIT_TIMEOUT_S)
        except (KafkaError, asyncio.TimeoutError) as err:
            log.warning("%s", self.bus._fail(f"commit of group {self.gid}", err))
            return
        for tp, offset in offsets.items():
            if self.processed.get(tp) == offset:
                del self.processed[tp]

    async def stop(self) -> None:
        """Commit what was processed and leave the group."""
        if self.consumer is None:
            return
        consumer = self.consumer
        try:
            await self.commit()
        finally:
            self.consumer = None
            self.bus._subscriptions.discard(self)
            try:  # leaving the group waits on the coordinator: a broker that does not answer must not hold close()
                await asyncio.wait_for(consumer.stop(), STOP_TIMEOUT_S)
            except (KafkaError, asyncio.TimeoutError) as err:
                log.warning("%s", self.bus._fail(f"consumer {self.gid} stop", err))
            self.lag.forget()
            self.bus._health.forget(self.part)


class _MemberRebalance(ConsumerRebalanceListener):
    """Hands revocations and assignments (partition numbers) to the host that owns their state."""

    def __init__(self, member: GroupMember) -> None:
        self._member = member

    async def on_partitions_revoked(self, revoked: Any) -> None:
        self._member.generation += 1
        await self._member.on_revoked({tp.partition for tp in revoked if tp.topic == self._member.topic})

    async def on_partitions_assigned(self, assigned: Any) -> None:
        self._member.generation += 1
        self._member.proven()  # the coordinator just synced us into this generation
        await self._member.on_assigned({tp.partition for tp in assigned if tp.topic == self._member.topic})


class GroupMember:
    """A consumer-group member for a host that owns per-partition state (the Kafka rules host).

    Unlike Subscription it hands raw batches (getmany) to its host, calls the host back on revocation and
    assignment (inside the rebalance: the host saves and commits, or restores, before fetching goes on) and
    commits only the offsets the host names, after the host's effects for them were acknowledged.
    """

    def __init__(self, bus: KafkaBus, topic: str, gid: str, on_assigned: Callable[[set[int]], Any],
                 on_revoked: Callable[[set[int]], Any], *, max_records: int = 500,
                 session_timeout_ms: int = 10_000, heartbeat_ms: int = 3_000) -> None:
        self.bus, self.topic, self.gid = bus, topic, gid
        self.on_assigned, self.on_revoked = on_assigned, on_revoked
        self.generation = 0
        self.consumer: AIOKafkaConsumer | None = None
        # When the coordinator last counted us a member (a good heartbeat or a sync): a process frozen past the
        # session timeout (SIGSTOP, a stalled VM) was evicted and its partitions moved, yet wakes up believing
        # it owns them. What it writes then would overwrite the new owner's state (certainly_member()).
        self._proven_at: float | None = None
        self._trusted_s = (session_timeout_ms - heartbeat_ms) / 1000
        self._options = {"max_poll_records": max_records, "session_timeout_ms": session_timeout_ms,
                         "heartbeat_interval_ms": heartbeat_ms, "auto_offset_reset": "none"}
        self.lag = LagGauge(topic, gid)

    async def start(self, since_ms: int) -> None:
        """Anchor a new group (as the bus does), then join it; KafkaError/OSError propagate (the host retries)."""
        await self.bus._anchor(self.topic, self.gid, since_ms)
        consumer = self.bus._consumer(self.gid, **self._options)
        consumer.subscribe([self.topic], listener=_MemberRebalance(self))
        try:
            await consumer.start()
        except BaseException:
            with contextlib.suppress(Exception):
                await consumer.stop()
            raise
        self.consumer = consumer
        self._count_heartbeats(consumer)

    def _count_heartbeats(self, consumer: AIOKafkaConsumer) -> None:
        # aiokafka keeps its last good heartbeat to itself: wrap the coordinator's heartbeat call (private API,
        # checked by tests/integration/test_kafka_rules_failover.py's pause test). Without it nothing is proven
        # after the first sync, and saves stop after a session: loud, never stale.
        coordinator = getattr(consumer, "_coordinator", None)
        beat = getattr(coordinator, "_do_heartbeat", None)
        if beat is None:
            log.error("consumer %s: aiokafka's heartbeat is not where expected; membership is proven by syncs only",
                      self.gid)
            return

        async def counted() -> bool:
            ok = await beat()
            if ok:
                self.proven()
            return ok

        coordinator._do_heartbeat = counted

    def proven(self) -> None:
        """The coordinator counted us a member just now."""
        self._proven_at = time.monotonic()

    def certainly_member(self) -> bool:
        """True while the coordinator cannot have evicted us: it counted us a member less than a session timeout
        minus one heartbeat ago (a frozen process finds this False when it wakes, before its first heartbeat)."""
        return self._proven_at is not None and time.monotonic() - self._proven_at < self._trusted_s

    async def fetch(self, timeout_ms: int) -> tuple[int, dict[int, list[tuple[int, str, bytes]]]]:
        """(generation before the fetch, {partition: [(offset, key, value), ...]}); {} on a fetch error."""
        assert self.consumer is not None
        generation = self.generation
        try:
            batch = await self.consumer.getmany(timeout_ms=timeout_ms)
        except NoOffsetForPartitionError as err:  # a partition added after anchoring: it starts empty
            await self.consumer.seek_to_beginning(*[a for a in err.args if isinstance(a, TopicPartition)])
            return generation, {}
        except OffsetOutOfRangeError as err:  # retention deleted unread events: nothing to do but go on
            log.error("consumer %s on %s: offsets out of range, unread events were deleted", self.gid, self.topic)
            await self.consumer.seek_to_beginning(*[tp for tp in (err.args[0] if err.args else {})
                                                    if isinstance(tp, TopicPartition)])
            return generation, {}
        except KafkaError as err:
            log.warning("%s", self.bus._fail(f"consumer {self.gid} fetch", err))
            return generation, {}
        await self.lag.maybe_report(self.consumer)
        return generation, {tp.partition: [(r.offset, r.key.decode() if r.key else "", r.value) for r in records]
                            for tp, records in batch.items()}

    async def committed(self, partitions: set[int]) -> dict[int, int]:
        """The group's committed next-offset per partition (the position for one without a commit)."""
        assert self.consumer is not None
        out = {}
        for p in partitions:
            tp = TopicPartition(self.topic, p)
            committed = await self.consumer.committed(tp)
            out[p] = committed if committed is not None else await self.consumer.position(tp)
        return out

    def assigned(self) -> set[int]:
        """Partitions this member holds now."""
        return {tp.partition for tp in self.consumer.assignment()} if self.consumer is not None else set()

    def pause(self, partitions: set[int]) -> None:
        """Fetch nothing more from these partitions until resume() (their host is not ready for them)."""
        if self.consumer is not None:
            self.consumer.pause(*[TopicPartition(self.topic, p) for p in partitions])

    def resume(self, offsets: dict[int, int]) -> None:
        """Fetch from these partitions again (those still assigned), from the given next offsets.

        The position is set explicitly: a partition paused as it was assigned never had one looked up, and
        aiokafka does not look it up for a paused partition (it would stay silent after resume)."""
        if self.consumer is not None:
            held = self.consumer.assignment()
            for p, offset in offsets.items():
                tp = TopicPartition(self.topic, p)
                if tp in held:
                    self.consumer.seek(tp, offset)
                    self.consumer.resume(tp)

    def highwater(self, partition: int) -> int | None:
        """The partition's end offset as of the last fetch (None before one)."""
        assert self.consumer is not None
        return self.consumer.highwater(TopicPartition(self.topic, partition))

    async def commit(self, offsets: dict[int, int]) -> bool:
        """Commit next-offsets per partition; False (kept by the caller for the next try) on a failure."""
        if not offsets or self.consumer is None:
            return True
        try:
            await asyncio.wait_for(self.consumer.commit({TopicPartition(self.topic, p): o
                                                         for p, o in offsets.items()}), COMMIT_TIMEOUT_S)
            return True
        except (KafkaError, asyncio.TimeoutError) as err:
            log.warning("%s", self.bus._fail(f"commit of group {self.gid}", err))
            return False

    async def stop(self) -> None:
        """Leave the group (revocation callbacks run first: the host saves and commits)."""
        consumer, self.consumer = self.consumer, None
        self.lag.forget()
        if consumer is not None:
            await consumer.stop()


async def read_to_end(bootstrap: str, topic: str, partitions: set[int], client_id: str = "telecare",
                      timeout_s: float = 60.0) -> dict[str, bytes | None]:
    """The latest value per key in these partitions of a (compacted) topic, read from the start to its end now."""
    if not partitions:
        return {}
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, client_id=client_id, enable_auto_commit=False,
                                group_id=None, auto_offset_reset="earliest",
                                max_partition_fetch_bytes=4 * 1024 * 1024)
    latest: dict[str, bytes | None] = {}
    try:
        await consumer.start()
        tps = [TopicPartition(topic, p) for p in sorted(partitions)]
        consumer.assign(tps)
        ends = await consumer.end_offsets(tps)
        starts = await consumer.beginning_offsets(tps)
        for tp in tps:  # explicit: a lazy seek_to_beginning can race the first position lookup
            consumer.seek(tp, starts[tp])
        # Done with a partition once a record at or past end-1 was read (not by position(): records count).
        left = {tp for tp in tps if ends[tp] > starts[tp]}
        # A deadline on progress, not on the whole read: a million states take longer than a minute to read
        # on a slow box, but a read that gets nothing for `timeout_s` is stuck.
        deadline = time.monotonic() + timeout_s
        while left:
            if time.monotonic() > deadline:
                raise KafkaError(f"reading {topic} to its end: nothing received for {timeout_s:.0f}s")
            for tp, records in (await consumer.getmany(*left, timeout_ms=500)).items():
                if records:
                    deadline = time.monotonic() + timeout_s
                for r in records:
                    if r.offset < ends[tp] and r.key:
                        latest[r.key.decode()] = r.value
                if records and records[-1].offset >= ends[tp] - 1:
                    left.discard(tp)
    finally:
        with contextlib.suppress(Exception):
            await consumer.stop()
    return latest
