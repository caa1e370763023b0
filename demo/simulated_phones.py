"""Scripted behaviours and call snapshots of the phone simulator (plain data, no I/O)."""
from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime

from outreach.telephony import CallRequest, CallStatus


@dataclass(frozen=True, slots=True)
class Behaviour:
    """How a scripted phone reacts. `answer_after_s=None` never answers; `final` ends it at once."""

    answer_after_s: float | None = 0.0
    digits: str | None = None
    talk_s: float | None = 5.0  # a call without key prompt hangs up this long after answering
    final: CallStatus | None = None
    invalid: bool = False


def answer_and_press(digits: str = "1", after_s: float = 0.0) -> Behaviour:
    """Answer after `after_s` and press `digits` at once."""
    return Behaviour(answer_after_s=after_s, digits=digits)


def answer_silent(after_s: float = 0.0) -> Behaviour:
    """Answer and press nothing (the key prompt times out)."""
    return Behaviour(answer_after_s=after_s)


def no_answer() -> Behaviour:
    """Let it ring until the request's timeout."""
    return Behaviour(answer_after_s=None)


def busy() -> Behaviour:
    """The line is busy."""
    return Behaviour(final=CallStatus.BUSY)


def failed() -> Behaviour:
    """The network cannot connect the call (e.g. an unassigned number)."""
    return Behaviour(final=CallStatus.FAILED)


wrong_number = failed


def invalid_number() -> Behaviour:
    """The provider refuses the request itself, like Twilio's error 21211."""
    return Behaviour(invalid=True)


@dataclass(frozen=True, slots=True)
class PhoneCall:
    """A snapshot of one simulated call, as the phone page shows it."""

    call_id: str
    call_ref: str
    number: str  # the phone ringing now: the operator's first on click-to-call
    leg: str  # "resident" | "operator"
    state: str  # a CallStatus value
    text: str
    gather: bool
    language: str
    placed_at: datetime
    answered_at: datetime | None = None
    ended_at: datetime | None = None
    digits: str = ""
    resident_number: str = ""


def behaviour_for(number: str, request: CallRequest, scripts: Mapping[str, Behaviour],
                  auto_answer_delay: float | None) -> Behaviour:
    """How the phone at `number` reacts to this call: its script, else the simulator's defaults."""
    if number in scripts:
        return scripts[number]
    if number == request.bridge_from:
        return Behaviour(answer_after_s=0.0)  # the operator asked for this call
    if auto_answer_delay is not None:
        return Behaviour(answer_after_s=auto_answer_delay, digits="1" if request.gather_digits else None)
    return Behaviour(answer_after_s=None, talk_s=None)  # a person on the page decides


class ChangeSignal:
    """A version number that waiters (the phone page's streams) can await a change of."""

    def __init__(self) -> None:
        self.version = 0
        self._event = asyncio.Event()

    def bump(self) -> None:
        """Record a change and wake every waiter."""
        self.version += 1
        self._event.set()
        self._event = asyncio.Event()  # current waiters hold the old, now set, event

    async def wait(self, since: int, timeout: float) -> int:
        """The version once it differs from `since`, or after `timeout` seconds."""
        if self.version == since:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._event.wait(), timeout)
        return self.version
