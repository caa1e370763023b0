"""MQTT -> normalize -> sink -> ack -> bus. The edge: all logic lives in normalize and sink."""
from __future__ import annotations

import asyncio
import logging
import time
from collections import deque
from collections.abc import Callable, Sequence

from ingest.alarm_lane import AlarmLane
from ingest.normalize import needed_ids, normalize
from ingest.sink import EventSink, StoreResult
from ingest.topics import ALARM_EVENT_TYPES, ALARM_FILTERS, SUBTREE_FILTER, DeviceTopic, is_alarm_topic, parse_topic
from telecare import metrics
from telecare.bus import EVENTS, Bus
from telecare.clock import Clock
from telecare.errors import StoreError
from telecare.events import Event, RawMessage, Rejected
from telecare.mqtt import MqttSubscriber
from telecare.mqtt_sessions import MqttSessions
from telecare.people import Device, DeviceLookup
from telecare.store import Database

log = logging.getLogger(__name__)

MAX_BACKOFF_S = 5.0
URGENT_EVENT_TYPES = frozenset(ALARM_EVENT_TYPES)  # stored in their own lane (AlarmLane), never batched
GIVE_UP_ON_STOP = 3  # failed attempts before stop() leaves a batch to the broker's redelivery


def is_data_error(err: StoreError) -> bool:
    """The database refused the data itself (SQLSTATE class 22/23), not a passing outage."""
    state = getattr(err.__cause__, "sqlstate", None) or ""
    return state[:2] in ("22", "23")


def ingest_sessions(mqtt_url: str, client_id: str, on_message: Callable[[RawMessage], None],
                    clock: Clock) -> MqttSessions:
    """Ingest's two persistent, non-shared MQTT sessions (docs/protocol.md, "Subscriptions").

    `<client_id>-alarms` holds only alarm topics, so a help press never queues behind a telemetry
    backlog; `<client_id>` holds the whole `telecare/v1/#` subtree. Both are plain subscriptions:
    mosquitto does not save `$share` subscriptions in its persistence file, so a shared one is gone
    after a broker restart and everything published before ingest re-subscribes is dropped.
    """
    alarm_id, main_id = session_ids(client_id)
    alarms = MqttSubscriber(mqtt_url, alarm_id, [(f, 1) for f in ALARM_FILTERS], on_message, clock=clock)
    # The alarm session holds every alarm (its subscription exists before the main one's), so the main
    # session's copies are acknowledged unread: one dead letter per bad alarm, no duplicate counts.
    main = MqttSubscriber(mqtt_url, main_id, [(SUBTREE_FILTER, 1)], on_message, clock=clock, skip=is_alarm_topic)
    return MqttSessions([alarms, main])


def session_ids(client_id: str) -> tuple[str, str]:
    """The MQTT client ids of ingest's (alarm, main) sessions for TELECARE_MQTT_CLIENT_ID `client_id`."""
    return f"{client_id}-alarms", client_id


class IngestService:
    """Subscribes (alarm + main session), batches by size/time, stores, acks, then publishes to the bus."""

    def __init__(self, mqtt_url: str, db: Database, bus: Bus, lookup: DeviceLookup, clock: Clock, *,
                 client_id: str = "telecare-ingest-1", batch_size: int = 500, batch_ms: int = 50) -> None:
        self._sink = EventSink(db)
        self._bus = bus
        self._lookup = lookup
        self._clock = clock
        self._batch_size = batch_size
        self._batch_s = batch_ms / 1000
        self._pending: deque[RawMessage] = deque()
        self._wakeup = asyncio.Event()
        self._full = asyncio.Event()
        self._stopping = False
        self._task: asyncio.Task[None] | None = None
        self._alarms = AlarmLane(self._handle)
        self._mqtt = ingest_sessions(mqtt_url, client_id, self._enqueue, clock)

    @property
    def connected(self) -> bool:
        """True while both MQTT sessions are connected (paho reconnects within 2 s after a loss)."""
        return self._mqtt.connected

    def _enqueue(self, raw: RawMessage) -> None:
        # Runs on the event loop (handed over by the MQTT thread); only buffers.
        if _urgent(raw.topic):  # its own lane: not behind the telemetry batches in hand
            self._alarms.put(raw)
            return
        self._pending.append(raw)
        self._wakeup.set()
        if len(self._pending) >= self._batch_size:
            self._full.set()

    async def start(self) -> None:
        """Start the batch loop, then connect and subscribe (BrokerError if the broker is unreachable)."""
        self._stopping = False
        self._task = asyncio.create_task(self._run(), name="ingest")
        self._alarms.start()
        try:
            await self._mqtt.start()
        except BaseException:
            self._task.cancel()
            self._alarms.cancel()
            raise

    async def stop(self) -> None:
        """Finish the batch in hand, then disconnect; unacked messages stay queued at the broker."""
        self._stopping = True
        self._wakeup.set()
        if self._task is not None:
            await self._task
        await self._alarms.stop()
        await self._mqtt.stop()

    async def _next_batch(self) -> list[RawMessage]:
        while not self._pending and not self._stopping:
            self._wakeup.clear()
            await self._wakeup.wait()
        # _full is set by _enqueue when the batch is full: then go without waiting.
        if not self._full.is_set() and not self._stopping:
            try:
                await asyncio.wait_for(self._full.wait(), self._batch_s)
            except TimeoutError:
                pass
        self._full.clear()
        batch = [self._pending.popleft() for _ in range(min(len(self._pending), self._batch_size))]
        if len(self._pending) >= self._batch_size:
            self._full.set()
        return batch

    async def _run(self) -> None:
        # Two-stage pipeline: normalize batch k+1 while batch k is being stored; commits stay in order.
        inflight: asyncio.Task[None] | None = None
        while not self._stopping:
            batch = await self._next_batch()
            if not batch:
                continue
            try:
                results = await self._normalize(batch)
            except StoreError:
                results = None  # registry unreachable: _handle retries with backoff
            if inflight is not None:
                await self._settle(inflight)
            inflight = asyncio.create_task(self._handle(batch, results))
        if inflight is not None:
            await self._settle(inflight)

    async def _settle(self, task: asyncio.Task[None]) -> None:
        try:
            await task
        except Exception:  # noqa: BLE001 - a bug must not stop ingest; the broker redelivers unacked messages
            log.exception("ingest batch failed unexpectedly")

    async def _handle(self, batch: list[RawMessage], results: list | None = None) -> None:
        failures = 0
        one_by_one = False
        stored: list[Event] = []  # new events already committed in one-by-one mode, kept across retries
        while True:
            started = time.perf_counter()
            try:
                if results is None:
                    results = await self._normalize(batch)
                if one_by_one:
                    result = await self._store_one_by_one(results, stored)
                else:
                    result = await self._sink.store(*_split(r for _, r in results))
                break
            except StoreError as err:
                if is_data_error(err) and not one_by_one:
                    one_by_one = True  # a row the database refuses: find it, park it, store the rest
                    continue
                # Nothing was acked: the broker keeps the messages; retry with capped backoff.
                failures += 1
                metrics.INGEST_STORE_RETRIES.inc()
                results = None  # look the devices up again too
                delay = min(MAX_BACKOFF_S, 0.05 * 2 ** failures)
                log.warning("ingest batch of %d not stored (%s); retry %d in %.2fs", len(batch), err, failures, delay)
                if self._stopping and failures > GIVE_UP_ON_STOP:
                    return  # shutting down: the broker redelivers them to the next ingest process
                await asyncio.sleep(delay)
        metrics.INGEST_BATCH_SECONDS.observe(time.perf_counter() - started)
        for raw in batch:
            self._mqtt.ack(raw.ack_token)
        self._count(result)
        for event in result.new:
            await self._bus.publish(EVENTS, event.resident_id, event)

    async def _normalize(self, batch: Sequence[RawMessage]) -> list[tuple[RawMessage, Event | Rejected]]:
        ids = {i for raw in batch for i in needed_ids(raw.topic)}
        view: dict[str, Device] = {}
        for device_id in ids:
            device = await self._lookup.device(device_id)
            if device is not None:
                view[device_id] = device
        return [(raw, normalize(raw, view)) for raw in batch]

    async def _store_one_by_one(self, results: list[tuple[RawMessage, Event | Rejected]],
                                new: list[Event]) -> StoreResult:
        rejects = [r for _, r in results if isinstance(r, Rejected)]
        if rejects:
            await self._sink.dead_letter(rejects)
        duplicates = 0
        for raw, event in results:
            if isinstance(event, Rejected):
                continue
            if event in new:
                continue  # committed before a retry
            try:
                one = await self._sink.store([event], [])
            except StoreError as err:
                if not is_data_error(err):
                    raise
                # The database answers yet refuses this row: park it and go on.
                log.error("event %s from gateway %s cannot be stored; dead-lettered", event.id, event.gateway_id)
                bad = Rejected(raw.topic, raw.payload, "unstorable", raw.received_at, event.gateway_id, event.device_id)
                await self._sink.dead_letter([bad])
                rejects.append(bad)
                continue
            new.extend(one.new)
            duplicates += one.duplicates
        return StoreResult(tuple(new), duplicates, tuple(rejects))

    def _count(self, result: StoreResult) -> None:
        metrics.INGEST_MESSAGES.labels("accepted").inc(len(result.new))
        metrics.INGEST_MESSAGES.labels("duplicate").inc(result.duplicates)
        metrics.INGEST_MESSAGES.labels("rejected").inc(len(result.rejected))
        for r in result.rejected:
            metrics.INGEST_REJECTIONS.labels(r.reason).inc()
            log.info("rejected message: reason=%s gateway=%s device=%s", r.reason, r.gateway_id, r.device_id)


def _urgent(topic: str) -> bool:
    """An alarm a person raised or a fall: store it now instead of waiting for the batch to fill."""
    parsed = parse_topic(topic)
    return isinstance(parsed, DeviceTopic) and parsed.event_type in URGENT_EVENT_TYPES


def _split(results) -> tuple[list[Event], list[Rejected]]:
    events: list[Event] = []
    rejects: list[Rejected] = []
    for item in results:
        (events if isinstance(item, Event) else rejects).append(item)
    return events, rejects
