"""A running process's parts: wait until Ctrl-C or until one dies (then say which), and stop them in order."""
from __future__ import annotations

import asyncio
import logging
from contextlib import suppress
from dataclasses import dataclass, field
from typing import Any

from telecare.health import Health, PartState

HEALTH_POLL_S = 0.5  # how soon a part reporting FAILED (without a task we watch) stops the process


class PartFailed(Exception):
    """A part of this process died: the CLI logs which one and exits non-zero."""

    def __init__(self, part: str, detail: str) -> None:
        super().__init__(f"{part}: {detail}")
        self.part, self.detail = part, detail


log = logging.getLogger("telecare")


@dataclass
class Running:
    """The background tasks and started services of one process."""

    tasks: list[asyncio.Task] = field(default_factory=list)
    services: list[Any] = field(default_factory=list)
    # Services' own loops (named by part): watched here, but stopped by their service's stop().
    watched: list[asyncio.Task] = field(default_factory=list)
    health: Health | None = None

    async def wait(self, stop: asyncio.Event) -> None:
        """Block until Ctrl-C; raise PartFailed when a part's task ends or a part reports FAILED."""
        stopper = asyncio.create_task(stop.wait())
        checker = asyncio.create_task(_until_failed(self.health), name="health") if self.health else None
        extra = [checker] if checker else []
        done, _ = await asyncio.wait([stopper, *extra, *self.tasks, *self.watched],
                                     return_when=asyncio.FIRST_COMPLETED)
        for helper in (stopper, *extra):
            helper.cancel()
        if stopper in done:
            return
        task = next(iter(done))
        if task.cancelled():
            raise PartFailed(task.get_name(), "task cancelled")
        err = task.exception()
        if isinstance(err, PartFailed):
            raise err
        raise PartFailed(task.get_name(), f"died: {type(err).__name__}" if err else "ended unexpectedly") from err

    async def run_until(self, stop: asyncio.Event) -> None:
        """wait(stop), then stop() whatever ended the wait (Ctrl-C or a failed part, which is re-raised)."""
        try:
            await self.wait(stop)
        finally:
            log.info("stopping")
            await self.stop()

    async def stop(self) -> None:
        """Cancel the tasks, then stop the services in reverse start order."""
        for task in self.tasks:
            task.cancel()
        for task in self.tasks:
            with suppress(asyncio.CancelledError, Exception):
                await task
        for service in reversed(self.services):
            await service.stop()


async def _until_failed(health: Health) -> None:
    """Raise PartFailed once any part reports FAILED (also parts whose task this process does not hold)."""
    while True:
        failed = health.failed()
        if failed:
            raise PartFailed(failed[0].part, failed[0].detail or "failed")
        await asyncio.sleep(HEALTH_POLL_S)


def _report_death(health: Health, task: asyncio.Task) -> None:
    """A part's task that ends with an error makes /healthz fail (and the CLI exit) naming it."""
    if not task.cancelled() and task.exception() is not None:
        health.report(task.get_name(), PartState.FAILED, f"died: {type(task.exception()).__name__}")


def watched_task(health: Health, coro: Any, part: str) -> asyncio.Task:
    """A task named after its part; its death is reported FAILED in `health`."""
    task = asyncio.create_task(coro, name=part)
    task.add_done_callback(lambda t: _report_death(health, t))
    return task
