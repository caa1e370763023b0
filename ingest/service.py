"""MQTT -> normalize -> sink -> ack -> bus. The edge: all logic lives in normalize, sink and the pipeline."""
from __future__ import annotations

import asyncio
import logging
import time
from collections import deque
from collections.abc import Callable
from typing import Any

from ingest.alarm_lane import AlarmLane
from ingest.pipeline import BatchPipeline, is_data_error
from ingest.sink import EventSink
from ingest.topics import ALARM_EVENT_TYPES, ALARM_FILTERS, SUBTREE_FILTER, DeviceTopic, is_alarm_topic, parse_topic
from telecare import metrics
from telecare.bus import EVENTS, Bus
from telecare.clock import Clock
from telecare.errors import BusError, StoreError
from telecare.events import Event, RawMessage, Rejected
from telecare.health import Health, PartState
from telecare.mqtt import MqttSubscriber
from telecare.mqtt_sessions import MqttSessions
from telecare.people import DeviceLookup
from telecare.store import Database

log = logging.getLogger(__name__)

MAX_BACKOFF_S = 5.0
URGENT_EVENT_TYPES = frozenset(ALARM_EVENT_TYPES)  # stored in their own lane (AlarmLane), never batched
GIVE_UP_ON_STOP = 3  # failed attempts before stop() leaves a batch to the broker's redelivery
PART = "ingest"  # this loop's name in the Health registry (/healthz, the CLI's exit message)


def ingest_sessions(mqtt_url: str, client_id: str, on_message: Callable[[RawMessage], None],
                    clock: Clock, *, password: str | None = None) -> MqttSessions:
    """Ingest's two persistent, non-shared MQTT sessions (docs/protocol.md, "Subscriptions").

    `<client_id>-alarms` holds only alarm topics, so a help press never queues behind a telemetry
    backlog; `<client_id>` holds the whole `telecare/v1/#` subtree. Both are plain subscriptions:
    mosquitto does not save `$share` subscriptions in its persistence file, so a shared one is gone
    after a broker restart and everything published before ingest re-subscribes is dropped.
    With `password`, each session logs in as its own client id (ingest's accounts `<client_id>-alarms` and
    `<client_id>`, allowed to read `telecare/v1/#`): the broker replaces every client id by the username
    (`use_username_as_clientid`), so no other account can take these sessions over (docs/protocol.md, "Client
    ids bound to accounts"). Without it: the URL's user:pass, or anonymous (the test suite's shared broker).
    """
    alarm_id, main_id = session_ids(client_id)
    alarms = MqttSubscriber(mqtt_url, alarm_id, [(f, 1) for f in ALARM_FILTERS], on_message, clock=clock,
                            **_login(alarm_id, password))
    # The alarm session holds every alarm (its subscription exists before the main one's), so the main
    # session's copies are acknowledged unread: one dead letter per bad alarm, no duplicate counts.
    main = MqttSubscriber(mqtt_url, main_id, [(SUBTREE_FILTER, 1)], on_message, clock=clock, skip=is_alarm_topic,
                          **_login(main_id, password))
    return MqttSessions([alarms, main])


def _login(session_id: str, password: str | None) -> dict[str, str | None]:
    # One account per session: two sessions sharing a username would be forced onto one client id and
    # take each other over in a loop.
    return {"username": session_id if password is not None else None, "password": password}


def session_ids(client_id: str) -> tuple[str, str]:
    """The MQTT client ids of ingest's (alarm, main) sessions for TELECARE_MQTT_CLIENT_ID `client_id`."""
    return f"{client_id}-alarms", client_id


class IngestService:
    """Subscribes (alarm + main session), batches by size/time, stores, acks, then publishes to the bus."""

    def __init__(self, mqtt_url: str, db: Database, bus: Bus, lookup: DeviceLookup, clock: Clock, *,
                 client_id: str = "telecare-ingest-1", batch_size: int = 500, batch_ms: int = 50,
                 health: Health | None = None, mqtt_password: str | None = None, sink: Any = None) -> None:
        self._sink = sink or EventSink(db)  # on Kafka: KafkaEventSink, which publishes the events itself
        self._publishes = bool(getattr(self._sink, "publishes", False))
        self._pipeline = BatchPipeline(self._sink, lookup)
        self._bus = bus
        self._clock = clock
        self._batch_size = batch_size
        self._batch_s = batch_ms / 1000
        self._pending: deque[RawMessage] = deque()
        self._wakeup = asyncio.Event()
        self._full = asyncio.Event()
        self._stopping = False
        self._task: asyncio.Task[None] | None = None
        self._health = health
        self._broken = False  # a batch task raised: the loop must end now, not at the next message
        self._alarms = AlarmLane(self._handle)
        self._mqtt = ingest_sessions(mqtt_url, client_id, self._enqueue, clock, password=mqtt_password)

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
        self._stopping = self._broken = False
        self._report(PartState.STARTING)
        self._task = asyncio.create_task(self._run(), name=PART)
        self._task.add_done_callback(self._loop_ended)
        self._alarms.start().add_done_callback(self._loop_ended)
        try:
            await self._mqtt.start()
        except BaseException:
            self._task.cancel()
            self._alarms.cancel()
            raise
        if not self._task.done():  # a loop that already died stays FAILED
            self._report(PartState.OK)

    @property
    def loop_task(self) -> asyncio.Task[None] | None:
        """The processing loop, for the composition root to watch (it ends only by stop() or a bug)."""
        return self._task

    def _report(self, state: PartState, detail: str = "") -> None:
        if self._health is not None:
            self._health.report(PART, state, detail)

    def _loop_ended(self, task: asyncio.Task[None]) -> None:
        if task.cancelled() or task.exception() is None:
            if self._stopping and self._health is not None:
                self._health.forget(PART)
            return
        # Type only: an exception's text may quote the message that caused it.
        name = type(task.exception()).__name__
        log.error("ingest loop %s died: %s", task.get_name(), name)
        self._report(PartState.FAILED, f"processing loop died: {name}")

    async def stop(self) -> None:
        """Finish the batch in hand, then disconnect; unacked messages stay queued at the broker."""
        self._stopping = True
        self._wakeup.set()
        if self._task is not None:
            # A loop that died was reported (health, log) when it ended; stopping must still disconnect.
            await asyncio.gather(self._task, return_exceptions=True)
        await self._alarms.stop()
        await self._mqtt.stop()

    async def _next_batch(self) -> list[RawMessage]:
        while not self._pending and not self._stopping and not self._broken:
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
            if inflight is not None and inflight.done():
                await inflight  # re-raises at once if that batch failed (see _batch_ended)
            if not batch:
                continue
            try:
                results = await self._pipeline.normalize(batch)
            except StoreError:
                results = None  # registry unreachable: _handle retries with backoff
            if inflight is not None:
                # _handle isolates each message's failure; what escapes it is a bug in ingest itself, and
                # unacked messages would hold the broker's in-flight window: die loudly (health, exit code).
                await inflight
            inflight = asyncio.create_task(self._handle(batch, results))
            inflight.add_done_callback(self._batch_ended)
        if inflight is not None:
            await inflight

    def _batch_ended(self, task: asyncio.Task[None]) -> None:
        if not task.cancelled() and task.exception() is not None:
            self._broken = True
            self._wakeup.set()

    async def _handle(self, batch: list[RawMessage], results: list | None = None) -> None:
        failures = 0
        one_by_one = False
        stored: list[Event] = []  # new events already committed in one-by-one mode, kept across retries
        parked: dict[int, Rejected] = {}  # batch index -> its dead letter, already written in one-by-one mode, kept across retries
        while True:
            started = time.perf_counter()
            try:
                if results is None:
                    results = await self._pipeline.normalize(batch)
                if one_by_one:
                    result = await self._pipeline.store_one_by_one(results, stored, parked)
                else:
                    result = await self._pipeline.store(results)
                break
            except (StoreError, BusError) as err:
                if isinstance(err, StoreError) and is_data_error(err) and not one_by_one:
                    one_by_one = True  # a row the database refuses: find it, park it, store the rest
                    continue
                # Nothing was acked: the broker keeps the messages; retry with capped backoff.
                failures += 1
                metrics.INGEST_STORE_RETRIES.inc()
                results = None  # look the devices up again too
                delay = min(MAX_BACKOFF_S, 0.05 * 2 ** failures)
                log.warning("ingest batch of %d not stored (%s); retry %d in %.2fs", len(batch), err, failures, delay)
                if not self._stopping:  # /healthz must not say ok while nothing gets through
                    self._report(PartState.RECONNECTING, f"batch not stored: {type(err).__name__}")
                if self._stopping and failures > GIVE_UP_ON_STOP:
                    return  # shutting down: the broker redelivers them to the next ingest process
                await asyncio.sleep(delay)
            except Exception as err:  # noqa: BLE001 - one message's bug must not cost the batch
                if one_by_one:
                    raise  # _store_one_by_one isolates each message: this is ingest's own bug
                metrics.INGEST_INTERNAL_ERRORS.labels("store").inc()
                log.error("ingest batch of %d failed to store (%s); storing one by one", len(batch),
                          type(err).__name__)
                one_by_one = True
        metrics.INGEST_BATCH_SECONDS.observe(time.perf_counter() - started)
        if failures and not self._stopping and self._task is not None and not self._task.done():
            self._report(PartState.OK)
        for raw in batch:
            self._mqtt.ack(raw.ack_token)
        self._pipeline.count(result)
        if self._publishes:
            return  # the sink published them before the acks (the Kafka path)
        for event in result.new:
            try:
                await self._bus.publish(EVENTS, event.resident_id, event)
            except Exception as err:  # noqa: BLE001 - stored already: the rules catch up from the events table
                metrics.INGEST_INTERNAL_ERRORS.labels("publish").inc()
                log.error("event %s stored but not published: %s", event.id, type(err).__name__)


def _urgent(topic: str) -> bool:
    """An alarm a person raised or a fall: store it now instead of waiting for the batch to fill."""
    parsed = parse_topic(topic)
    return isinstance(parsed, DeviceTopic) and parsed.event_type in URGENT_EVENT_TYPES
