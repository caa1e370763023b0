"""The dialer's gate to the pacer: wait (on the injected clock and sleep) for a start slot, release it when sent."""
from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from datetime import datetime

from outreach.pacing import PaceLimits, Pacer
from telecare.clock import Clock

log = logging.getLogger(__name__)
Sleep = Callable[[float], Awaitable[None]]


class StartSlots:
    """Counts each call from its start until the provider acknowledged the request (see Pacer)."""

    def __init__(self, limits: PaceLimits, clock: Clock, sleep: Sleep, timeout_s: float) -> None:
        self._pacer, self._clock, self._sleep, self._timeout_s = Pacer(limits), clock, sleep, timeout_s
        self._sent = asyncio.Event()  # set whenever the provider acknowledged a call request

    async def take(self) -> tuple[datetime, int]:
        """Wait for the pacer's next slot and claim it (no await between the check and the claim)."""
        while True:
            sent = self._sent
            now = self._clock.now()
            at = self._pacer.next_start(now.timestamp(), 0)  # the concurrent limit is checked before claiming
            if at is None:  # the call n places back is still being placed
                try:
                    await asyncio.wait_for(sent.wait(), self._timeout_s)
                except TimeoutError:
                    log.warning("%d call requests unanswered by the provider", self._pacer.expire(
                        self._clock.now().timestamp(), self._timeout_s))
            elif at <= now.timestamp() + 1e-6:  # datetimes have microseconds: never spin on a rounding remainder
                return now, self._pacer.record_start(max(at, now.timestamp()), pending=True)
            else:
                await self._sleep(at - now.timestamp())

    def acknowledged(self, ticket: int) -> None:
        """The provider answered (accepted, refused or cancelled) the request holding this slot."""
        self._pacer.record_sent(ticket, self._clock.now().timestamp())
        self._sent.set()
        self._sent = asyncio.Event()  # waiters hold the old, now set, event
