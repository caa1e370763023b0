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
import contextlib
import logging
import random
import time
import uuid
from collections.abc import AsyncIterator, Callable
from typing import Any

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.protocol.admin import DeleteGroupsRequest
from aiokafka.errors import KafkaError, TopicAlreadyExistsError
from aiokafka.partitioner import murmur2
from aiokafka.structs import OffsetAndMetadata

from telecare.alerts import decode_alert_change, decode_verdict, encode_alert_change, encode_verdict
from telecare.bus import ALERT_TRIGGERS, ALERTS, EVENTS, Message
from telecare.errors import BusError
from telecare.events import decode_event, encode_event
from telecare.health import Health, PartState
from telecare.kafkafeed import GroupMember, Subscription, backoff as _backoff, read_to_end, throttle_aiokafka_logs

log = logging.getLogger(__name__)

RULES_STATE = "rules-state"  # latest rule state per resident (compacted), keyed by resident id: Kafka rules hosts only

# Topic -> (encode, decode): the one table of what each topic carries on the wire.
CODECS: dict[str, tuple[Callable[[Any], bytes], Callable[[bytes], Any]]] = {
    EVENTS: (encode_event, decode_event),
    ALERTS: (encode_alert_change, decode_alert_change),
    ALERT_TRIGGERS: (encode_verdict, decode_verdict),
    RULES_STATE: (bytes, bytes),  # the rules hosts' own JSON (rules/model.py state_to_json), opaque here
}
# Topic configs beyond the defaults: the rules state is a table (latest state per resident), not a log.
TOPIC_CONFIGS: dict[str, dict[str, str]] = {
    RULES_STATE: {"cleanup.policy": "compact", "min.compaction.lag.ms": "0", "segment.ms": "600000"},
}
REGISTER_SKEW_MS = 1000
CLOSE_TIMEOUT_S = 10.0
ATTEMPT_TIMEOUT_S = 15.0  # one send's wait for its ack before the producer is replaced


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
        self._subscriptions: set[Subscription] = set()
        self._ephemeral: set[str] = set()  # per-process groups used, deleted on close
        self._closed = False
        throttle_aiokafka_logs()

    def group_id(self, topic: str, group: str) -> str:
        """The Kafka consumer group of a bus group on a topic: `<topic>.<group>`, plus `-<instance>` for process groups.

        One Kafka group per (topic, group), as the Bus protocol's groups are per topic: a bus group reading two
        topics must not become one Kafka group whose rebalances and offsets span both.
        """
        if group not in self._process_groups:
            return f"{topic}.{group}"
        gid = f"{topic}.{group}-{self.instance}"
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
            new = [NewTopic(t, self._partitions, self._replication, topic_configs=TOPIC_CONFIGS.get(t, {}))
                   for t in CODECS if t not in existing]
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
                                    enable_idempotence=True, linger_ms=0, request_timeout_ms=30_000)
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
            try:  # bounded per attempt: aiokafka's own wait has no deadline when its sender is stuck; a new
                # producer is tried next (a healthy ack takes milliseconds)
                await asyncio.wait_for(producer.send_and_wait(topic, payload, key=raw_key),
                                       min(ATTEMPT_TIMEOUT_S, max(0.1, deadline - time.monotonic())))
                return
            except (KafkaError, asyncio.TimeoutError) as err:
                # A retry after an unknown outcome may duplicate the message (consumers dedupe by id).
                if time.monotonic() >= deadline or self._closed:
                    raise self._fail(f"publish to {topic}", err) from err
                log.warning("%s; retry %d", self._fail(f"publish to {topic}", err), attempt + 1)
                await self._replace_producer(producer)
                await asyncio.sleep(_backoff(attempt))
                attempt += 1

    async def publish_many(self, topic: str, items: list[tuple[str, Any]]) -> None:
        """Publish (key, value) pairs pipelined (one round trip for the lot, not one each); returns when all are acked.

        Not in the Bus protocol yet: for the Kafka ingest/store paths. Sent as record batches per partition
        (aiokafka's send_batch: one future per batch, not per message; a rules host publishing a timer storm's
        verdicts and states spent a quarter of its time in per-message sends). On a failure the unacknowledged
        ones are sent again in their order, as publish() would (duplicates possible, never losses, BusError at
        the deadline).
        """
        encode, _ = self._codec(topic)
        pending = [(key.encode() if key else None, encode(value)) for key, value in items]
        deadline, attempt = time.monotonic() + self._publish_timeout_s, 0
        while pending:
            if self._producer is None:
                await self.start(max(0.0, deadline - time.monotonic()))
            producer = self._producer
            plan = _record_batches(producer.create_batch, pending, self._partitioner(topic))
            sent, failed = [], None
            try:  # each submission waits while its partition's previous batch is still queued: bounded too
                for partition, batch, _ in plan:
                    sent.append(await asyncio.wait_for(producer.send_batch(batch, topic, partition=partition),
                                                       max(0.1, deadline - time.monotonic())))
            except (KafkaError, asyncio.TimeoutError) as err:
                failed = err if isinstance(err, KafkaError) else KafkaError("send queue full at the publish deadline")
            gathered = asyncio.gather(*sent, return_exceptions=True)
            # Cancelled by the timeout below or by our caller's cancellation: nobody else reads its outcome.
            gathered.add_done_callback(lambda f: None if f.cancelled() else f.exception())
            try:  # bounded: with the broker gone aiokafka may never resolve a queued send (seen here)
                results = await asyncio.wait_for(gathered, max(0.1, deadline - time.monotonic()))
            except asyncio.TimeoutError:
                results = [f.result() if f.done() and not f.cancelled() and f.exception() is None
                           else KafkaError("no acknowledgement before the publish deadline") for f in sent]
            results += [failed] * (len(plan) - len(sent))  # never submitted
            pending = [m for (_, _, chunk), r in zip(plan, results) if isinstance(r, BaseException) for m in chunk]
            failed = failed or next((r for r in results if isinstance(r, BaseException)), None)
            if not pending:
                return
            if time.monotonic() >= deadline or self._closed:
                raise self._fail(f"publish to {topic}", failed) from failed
            log.warning("%s; %d to resend, retry %d", self._fail(f"publish to {topic}", failed), len(pending), attempt + 1)
            await self._replace_producer(producer)
            await asyncio.sleep(_backoff(attempt))
            attempt += 1

    def _partitioner(self, topic: str) -> Callable[[bytes | None], int]:
        """aiokafka's default for keyed records (murmur2 of the key); keyless ones spread at random, as its own."""
        count = self._partition_counts[topic]
        return lambda key: _keyed_partition(key, count) if key is not None else random.randrange(count)

    async def _replace_producer(self, broken: AIOKafkaProducer) -> None:
        """Drop a producer that failed a send (its idempotence state may be stale); the next publish makes one."""
        async with self._lock:
            if self._producer is broken:
                self._producer = None
                try:  # stop() flushes what it still holds: a stuck one must not hold the lock (and every publish)
                    await asyncio.wait_for(broken.stop(), CLOSE_TIMEOUT_S)
                except Exception:  # noqa: BLE001 - it is being discarded (TimeoutError included)
                    pass

    def register(self, topic: str, group: str) -> None:
        """Remember when the group was declared: its first subscribe anchors it there (see the module doc)."""
        self._codec(topic)
        self._registered.setdefault((topic, self.group_id(topic, group)), int(time.time() * 1000))

    def register_from_start(self, topic: str, group: str) -> None:
        """Like register(), but a group without commits starts at the oldest kept message, not at register time:
        for consumers that must see everything published before their very first start (the store writer, the
        alerts part), which deduplicate what they see again."""
        self._codec(topic)
        self._registered[(topic, self.group_id(topic, group))] = 0

    async def _subscription(self, topic: str, group: str, max_records: int = 500) -> tuple[Subscription, int]:
        """A subscription of (topic, bus group) and the moment its group was registered (now if never)."""
        _, decode = self._codec(topic)
        gid = self.group_id(topic, group)
        since_ms = self._registered.get((topic, gid), int(time.time() * 1000))
        await self.start()
        return Subscription(self, topic, gid, decode, f"bus:{topic}:{group}", max_records=max_records), since_ms

    async def subscribe(self, topic: str, group: str, *, gaps: bool = False) -> AsyncIterator[Message]:
        """Messages of `topic` for `group` (partitions split among the group's consumers), until close()."""
        subscription, since_ms = await self._subscription(topic, group)
        try:
            async for message in subscription.run(since_ms, gaps):
                yield message
        finally:
            await subscription.stop()

    async def subscribe_batches(self, topic: str, group: str, *, max_records: int = 500
                                ) -> AsyncIterator[list[Message]]:
        """Like subscribe(), one list per fetch (≤ max_records): offsets are committed only once the subscriber
        came back for the next list, so a batch stored in one transaction is committed after that transaction."""
        subscription, since_ms = await self._subscription(topic, group, max_records)
        try:
            async for batch in subscription.run(since_ms, False, batches=True):
                yield batch
        finally:
            await subscription.stop()

    def producer_state(self) -> dict[str, Any]:
        """How the current producer is set up and whether the broker gave it a producer id (inspection, tests)."""
        p = self._producer
        txn = getattr(p, "_txn_manager", None)  # aiokafka keeps the idempotence state there
        acks = getattr(getattr(p, "_sender", None), "_acks", None)
        return {"acks": "all" if acks == -1 else acks,
                "idempotent": txn is not None, "has_producer_id": bool(txn and txn.producer_id >= 0)}

    def partitions(self, topic: str) -> int:
        """How many partitions `topic` has (known after start())."""
        return self._partition_counts[topic]

    def partition_of(self, topic: str, key: str) -> int:
        """The partition the producer sends `key` to on `topic` (aiokafka's default partitioner: murmur2)."""
        return _keyed_partition(key.encode(), self._partition_counts[topic])

    def member(self, topic: str, group: str, on_assigned: Callable[[set[int]], Any],
               on_revoked: Callable[[set[int]], Any], **options: Any) -> GroupMember:
        """A group member that calls its host back on rebalances and commits only what it is told (rules hosts)."""
        self._codec(topic)
        return GroupMember(self, topic, self.group_id(topic, group), on_assigned, on_revoked, **options)

    async def read_table(self, topic: str, partitions: set[int]) -> dict[str, bytes | None]:
        """Latest value per key of these partitions of a compacted topic, up to its end now."""
        await self.start()
        return await read_to_end(self.bootstrap, topic, partitions, self._client_id)

    async def anchor(self, topic: str, group: str) -> None:
        """Give a group without committed offsets its starting point now (its first members will start there)."""
        await self.start()
        await self._anchor(topic, self.group_id(topic, group), self.registered_at(topic, group))

    def registered_at(self, topic: str, group: str) -> int:
        """Wall-clock ms of register() for (topic, group), or now."""
        return self._registered.get((topic, self.group_id(topic, group)), int(time.time() * 1000))

    def assigned(self, topic: str, group: str) -> set[int]:
        """Partitions of `topic` this process's consumers of `group` hold now (inspection, tests)."""
        gid = self.group_id(topic, group)
        return {tp.partition for sub in self._subscriptions if sub.topic == topic and sub.gid == gid
                and sub.consumer is not None for tp in sub.consumer.assignment()}

    def _consumer(self, gid: str, **options: Any) -> AIOKafkaConsumer:
        return AIOKafkaConsumer(bootstrap_servers=self.bootstrap, client_id=self._client_id, group_id=gid,
                                enable_auto_commit=False, **options)

    async def _anchor(self, topic: str, gid: str, since_ms: int) -> None:
        """Give a group without committed offsets its starting point: the first message at/after since_ms."""
        consumer = self._consumer(gid)
        try:
            await consumer.start()  # inside the try: a failed start must still free the client (finally)
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
            with contextlib.suppress(KafkaError, OSError):  # never mask why anchoring failed
                await consumer.stop()

    async def close(self) -> None:
        """Stop the producer and every consumer; per-process groups are deleted (nobody resumes them)."""
        self._closed = True
        self._health.forget("bus:kafka")
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
            try:  # bounded: an unreachable broker must not hold the shutdown
                await asyncio.wait_for(admin.start(), CLOSE_TIMEOUT_S)
                await asyncio.wait_for(_delete_groups(admin, groups), CLOSE_TIMEOUT_S)
            except Exception as err:  # noqa: BLE001 - the broker expires them after offsets.retention.minutes
                log.warning("could not delete per-process consumer groups %s: %s", groups, type(err).__name__)
            finally:
                await admin.close()


async def _delete_groups(admin: AIOKafkaAdminClient, groups: list[str]) -> None:
    """Kafka's DeleteGroups at each group's coordinator: aiokafka 0.14's admin client has no call for it."""
    by_node: dict[int, list[str]] = {}
    for gid in groups:
        by_node.setdefault(await admin.find_coordinator(gid), []).append(gid)
    for node, names in by_node.items():
        response = await admin._send_request(DeleteGroupsRequest(names), node)  # noqa: SLF001 - see docstring
        failed = {gid: code for gid, code in response.results if code}
        if failed:
            raise KafkaError(f"DeleteGroups refused: {failed} (Kafka error codes)")


def _keyed_partition(key: bytes, count: int) -> int:
    """The partition aiokafka's default partitioner gives a keyed record (murmur2, as the Java client)."""
    return (murmur2(key) & 0x7FFFFFFF) % count


def _record_batches(new_batch: Callable[[], Any], messages: list[tuple[bytes | None, bytes]],
                    partition_of: Callable[[bytes | None], int]) -> list[tuple[int, Any, list[tuple[bytes | None, bytes]]]]:
    """(partition, filled BatchBuilder, the messages in it) in send order: per partition in the given order, each
    batch filled up to the producer's max_batch_size (a record larger than that gets a batch of its own)."""
    by_partition: dict[int, list[tuple[bytes | None, bytes]]] = {}
    for message in messages:
        by_partition.setdefault(partition_of(message[0]), []).append(message)
    plan = []
    for partition, queued in by_partition.items():
        batch, chunk = new_batch(), []
        for key, value in queued:
            if batch.append(key=key, value=value, timestamp=None) is None:  # full: this record opens the next
                plan.append((partition, batch, chunk))
                batch, chunk = new_batch(), []
                batch.append(key=key, value=value, timestamp=None)
            chunk.append((key, value))
        plan.append((partition, batch, chunk))
    return plan
