"""Ingest's alarm lane: alarms are stored as they come, beside (not behind) the telemetry batches."""
from __future__ import annotations

import asyncio
import logging
from collections import deque
from collections.abc import Awaitable, Callable

from telecare.events import RawMessage

log = logging.getLogger(__name__)


class AlarmLane:
    """Hands every alarm to `handle` at once (all that arrived meanwhile together), one call at a time."""

    def __init__(self, handle: Callable[[list[RawMessage]], Awaitable[None]]) -> None:
        self._handle = handle
        self._queue: deque[RawMessage] = deque()
        self._wakeup = asyncio.Event()
        self._stopping = False
        self._task: asyncio.Task[None] | None = None

    def put(self, raw: RawMessage) -> None:
        """Queue an alarm (on the event loop)."""
        self._queue.append(raw)
        self._wakeup.set()

    def start(self) -> asyncio.Task[None]:
        """Start the lane's task (the service watches it: it ends only by stop() or a bug)."""
        self._stopping = False
        self._task = asyncio.create_task(self._run(), name="ingest-alarms")
        return self._task

    async def stop(self) -> None:
        """Handle what is queued, then end the task."""
        self._stopping = True
        self._wakeup.set()
        if self._task is not None:
            await self._task
            self._task = None

    def cancel(self) -> None:
        """End the task at once (start failed)."""
        if self._task is not None:
            self._task.cancel()

    async def _run(self) -> None:
        while True:
            if not self._queue:
                if self._stopping:
                    return
                self._wakeup.clear()
                await self._wakeup.wait()
                continue
            batch = [self._queue.popleft() for _ in range(len(self._queue))]
            # _handle isolates each message's failure; what escapes it is a bug in ingest itself: the task
            # ends with it and the service reports the part FAILED (health, exit code), never a quiet lane.
            await self._handle(batch)
