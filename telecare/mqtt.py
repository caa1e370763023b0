"""The only module that imports paho: an asyncio publisher and a manual-ack subscriber (MQTT 5, or 3.1.1)."""
from __future__ import annotations

import asyncio
import logging
import threading
from collections import deque
from collections.abc import Callable
from typing import Any
from urllib.parse import parse_qs, urlsplit

import paho.mqtt.client as paho
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties
from paho.mqtt.reasoncodes import ReasonCode
from paho.mqtt.subscribeoptions import SubscribeOptions

from telecare.clock import Clock, SystemClock
from telecare.errors import BrokerError
from telecare.events import RawMessage
from telecare.settings import mqtt_address

log = logging.getLogger(__name__)

SESSION_EXPIRY_S = 14 * 24 * 3600  # matches mosquitto's persistent_client_expiration
CONNECT_TIMEOUT_S = 10.0
# paho doubles its reconnect delay up to this cap. A subscriber (ingest) keeps it short: after a broker
# restart every second it stays away is a second of alarms waiting in its queue.
SUBSCRIBER_MAX_RECONNECT_S = 2
PUBLISHER_MAX_RECONNECT_S = 30


def is_v311(url: str) -> bool:
    """True when the URL asks for MQTT 3.1.1 (`?protocol=3.1.1`, the embedded amqtt fallback)."""
    return "3.1.1" in parse_qs(urlsplit(url).query).get("protocol", [])


def _settle_soon(loop: asyncio.AbstractEventLoop | None, fut: asyncio.Future[None] | None,
                 err: BaseException | None) -> None:
    """From paho's thread: complete `fut` on its loop (once)."""
    if fut is None or loop is None:
        return

    def settle() -> None:
        if not fut.done():
            fut.set_exception(err) if err else fut.set_result(None)

    loop.call_soon_threadsafe(settle)


def _client(url: str, client_id: str, *, manual_ack: bool = False, persistent: bool = False,
            max_reconnect_s: int = PUBLISHER_MAX_RECONNECT_S, username: str | None = None,
            password: str | None = None) -> paho.Client:
    # clean_session is a 3.1.1 notion; MQTT 5 sets clean_start and session expiry at connect.
    v3 = {"protocol": paho.MQTTv311, "clean_session": not persistent} if is_v311(url) else {"protocol": paho.MQTTv5}
    client = paho.Client(CallbackAPIVersion.VERSION2, client_id=client_id, manual_ack=manual_ack, **v3)
    # An explicit account wins over one written in the URL (mqtt://user:pass@host).
    _, _, url_user, url_password = mqtt_address(url)
    if username or url_user:
        client.username_pw_set(username or url_user, password if username else url_password)
    client.reconnect_delay_set(1, max_reconnect_s)
    # paho's defaults (20 in flight) throttle bursts; the broker caps in-flight anyway.
    client.max_inflight_messages_set(1000)
    client.max_queued_messages_set(0)
    return client


class _NoTopicCallbacks:
    """Stands in for paho's topic trie of message_callback_add callbacks: we register none, and paho walked
    the trie for every message received (~5 % of a drain's CPU, docs/performance.md)."""

    def iter_match(self, _topic: str) -> tuple[()]:
        """No per-filter callbacks: paho then calls on_message."""
        return ()

    def __setitem__(self, _filter: str, _callback: Any) -> None:
        raise NotImplementedError("telecare.mqtt routes every message through on_message")


class _Connection:
    """Shared connect/disconnect plumbing: paho's network thread, futures resolved on our loop."""

    def __init__(self, url: str, client: paho.Client, clean_start: bool, expiry: int) -> None:
        self._url, self._client, self._clean_start, self._expiry = url, client, clean_start, expiry
        self._loop: asyncio.AbstractEventLoop | None = None
        self._connected: asyncio.Future[None] | None = None
        self.generation = 0  # bumps on every (re)connect; stale ack tokens are ignored
        self.connected = False  # between a successful CONNACK and the connection's loss
        self.v311 = is_v311(url)
        client.on_connect = self._on_connect
        client.on_disconnect = self._on_disconnect

    def _on_connect(self, client: paho.Client, _u: Any, flags: Any, rc: ReasonCode, _p: Any) -> None:
        if rc.is_failure:
            log.warning("MQTT connect refused: %s", rc)
            _settle_soon(self._loop, self._connected, BrokerError(f"the MQTT broker refused the connection ({rc})"))
            return
        self.generation += 1
        self.connected = True
        self.on_connected(client, bool(getattr(flags, "session_present", False)))
        _settle_soon(self._loop, self._connected, None)

    def on_connected(self, client: paho.Client, session_present: bool) -> None:
        """Hook for subclasses (runs on paho's thread)."""

    def _on_disconnect(self, _c: Any, _u: Any, _f: Any, rc: ReasonCode, _p: Any) -> None:
        self.connected = False
        if rc.value != 0 and not getattr(self, "_closing", False):  # our own disconnect() is no loss
            log.warning("MQTT connection lost (%s); paho reconnects", rc)

    async def connect(self) -> None:
        """Connect, start paho's network thread and wait for the CONNACK."""
        self._loop = asyncio.get_running_loop()
        self._connected = self._loop.create_future()
        host, port, _, _ = mqtt_address(self._url)
        kwargs: dict[str, Any] = {}
        if not self.v311:
            props = Properties(PacketTypes.CONNECT)
            props.SessionExpiryInterval = self._expiry
            kwargs = {"clean_start": self._clean_start, "properties": props}
        try:
            # The first connect is synchronous so an unreachable broker fails fast; paho's thread
            # reconnects on its own afterwards.
            await asyncio.to_thread(self._client.connect, host, port, keepalive=30, **kwargs)
            self._client.loop_start()
            await asyncio.wait_for(asyncio.shield(self._connected), CONNECT_TIMEOUT_S)
        except (OSError, ValueError, TimeoutError, BrokerError) as err:
            self._client.loop_stop()
            if isinstance(err, BrokerError):
                raise
            raise BrokerError(f"cannot connect to the MQTT broker at {host}:{port}") from err

    async def disconnect(self) -> None:
        """Clean DISCONNECT (the will is discarded) and stop the network thread."""
        self._closing = True
        self._client.disconnect()
        await asyncio.to_thread(self._client.loop_stop)


def _unshared(topic_filter: str) -> str:
    """`$share/<group>/<filter>` -> `<filter>`."""
    return topic_filter.split("/", 2)[2] if topic_filter.startswith("$share/") else topic_filter


class MqttPublisher(_Connection):
    """Publishes with QoS 1 and can await the broker's PUBACK."""

    def __init__(self, url: str, client_id: str, *, will: tuple[str, bytes, bool] | None = None,
                 clean_start: bool = True, username: str | None = None, password: str | None = None) -> None:
        client = _client(url, client_id, persistent=not clean_start, username=username, password=password)
        if will is not None:
            topic, payload, retain = will
            client.will_set(topic, payload, qos=1, retain=retain)
        super().__init__(url, client, clean_start, 0 if clean_start else SESSION_EXPIRY_S)
        self._lock = threading.Lock()  # on_publish may run before _send() has registered the mid
        self._pending: dict[int, asyncio.Future[None] | None] = {}
        self._early: dict[int, BrokerError | None] = {}  # acked before _send registered them
        self._idle = asyncio.Event()  # set while nothing is waiting for a PUBACK
        self._idle.set()
        client.on_publish = self._on_publish

    def _on_publish(self, _c: Any, _u: Any, mid: int, rc: Any, _p: Any) -> None:
        # MQTT 5 PUBACK reason: mosquitto answers 0x87 "Not authorized" for a publish its ACL refuses (and
        # drops it); that must not look like a delivery. (3.1.1 has no reason: the broker says success.)
        err = BrokerError(f"the MQTT broker refused the publish ({rc})") if getattr(rc, "is_failure", False) else None
        with self._lock:
            if mid not in self._pending:
                self._early[mid] = err
                return
            fut = self._pending.pop(mid)
            empty = not self._pending
        if self._loop is not None:
            self._loop.call_soon_threadsafe(self._settle, fut, empty, err)

    def _settle(self, fut: asyncio.Future[None] | None, empty: bool, err: BrokerError | None = None) -> None:
        if fut is not None and not fut.done():
            fut.set_exception(err) if err else fut.set_result(None)
        elif err is not None:
            log.warning("%s", err)  # publish_nowait: nobody awaits this one
        if empty and not self._pending:
            self._idle.set()

    def _send(self, topic: str, payload: bytes, qos: int, retain: bool,
              fut: asyncio.Future[None] | None) -> None:
        # Not under self._lock: paho holds its own mutex while calling on_publish (lock order).
        info = self._client.publish(topic, payload, qos=qos, retain=retain)
        if info.rc not in (paho.MQTT_ERR_SUCCESS, paho.MQTT_ERR_NO_CONN):
            raise BrokerError(f"MQTT publish failed ({paho.error_string(info.rc)})")
        with self._lock:
            if info.mid in self._early:  # acknowledged before we got here
                err = self._early.pop(info.mid)
                if fut is not None:
                    fut.set_exception(err) if err else fut.set_result(None)
                elif err is not None:
                    log.warning("%s", err)
                return
            self._pending[info.mid] = fut
            self._idle.clear()

    async def publish(self, topic: str, payload: bytes, *, qos: int = 1, retain: bool = False) -> None:
        """Publish and, for QoS 1, wait until the broker has acknowledged it."""
        fut: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._send(topic, payload, qos, retain, fut)
        await fut

    def publish_nowait(self, topic: str, payload: bytes, qos: int = 1, retain: bool = False) -> None:
        """Queue a publish without waiting (see wait_all_published)."""
        self._send(topic, payload, qos, retain, None)

    async def wait_all_published(self, timeout: float) -> None:
        """Wait until every publish so far is acknowledged; BrokerError on timeout."""
        try:
            await asyncio.wait_for(self._idle.wait(), timeout)
        except TimeoutError as err:
            raise BrokerError(f"{len(self._pending)} MQTT publishes unacknowledged after {timeout}s") from err

    async def drop(self) -> None:
        """Leave abruptly so the broker publishes our will (simulates a gateway losing power)."""
        if not self.v311:
            self._client.disconnect(reasoncode=ReasonCode(PacketTypes.DISCONNECT, "Disconnect with will message"))
        await asyncio.to_thread(self._client.loop_stop)
        if self.v311 and (sock := self._client.socket()) is not None:
            sock.close()  # no "disconnect with will" in 3.1.1: cut the socket instead


class MqttSubscriber(_Connection):
    """QoS 1 subscriber with a persistent session; messages are acked by the caller after storing."""

    def __init__(self, url: str, client_id: str, subscriptions: list[tuple[str, int]],
                 on_message: Callable[[RawMessage], None], *, persistent: bool = True,
                 clock: Clock | None = None, skip: Callable[[str], bool] | None = None,
                 username: str | None = None, password: str | None = None) -> None:
        """`skip`: topics acknowledged at once and not handed over (another session of ours holds them)."""
        client = _client(url, client_id, manual_ack=True, persistent=persistent,
                         max_reconnect_s=SUBSCRIBER_MAX_RECONNECT_S, username=username, password=password)
        super().__init__(url, client, not persistent, SESSION_EXPIRY_S if persistent else 0)
        self._subscriptions, self._handler, self._clock = subscriptions, on_message, clock or SystemClock()
        self._skip = skip
        self._subscribed: asyncio.Future[None] | None = None
        self._inbox: deque[RawMessage] = deque()  # append/popleft are atomic across threads
        self._wake_pending = False
        client.on_message = self._on_message
        client._on_message_filtered = _NoTopicCallbacks()  # noqa: SLF001 - see _NoTopicCallbacks
        client.on_subscribe = self._on_subscribe

    def on_connected(self, client: paho.Client, session_present: bool) -> None:
        # Subscribe on every connect, even with session_present (idempotent): mosquitto restores plain
        # subscriptions from its store but not `$share` ones (docs/protocol.md, "Subscriptions"), and a
        # broker that lost its store has none. Retained messages only for a new subscription, so a
        # restart does not replay every gateway's status.
        new_only = SubscribeOptions.RETAIN_SEND_IF_NEW_SUB
        # 3.1.1 has no shared subscriptions nor subscribe options: one consumer gets everything.
        subs = ([(_unshared(t), q) for t, q in self._subscriptions] if self.v311
                else [(t, SubscribeOptions(qos=q, retainHandling=new_only)) for t, q in self._subscriptions])
        rc, _ = client.subscribe(subs)
        log.info("MQTT subscriber connected (session_present=%s, subscribe rc=%s)", session_present, rc)

    def _on_message(self, _c: Any, _u: Any, msg: paho.MQTTMessage) -> None:
        # paho's thread: only hand over. One loop wake-up per burst, not per message.
        topic = msg.topic  # a property decoding the bytes each time
        if self._skip is not None and self._skip(topic):
            if msg.qos:
                self._client.ack(msg.mid, msg.qos)
            return
        self._inbox.append(RawMessage(topic=topic, payload=bytes(msg.payload), received_at=self._clock.now(),
                                      ack_token=(self, self.generation, msg.mid, msg.qos)))
        if not self._wake_pending and self._loop is not None:
            self._wake_pending = True
            self._loop.call_soon_threadsafe(self._deliver)

    def _deliver(self) -> None:
        # The loop's side: clear the flag first, so a message appended meanwhile schedules another pass.
        self._wake_pending = False
        while self._inbox:
            self._handler(self._inbox.popleft())

    def _on_subscribe(self, _c: Any, _u: Any, _mid: int, codes: list[ReasonCode], _p: Any) -> None:
        bad = [str(c) for c in codes if c.is_failure]
        err = BrokerError(f"the MQTT broker refused a subscription ({', '.join(bad)})") if bad else None
        _settle_soon(self._loop, self._subscribed, err)

    def ack(self, token: Any) -> None:
        """Acknowledge a message (after it is safely stored); tokens of a dead connection are ignored."""
        if token is None:
            return
        owner, generation, mid, qos = token
        # A token of an earlier connection: the broker redelivers that message anyway (a duplicate for us).
        # A token of another session is a caller's bug: acking its mid here would ack a wrong message.
        if owner is self and qos and generation == self.generation and self._client.ack(mid, qos) != paho.MQTT_ERR_SUCCESS:
            log.debug("MQTT ack of mid %s not sent", mid)

    async def start(self) -> None:
        """Connect and wait for the SUBACK; reconnects (and resubscribes) happen automatically."""
        self._subscribed = asyncio.get_running_loop().create_future()
        await self.connect()
        try:
            await asyncio.wait_for(self._subscribed, CONNECT_TIMEOUT_S)
        except (TimeoutError, BrokerError) as err:
            await self.disconnect()
            if isinstance(err, BrokerError):
                raise
            raise BrokerError("the MQTT broker did not confirm our subscriptions") from err

    async def stop(self) -> None:
        """Disconnect cleanly; unacked messages stay queued in the persistent session."""
        await self.disconnect()


async def end_session(url: str, client_id: str, *, username: str | None = None,
                      password: str | None = None) -> None:
    """Discard the broker's persistent session `client_id` and its queue (retire a consumer for good)."""
    # A clean-start connect with session expiry 0 replaces the old session; the DISCONNECT ends the new one.
    conn = MqttPublisher(url, client_id, username=username, password=password)
    await conn.connect()
    await conn.disconnect()
