"""Live fan-out: ONE bus subscription on `alerts`, copied to a bounded queue per connected browser.

When the bus says the feed is lost, every browser is told (a LiveStatus item: the page stops saying
"Live"); when it resumes, every browser is told to reload, so its queue is true again.
"""
from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from telecare.alerts import AlertChange, decode_alert_change
from telecare.bus import ALERTS, Bus, FeedGap, FeedState
from telecare.health import Health, PartState
from telecare.metrics import LIVE_CLIENTS, LIVE_DROPPED

log = logging.getLogger(__name__)

Render = Callable[[AlertChange], Awaitable[dict[str, Any]]]

# Sentinel put in a client's queue when it fell behind: the browser must reload its snapshot.
RELOAD = object()
PART = "live_stream"


@dataclass(frozen=True, slots=True)
class LiveStatus:
    """Put in every browser's queue when the stream stops (live=False) receiving changes."""

    live: bool
    detail: str


class LiveClient:
    """One browser's queue. `dropped` is set when it fell too far behind."""

    def __init__(self, queue_size: int) -> None:
        self.queue: asyncio.Queue[Any] = asyncio.Queue(queue_size)
        self.dropped = False

    async def get(self) -> Any:
        """The next rendered change, RELOAD, or a LiveStatus."""
        return await self.queue.get()


class LiveHub:
    """Consumes the bus group `web` once and fans each rendered change out without ever blocking."""

    def __init__(self, bus: Bus, render: Render, *, group: str = "web", queue_size: int = 256,
                 health: Health | None = None) -> None:
        self._bus = bus
        self._health = health or Health()
        self.live = True  # False while the bus feed is lost
        self._render = render
        self._group = group
        self._queue_size = queue_size
        self._clients: set[LiveClient] = set()
        self._task: asyncio.Task[None] | None = None

    @property
    def client_count(self) -> int:
        return len(self._clients)

    def start(self) -> None:
        """Register the bus group (so nothing is lost) and start consuming."""
        self._bus.register(ALERTS, self._group)
        self._health.report(PART, PartState.OK, "receiving")
        self._task = asyncio.create_task(self._run(), name="dashboards-live")
        self._task.add_done_callback(self._ended)

    async def stop(self) -> None:
        """Stop consuming and tell every connected browser to reconnect."""
        if self._task is not None:
            self._task.remove_done_callback(self._ended)
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        self._health.forget(PART)
        for client in list(self._clients):
            self._drop(client, reason="shutdown")

    def connect(self) -> LiveClient:
        """A new browser queue; call disconnect() when the browser goes away."""
        client = LiveClient(self._queue_size)
        self._clients.add(client)
        LIVE_CLIENTS.inc()
        return client

    def disconnect(self, client: LiveClient) -> None:
        """Forget a browser (idempotent)."""
        if client in self._clients:
            self._clients.discard(client)
            LIVE_CLIENTS.dec()

    def publish(self, payload: dict[str, Any]) -> None:
        """Hand one rendered change to every browser; a full queue drops that browser, never waits."""
        for client in list(self._clients):
            try:
                client.queue.put_nowait(payload)
            except asyncio.QueueFull:
                self._drop(client, reason="slow")

    def _drop(self, client: LiveClient, reason: str) -> None:
        client.dropped = True
        while not client.queue.empty():
            client.queue.get_nowait()
        client.queue.put_nowait(RELOAD)
        self.disconnect(client)
        LIVE_DROPPED.labels(reason).inc()
        log.info("live client dropped (%s); told to reload", reason)

    def _ended(self, task: asyncio.Task[None]) -> None:
        """The subscription ended on its own: the stream is dead, say so."""
        error = None if task.cancelled() else task.exception()
        log.error("live stream subscription ended", exc_info=error)
        self.live = False
        self._health.report(PART, PartState.FAILED, "the live stream stopped")
        self.publish(LiveStatus(False, "the live stream stopped"))

    def _feed(self, gap: FeedGap) -> None:
        """Lost: tell every browser the stream is not receiving. Resumed: every browser reloads its snapshot."""
        if gap.state is FeedState.LOST:
            self.live = False
            self._health.report(PART, PartState.RECONNECTING, "bus feed lost")
            log.warning("live stream lost its bus feed; browsers told")
            self.publish(LiveStatus(False, "not receiving changes; reconnecting"))
            return
        self.live = True
        self._health.report(PART, PartState.OK, "receiving")
        for client in list(self._clients):
            self._drop(client, reason="gap")

    async def _run(self) -> None:
        async for message in self._bus.subscribe(ALERTS, self._group, gaps=True):
            if isinstance(message.value, FeedGap):
                self._feed(message.value)
                continue
            try:
                change = message.value
                if isinstance(change, bytes | str):
                    change = decode_alert_change(change.encode() if isinstance(change, str) else change)
                if not isinstance(change, AlertChange):
                    raise TypeError(f"unexpected {type(change).__name__} on {ALERTS}")
                payload = await self._render(change)
            except Exception:  # noqa: BLE001 - one bad message must not stop the live screen
                LIVE_DROPPED.labels("bad_message").inc()
                log.exception("live stream skipped a message it could not render")
                continue
            self.publish(payload)
