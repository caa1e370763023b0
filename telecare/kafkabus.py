"""The Bus on Apache Kafka (aiokafka is imported here and nowhere else): partitioned, durable, at least once.

Semantics (docs/kafka.md has the reasoning):
- publish() returns once the broker acknowledged the message (idempotent producer, acks=all), keyed by
  resident id so one resident's messages stay in order on one partition.
- A consumer group resumes from its committed offsets. A group without any (its first start) is anchored
  before it consumes: each partition's offset is set to the first message published at or after the time
  register() was called (subscribe() time if it never was), minus REGISTER_SKEW_MS for clocks across hosts.
  So keeps_from_register holds across processes, and a new group never replays the topic's history.
- Offsets are committed for messages the subscriber came back for (the generator resumed), every
  COMMIT_EVERY_S and when partitions are revoked: after a crash or a rebalance a consumer sees at most the
  messages since the last commit again (duplicates, never gaps); consumers deduplicate by id.
- gaps=True: LOST when the broker stops answering, RESUMED(missed=False) when it answers again (the
  position was kept, nothing skipped); LOST+RESUMED(missed=True) when an offset was out of range (retention
  deleted unread messages) and the consumer had to jump.
"""
from __future__ import annotations

import asyncio
import logging
import time
import uuid
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime
from typing import Any

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, ConsumerRebalanceListener, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import (KafkaError, NoOffsetForPartitionError, OffsetOutOfRangeError,
                             TopicAlreadyExistsError)
from aiokafka.structs import OffsetAndMetadata

from telecare.alerts import decode_alert_change, encode_alert_change
from telecare.bus import ALERTS, EVENTS, FeedGap, FeedState, Message
from telecare.errors import BusError
from telecare.events import decode_event, encode_event
from telecare.health import Health, PartState

log = logging.getLogger(__name__)

# Topic -> (encode, decode): the one table of what each topic carries on the wire.
CODECS: dict[str, tuple[Callable[[Any], bytes], Callable[[bytes], Any]]] = {
    EVENTS: (encode_event, decode_event),
    ALERTS: (encode_alert_change, decode_alert_change),
}
REGISTER_SKEW_MS = 1000
COMMIT_EVERY_S = 1.0
COMMIT_TIMEOUT_S = 2.0
CLOSE_TIMEOUT_S = 10.0
PROBE_EVERY_S = 2.0
BACKOFF_MIN_S, BACKOFF_MAX_S = 0.1, 5.0


class _Throttle(logging.Filter):
    """Lets each aiokafka message template through once per `every_s`: an outage would log it every 100 ms."""

    def __init__(self, every_s: float = 10.0) -> None:
        super().__init__()
        self._every_s, self._last: dict[str, float] = every_s, {}

    def filter(self, record: logging.LogRecord) -> bool:
        now, key = time.monotonic(), f"{record.name}:{record.msg}"
        if now - self._last.get(key, -self._every_s) < self._every_s:
            return False
        self._last[key] = now
        return True


def _throttle_aiokafka_logs() -> None:
    # A logger's filters see only its own records (not its children's): name every module that logs.
    for name in ("aiokafka", "aiokafka.client", "aiokafka.conn", "aiokafka.cluster", "aiokafka.admin.client",
                 "aiokafka.consumer.consumer", "aiokafka.consumer.fetcher", "aiokafka.consumer.group_coordinator",
                 "aiokafka.producer.producer", "aiokafka.producer.sender"):
        target = logging.getLogger(name)
        if not any(isinstance(f, _Throttle) for f in target.filters):
            target.addFilter(_Throttle())


def _backoff(attempt: int) -> float:
    return min(BACKOFF_MAX_S, BACKOFF_MIN_S * 2 ** attempt)


async def wait_for_broker(bootstrap: str, timeout_s: float = 30.0) -> None:
    """Return once a metadata request to `bootstrap` lists a broker; BusError at the deadline."""
    deadline, last = time.monotonic() + timeout_s, "no answer"
    while time.monotonic() < deadline:
        admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap, request_timeout_ms=2000)
        try:
            await admin.start()
            if (await admin.describe_cluster()).get("brokers"):
                return
        except (KafkaError, OSError) as err:
            last = type(err).__name__
        finally:
            await admin.close()
        await asyncio.sleep(0.2)
    raise BusError(f"Kafka at {bootstrap} did not answer a metadata request in {timeout_s:.0f}s ({last})")


class KafkaBus:
    """Bus protocol on Kafka topics; `process_groups` get a per-process suffix (each web process sees everything)."""

    keeps_from_register = True

    def __init__(self, bootstrap: str, *, partitions: int = 6, replication: int = 1, client_id: str = "telecare",
                 process_groups: frozenset[str] = frozenset(), instance: str | None = None,
                 publish_timeout_s: float = 60.0, register_skew_ms: int = REGISTER_SKEW_MS,
                 health: Health | None = None) -> None:
        self.bootstrap, self._partitions, self._replication = bootstrap, partitions, replication
        self._client_id, self._process_groups = client_id, process_groups
        self.instance = instance or uuid.uuid4().hex[:12]
        self._publish_timeout_s, self._register_skew_ms = publish_timeout_s, register_skew_ms
        self._health = health or Health()
        self._registered: dict[tuple[str, str], int] = {}  # (topic, group id) -> wall-clock ms of register()
        self._producer: AIOKafkaProducer | None = None
        self._lock = asyncio.Lock()
        self._topics_ready = False
        self._partition_counts: dict[str, int] = {}
        self._subscriptions: set[_Subscription] = set()
        self._ephemeral: set[str] = set()  # per-process groups used, deleted on close
        self._closed = False
        _throttle_aiokafka_logs()

    def group_id(self, group: str) -> str:
        """The Kafka consumer group for a bus group: per process for `process_groups`."""
        if group not in self._process_groups:
            return group
        gid = f"{group}-{self.instance}"
        self._ephemeral.add(gid)
        return gid

    def _codec(self, topic: str) -> tuple[Callable[[Any], bytes], Callable[[bytes], Any]]:
        try:
            return CODECS[topic]
        except KeyError:
            raise ValueError(f"no codec for topic {topic!r}; known: {sorted(CODECS)}") from None

    def _fail(self, what: str, err: BaseException) -> BusError:
        return BusError(f"Kafka at {self.bootstrap}: {what} failed ({type(err).__name__})")

    async def start(self, timeout_s: float | None = None) -> None:
        """Create the topics (idempotent) and the producer, retrying with back-off (BusError after timeout_s)."""
        attempt, deadline = 0, None if timeout_s is None else time.monotonic() + timeout_s
        while True:
            try:
                async with self._lock:
                    if not self._topics_ready:
                        await self._create_topics()
                        self._topics_ready = True
                    if self._producer is None:
                        self._producer = await self._new_producer()
                return
            except (KafkaError, OSError) as err:
                if self._closed or (deadline is not None and time.monotonic() >= deadline):
                    raise self._fail("start", err) from err
                log.warning("%s; retry %d in %.1fs", self._fail("start", err), attempt + 1, _backoff(attempt))
                self._health.report("bus:kafka", PartState.RECONNECTING, f"start failed: {type(err).__name__}")
                await asyncio.sleep(_backoff(attempt))
                attempt += 1

    async def _create_topics(self) -> None:
        admin = AIOKafkaAdminClient(bootstrap_servers=self.bootstrap, client_id=self._client_id)
        try:
            await admin.start()
            existing = set(await admin.list_topics())
            new = [NewTopic(t, self._partitions, self._replication) for t in CODECS if t not in existing]
            if new:
                response = await admin.create_topics(new)
                for _, code, *_ in response.topic_errors:
                    if code and code != TopicAlreadyExistsError.errno:
                        raise KafkaError(f"create topics: error code {code}")
                log.info("created Kafka topics %s with %d partitions", [t.name for t in new], self._partitions)
            described = await admin.describe_topics(list(CODECS))
            self._partition_counts = {t["topic"]: len(t["partitions"]) for t in described if t.get("partitions")}
            if set(self._partition_counts) != set(CODECS):
                raise KafkaError("topics created but not described yet")
        finally:
            await admin.close()
        self._health.report("bus:kafka", PartState.OK, "connected")

    async def _new_producer(self) -> AIOKafkaProducer:
        producer = AIOKafkaProducer(bootstrap_servers=self.bootstrap, client_id=self._client_id, acks="all",
                                    enable_idempotence=True, linger_ms=2, request_timeout_ms=30_000)
        try:
            await producer.start()
        except BaseException:
            await producer.stop()
            raise
        return producer

    async def publish(self, topic: str, key: str, value: Any) -> None:
        """Send and wait for the broker's ack; retried with back-off up to publish_timeout_s, then BusError."""
        encode, _ = self._codec(topic)
        payload, raw_key = encode(value), key.encode() if key else None
        deadline, attempt = time.monotonic() + self._publish_timeout_s, 0
        while True:
            if self._producer is None:
                await self.start(max(0.0, deadline - time.monotonic()))
            producer = self._producer
            try:
                await producer.send_and_wait(topic, payload, key=raw_key)
                return
            except KafkaError as err:
                # A retry after an unknown outcome may duplicate the message (consumers dedupe by id).
                if time.monotonic() >= deadline or self._closed:
                    raise self._fail(f"publish to {topic}", err) from err
                log.warning("%s; retry %d", self._fail(f"publish to {topic}", err), attempt + 1)
                await self._replace_producer(producer)
                await asyncio.sleep(_backoff(attempt))
                attempt += 1

    async def _replace_producer(self, broken: AIOKafkaProducer) -> None:
        """Drop a producer that failed a send (its idempotence state may be stale); the next publish makes one."""
        async with self._lock:
            if self._producer is broken:
                self._producer = None
                try:
                    await broken.stop()
                except Exception:  # noqa: BLE001 - it is being discarded
                    pass

    def register(self, topic: str, group: str) -> None:
        """Remember when the group was declared: its first subscribe anchors it there (see the module doc)."""
        self._codec(topic)
        self._registered.setdefault((topic, self.group_id(group)), int(time.time() * 1000))

    async def subscribe(self, topic: str, group: str, *, gaps: bool = False) -> AsyncIterator[Message]:
        """Messages of `topic` for `group` (partitions split among the group's consumers), until close()."""
        _, decode = self._codec(topic)
        gid = self.group_id(group)
        since_ms = self._registered.get((topic, gid), int(time.time() * 1000))
        await self.start()
        subscription = _Subscription(self, topic, gid, decode, f"bus:{topic}:{group}")
        try:
            async for message in subscription.run(since_ms, gaps):
                yield message
        finally:
            await subscription.stop()

    def producer_state(self) -> dict[str, Any]:
        """How the current producer is set up and whether the broker gave it a producer id (inspection, tests)."""
        p = self._producer
        txn = getattr(p, "_txn_manager", None)  # aiokafka keeps the idempotence state there
        acks = getattr(getattr(p, "_sender", None), "_acks", None)
        return {"acks": "all" if acks == -1 else acks,
                "idempotent": txn is not None, "has_producer_id": bool(txn and txn.producer_id >= 0)}

    def assigned(self, topic: str, group: str) -> set[int]:
        """Partitions of `topic` this process's consumers of `group` hold now (inspection, tests)."""
        gid = self.group_id(group)
        return {tp.partition for sub in self._subscriptions if sub.topic == topic and sub.gid == gid
                and sub.consumer is not None for tp in sub.consumer.assignment()}

    def _consumer(self, gid: str, **options: Any) -> AIOKafkaConsumer:
        return AIOKafkaConsumer(bootstrap_servers=self.bootstrap, client_id=self._client_id, group_id=gid,
                                enable_auto_commit=False, **options)

    async def _anchor(self, topic: str, gid: str, since_ms: int) -> None:
        """Give a group without committed offsets its starting point: the first message at/after since_ms."""
        consumer = self._consumer(gid)
        await consumer.start()
        try:
            tps = [TopicPartition(topic, p) for p in range(self._partition_counts[topic])]
            consumer.assign(tps)
            missing = [tp for tp in tps if await consumer.committed(tp) is None]
            if not missing:
                return
            # End offsets first: a message appended after this read came after register(), so it is kept.
            ends = await consumer.end_offsets(missing)
            found = await consumer.offsets_for_times({tp: max(0, since_ms - self._register_skew_ms) for tp in missing})
            start = {tp: OffsetAndMetadata(min(ends[tp], found[tp].offset if found.get(tp) else ends[tp]), "")
                     for tp in missing}
            try:
                await consumer.commit(start)
            except KafkaError as err:  # the group became active meanwhile: its members hold positions
                log.info("anchoring group %s on %s skipped (%s)", gid, topic, type(err).__name__)
        finally:
            await consumer.stop()

    async def close(self) -> None:
        """Stop the producer and every consumer; per-process groups are deleted (nobody resumes them)."""
        self._closed = True
        for subscription in list(self._subscriptions):
            await subscription.stop()  # commits what its subscriber processed
        if self._producer is not None:
            producer, self._producer = self._producer, None
            try:  # stop() flushes what is still queued; a dead broker must not hold the shutdown
                await asyncio.wait_for(producer.stop(), CLOSE_TIMEOUT_S)
            except (KafkaError, asyncio.TimeoutError) as err:
                log.warning("%s", self._fail("producer flush on close", err))
        groups = sorted(self._ephemeral)
        if groups:
            admin = AIOKafkaAdminClient(bootstrap_servers=self.bootstrap, client_id=self._client_id)
            try:
                await admin.start()
                await admin.delete_consumer_groups(groups)
            except Exception as err:  # noqa: BLE001 - the broker expires them after offsets.retention.minutes
                log.info("could not delete per-process consumer groups: %s", type(err).__name__)
            finally:
                await admin.close()


class _Rebalance(ConsumerRebalanceListener):
    """Commits what was processed before partitions move; bumps a generation so prefetched records are dropped."""

    def __init__(self, sub: _Subscription) -> None:
        self._sub = sub

    async def on_partitions_revoked(self, revoked: Any) -> None:
        self._sub.generation += 1
        await self._sub.commit(set(revoked))
        for tp in revoked:  # no longer ours: whatever did not commit is the next owner's to redo
            self._sub.processed.pop(tp, None)

    async def on_partitions_assigned(self, assigned: Any) -> None:
        self._sub.generation += 1


class _Subscription:
    """One consumer-group member: fetch, decode, yield, commit; reports to Health as `part`."""

    def __init__(self, bus: KafkaBus, topic: str, gid: str, decode: Callable[[bytes], Any], part: str) -> None:
        self.bus, self.topic, self.gid, self.decode, self.part = bus, topic, gid, decode, part
        self.generation = 0
        self.processed: dict[TopicPartition, int] = {}  # next offset to commit, per partition
        self.consumer: AIOKafkaConsumer | None = None
        self.lost_at: datetime | None = None
        self._last_commit = self._last_probe = time.monotonic()

    async def _start(self, since_ms: int) -> None:
        attempt = 0
        while True:
            try:
                await self.bus._anchor(self.topic, self.gid, since_ms)
                consumer = self.bus._consumer(self.gid, auto_offset_reset="none", max_poll_records=500)
                consumer.subscribe([self.topic], listener=_Rebalance(self))
                await consumer.start()
                self.consumer = consumer
                self.bus._subscriptions.add(self)
                self.bus._health.report(self.part, PartState.OK, "consuming")
                return
            except (KafkaError, OSError) as err:
                self.bus._health.report(self.part, PartState.RECONNECTING, type(err).__name__)
                log.warning("%s; retry %d", self.bus._fail(f"consumer {self.gid} start", err), attempt + 1)
                await asyncio.sleep(_backoff(attempt))
                attempt += 1

    async def run(self, since_ms: int, gaps: bool) -> AsyncIterator[Message]:
        self.bus._health.report(self.part, PartState.STARTING, "connecting")
        await self._start(since_ms)
        consumer = self.consumer
        assert consumer is not None
        while not self.bus._closed:
            try:
                batch = await consumer.getmany(timeout_ms=500)
            except OffsetOutOfRangeError as err:
                for gap in self._jump(err.args[0] if err.args else {}):
                    if gaps:
                        yield Message(self.topic, "", gap)
                continue
            except NoOffsetForPartitionError as err:  # a partition added after anchoring: it starts empty
                consumer.seek_to_beginning(*[a for a in err.args if isinstance(a, TopicPartition)])
                continue
            except KafkaError as err:
                if self.bus._closed:
                    break
                batch = {}
                log.warning("%s", self.bus._fail(f"consumer {self.gid} fetch", err))
            gap = await self._probe(bool(batch))
            if gap is not None and gaps:
                yield Message(self.topic, "", gap)
            generation = self.generation
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

    def _jump(self, offsets: dict[TopicPartition, int]) -> list[FeedGap]:
        """Unread messages were deleted (retention): restart from the oldest kept; tell the subscriber."""
        assert self.consumer is not None
        tps = [tp for tp in offsets if isinstance(tp, TopicPartition)] or list(self.consumer.assignment())
        self.consumer.seek_to_beginning(*tps)
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
            await consumer.stop()
            self.bus._health.forget(self.part)
