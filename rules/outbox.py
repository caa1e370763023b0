"""The rules' way out to alerts: verdicts sent from their own task, in order, refused ones kept for a retry."""
from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from datetime import datetime

from telecare.alerts import AlertClear, AlertTrigger, VerdictSink
from telecare.errors import StoreError
from telecare.metrics import RULES_ERRORS

log = logging.getLogger(__name__)

Verdicts = Sequence[AlertTrigger | AlertClear]
# Verdict batches (one per event or timer tick that produced any) waiting for the sender. Full means the alert
# store is far behind: evaluation then waits for it rather than holding an unbounded backlog in memory.
QUEUE_SIZE = 10_000


class OutboxStopped(RuntimeError):
    """The sending task is not running any more (it died, or it was stopped)."""


class AlertOutbox:
    """Sends verdicts to the VerdictSink (the alert store, or the alert-triggers topic); what it refuses waits for
    `retry()` (never lose an alert). Before `start()` a send is awaited inline; after it, a dedicated task sends
    them in the order handed in (so per resident too), and evaluation goes on while the store commits."""

    def __init__(self, sink: VerdictSink, *, queue_size: int = QUEUE_SIZE) -> None:
        self._sink = sink
        self._retry: list[AlertTrigger | AlertClear] = []
        self._queue: asyncio.Queue[tuple[Verdicts, datetime]] = asyncio.Queue(queue_size)
        self._task: asyncio.Task[None] | None = None
        self._queued = self._sent = 0  # batches handed to the task / batches it finished (sent or kept)
        self._progress = asyncio.Event()  # set whenever _sent moves or the task ends

    @property
    def pending(self) -> int:
        """Verdicts the sink refused, waiting for the next retry."""
        return len(self._retry)

    @property
    def queued(self) -> int:
        """Verdict batches handed to the sending task and not finished yet."""
        return self._queued - self._sent

    def start(self) -> asyncio.Task[None]:
        """Run the sending task (its end, other than by stop(), is the caller's to report)."""
        if self._task is None or self._task.done():
            self._task = asyncio.create_task(self._run(), name="rules-alert-outbox")
            self._task.add_done_callback(lambda _: self._progress.set())
        return self._task

    async def stop(self) -> None:
        """Send what is queued, then end the task; later sends are inline again."""
        task = self._task
        if task is None:
            return
        try:
            if not task.done():
                await self.sent_through(self._queued)
        finally:
            self._task = None
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)

    async def send(self, verdicts: Verdicts, now: datetime) -> None:
        """Raise (or attach) each trigger and clear each ended condition; keep the refused ones."""
        if not verdicts:
            return
        task = self._task
        if task is None:
            await self._deliver(verdicts, now, isolate=False)  # the caller isolates its event or timer
            return
        if task.done():
            raise OutboxStopped("the alert outbox task is not running")
        self._queued += 1
        await self._queue.put((verdicts, now))

    def mark(self) -> int:
        """A point in the stream of verdicts handed in so far (for `sent_through`)."""
        return self._queued

    async def sent_through(self, mark: int) -> None:
        """Return once every verdict handed in before `mark()` returned `mark` is sent (or kept for a retry)."""
        while self._sent < mark:
            if self._task is None or self._task.done():
                raise OutboxStopped("the alert outbox task is not running")
            self._progress.clear()  # no await between the check and the wait: the task cannot slip in
            await self._progress.wait()

    async def retry(self, now: datetime) -> None:
        """Send the refused verdicts again."""
        if self._retry:
            retry, self._retry = self._retry, []
            await self.send(retry, now)

    async def _run(self) -> None:
        while True:
            verdicts, now = await self._queue.get()
            await self._deliver(verdicts, now, isolate=True)  # what escapes kills the task: saves then fail
            self._sent += 1
            self._progress.set()

    async def _deliver(self, verdicts: Verdicts, now: datetime, *, isolate: bool) -> None:
        for verdict in verdicts:
            try:
                if isinstance(verdict, AlertClear):  # a technical condition ended: the store closes its alert
                    await self._sink.clear(verdict, now)
                else:
                    await self._sink.raise_or_attach(verdict, now)
            except StoreError as err:
                self._retry.append(verdict)
                RULES_ERRORS.labels("alert_store").inc()
                log.error("could not raise or clear %s alert for resident %s: %s", verdict.type.value,
                          verdict.resident_id, err)
            except Exception as err:  # noqa: BLE001 - a bug for one verdict must not stop every other alarm
                if not isolate:
                    raise
                RULES_ERRORS.labels("internal_error").inc()
                log.error("sending %s verdict for resident %s failed: %s; dropped", verdict.type.value,
                          verdict.resident_id, type(err).__name__)
