"""An in-memory phone network for the demo and tests: calls ring on a page or follow a script."""
from __future__ import annotations

import asyncio
import contextlib
import heapq
import itertools
import logging
import secrets
from collections import deque
from dataclasses import replace
from datetime import datetime, timedelta

from demo.simulated_phones import (  # noqa: F401 - behaviours re-exported for scripts
    Behaviour, ChangeSignal, PhoneCall, answer_and_press, behaviour_for, answer_silent, busy, failed, invalid_number,
    no_answer, wrong_number)
from outreach.telephony import CallHandle, CallRejected, CallRequest, CallStatus, CallUpdate, UpdateHandler
from outreach.voice_prompts import prompts_for, spoken_text
from telecare import metrics
from telecare.clock import Clock
from telecare.errors import NotFound, TelephonyError

log = logging.getLogger(__name__)
GATHER_TIMEOUT_S = 10  # like Twilio's <Gather timeout>: silence after answering ends the call
KEEP_ENDED = 200  # ended calls kept for the page


class SimulatedTelephony:
    """Implements Telephony in memory, driven by the injected clock (call `tick()` or `start()`)."""

    forgets_calls_at_stop = True  # in memory: a call ringing at shutdown never reports an end

    def __init__(self, clock: Clock, *, auto_answer_delay: float | None = None, tick_s: float = 0.2) -> None:
        self._clock = clock
        self._auto = auto_answer_delay
        self._tick_s = tick_s
        self._handler: UpdateHandler | None = None
        self._scripts: dict[str, Behaviour] = {}
        self._calls: dict[str, PhoneCall] = {}
        self._requests: dict[str, CallRequest] = {}
        self._due: list[tuple[datetime, int, str, int, str]] = []  # (when, seq, call_id, epoch, action)
        self._ended: deque[str] = deque()
        self._epoch: dict[str, int] = {}  # answering bumps it: the ring timeout queued before goes stale
        self._seq = itertools.count()
        self._ids = itertools.count(1)
        # call_log.provider_call_id is unique: a restarted simulator counting from 1 again would collide.
        self._run = secrets.token_hex(4).upper()
        self.changes = ChangeSignal()  # the phone page awaits changes.wait(version, timeout)
        self._task: asyncio.Task[None] | None = None
        self._step_time: datetime | None = None

    def set_update_handler(self, handler: UpdateHandler) -> None:
        """Where call updates go (the dialer)."""
        self._handler = handler

    async def place_call(self, request: CallRequest) -> CallHandle:
        """Ring the operator (click-to-call) or the resident; updates follow on later ticks."""
        first = request.bridge_from or request.to
        if self._behaviour(first, request).invalid or self._behaviour(request.to, request).invalid:
            metrics.TELEPHONY_CALLS.labels("simulator", "rejected").inc()
            raise CallRejected("the provider rejected the phone number")
        call_id = f"SIM{self._run}-{next(self._ids):06d}"
        now = self._clock.now()
        text = (prompts_for(request.language).bridging if request.bridge_from
                else spoken_text(request.message, request.language, request.gather_digits,
                                                    request.key_prompt))
        self._calls[call_id] = PhoneCall(
            call_id, request.call_ref, first, "operator" if request.bridge_from else "resident",
            CallStatus.QUEUED.value, text, request.gather_digits and not request.bridge_from,
            request.language, now, resident_number=request.to)
        self._requests[call_id] = request
        self._at(now, call_id, "ring")
        metrics.TELEPHONY_CALLS.labels("simulator", "placed").inc()
        log.info("simulated call %s placed for ref %s", call_id, request.call_ref)
        return CallHandle(call_id)

    async def hang_up(self, provider_call_id: str) -> None:
        """Our side ends the call: completed if answered, canceled while ringing."""
        call = self._calls.get(provider_call_id)
        if call and call.state in (CallStatus.QUEUED, CallStatus.RINGING):
            await self._end(provider_call_id, CallStatus.CANCELED)
        elif call and call.state == CallStatus.IN_PROGRESS:
            await self._end(provider_call_id, CallStatus.COMPLETED)

    async def close(self) -> None:
        """Stop the background ticker."""
        if self._task:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    def script(self, number: str, behaviour: Behaviour) -> None:
        """Make the phone at `number` behave this way for every following call."""
        self._scripts[number] = behaviour

    def start(self) -> None:
        """Tick in the background every `tick_s` seconds (the demo; tests may call tick())."""
        async def run() -> None:
            while True:
                try:
                    await self.tick()
                except Exception:  # noqa: BLE001 - one bad step must not stop every phone
                    log.exception("simulated telephony tick failed")
                await asyncio.sleep(self._tick_s)

        if self._task is None:
            self._task = asyncio.get_running_loop().create_task(run())

    async def tick(self) -> None:
        """Run every scripted step and time-out due at clock.now()."""
        while self._due and self._due[0][0] <= self._clock.now():
            when, _, call_id, epoch, action = heapq.heappop(self._due)
            if call_id in self._calls and self._epoch.get(call_id) == epoch:
                self._step_time = when  # a late tick still reports each step at its own time
                try:
                    await self._step(call_id, action)
                finally:
                    self._step_time = None

    async def answer(self, call_id: str) -> None:
        """Pick up the ringing phone."""
        if self._get(call_id).state != CallStatus.RINGING:
            raise TelephonyError("this phone is not ringing")
        await self._answer(call_id)

    async def press(self, call_id: str, digits: str) -> None:
        """Press keys during an answered call."""
        if not digits or not all(d in "0123456789*#" for d in digits):
            raise TelephonyError("keys must be 0-9, * or #")
        if self._get(call_id).state != CallStatus.IN_PROGRESS:
            raise TelephonyError("the call is not connected")
        await self._press(call_id, digits)

    async def hangup_phone(self, call_id: str) -> None:
        """Put the phone down: completed when talking, rejected (busy) while ringing."""
        call = self._get(call_id)
        if call.state == CallStatus.RINGING:
            await self.reject(call_id)
        elif call.state == CallStatus.IN_PROGRESS:
            await self._end(call_id, CallStatus.COMPLETED)

    async def reject(self, call_id: str) -> None:
        """Decline a ringing call (the network reports busy)."""
        call = self._get(call_id)
        if call.state == CallStatus.RINGING:
            await self._end(call_id, CallStatus.CANCELED if call.leg == "operator" else CallStatus.BUSY)

    async def ring_out(self, call_id: str) -> None:
        """Skip the wait: the ringing call ends unanswered now."""
        if self._get(call_id).state == CallStatus.RINGING:
            await self._step(call_id, "timeout")

    def calls(self) -> list[PhoneCall]:
        """Every known call, newest first."""
        return sorted(self._calls.values(), key=lambda c: (c.placed_at, c.call_id), reverse=True)

    def ringing(self) -> list[PhoneCall]:
        """Calls ringing now."""
        return [c for c in self.calls() if c.state == CallStatus.RINGING]

    def _now(self) -> datetime:
        return self._step_time or self._clock.now()

    def _get(self, call_id: str) -> PhoneCall:
        call = self._calls.get(call_id)
        if call is None:
            raise NotFound("no such call")
        return call

    def _behaviour(self, number: str, request: CallRequest) -> Behaviour:
        return behaviour_for(number, request, self._scripts, self._auto)

    def _at(self, when: datetime | float, call_id: str, action: str) -> None:
        if not isinstance(when, datetime):
            when = self._now() + timedelta(seconds=when)
        heapq.heappush(self._due, (when, next(self._seq), call_id, self._epoch.setdefault(call_id, 0), action))

    async def _step(self, call_id: str, action: str) -> None:
        call = self._calls[call_id]
        request = self._requests[call_id]
        if action == "ring" and call.state == CallStatus.QUEUED:
            await self._ring(call_id, call.number, request)
        elif action == "answer" and call.state == CallStatus.RINGING:
            await self._answer(call_id)
        elif action.startswith("press:") and call.state == CallStatus.IN_PROGRESS and not call.digits:
            await self._press(call_id, action[6:])
        elif action == "timeout" and call.state == CallStatus.RINGING:
            await self._end(call_id, CallStatus.CANCELED if call.leg == "operator" else CallStatus.NO_ANSWER)
        elif action in ("hangup", "gather_timeout") and call.state == CallStatus.IN_PROGRESS:
            await self._end(call_id, CallStatus.COMPLETED)

    async def _ring(self, call_id: str, number: str, request: CallRequest) -> None:
        behaviour = self._behaviour(number, request)
        call = self._set(call_id, number=number)
        if behaviour.final is not None:
            await self._end(call_id, behaviour.final if call.leg == "resident" else CallStatus.CANCELED)
            return
        self._set(call_id, state=CallStatus.RINGING.value)
        if call.leg == "resident":
            await self._emit(call_id, CallStatus.RINGING)
        self._at(request.timeout_s, call_id, "timeout")  # each ringing leg gets a fresh timeout
        if behaviour.answer_after_s is not None:
            self._at(behaviour.answer_after_s, call_id, "answer")

    async def _answer(self, call_id: str) -> None:
        call = self._calls[call_id]
        self._epoch[call_id] = self._epoch.get(call_id, 0) + 1  # drop the pending ring timeout
        request = self._requests[call_id]
        if call.leg == "operator":  # operator picked up: now ring the resident
            self._set(call_id, leg="resident", state=CallStatus.QUEUED.value, text="")  # a person talks
            await self._ring(call_id, request.to, request)
            return
        self._set(call_id, state=CallStatus.IN_PROGRESS.value, answered_at=self._now())
        await self._emit(call_id, CallStatus.IN_PROGRESS, answered_by="human")
        behaviour = self._behaviour(call.number, request)
        if call.gather:
            if behaviour.digits:
                self._at(0, call_id, f"press:{behaviour.digits}")
            self._at(GATHER_TIMEOUT_S, call_id, "gather_timeout")
        elif behaviour.talk_s is not None:
            self._at(behaviour.talk_s, call_id, "hangup")

    async def _press(self, call_id: str, digits: str) -> None:
        call = self._set(call_id, digits=self._calls[call_id].digits + digits)
        await self._emit(call_id, CallStatus.IN_PROGRESS, digits=digits)
        if call.gather:  # the prompt takes one key, thanks the resident and hangs up
            self._at(0, call_id, "hangup")

    async def _end(self, call_id: str, status: CallStatus) -> None:
        call = self._set(call_id, state=status.value, ended_at=self._now())
        duration = int((call.ended_at - call.answered_at).total_seconds()) if call.answered_at else 0
        await self._emit(call_id, status, duration_s=duration)
        self._ended.append(call_id)
        while len(self._ended) > KEEP_ENDED:  # forget the oldest ended calls, O(1) each
            old = self._ended.popleft()
            for table in (self._calls, self._requests, self._epoch):
                table.pop(old, None)

    def _set(self, call_id: str, **changes: object) -> PhoneCall:
        call = replace(self._calls[call_id], **changes)  # type: ignore[arg-type]
        self._calls[call_id] = call
        self.changes.bump()
        return call

    async def _emit(self, call_id: str, status: CallStatus, **extra: object) -> None:
        call = self._calls[call_id]
        update = CallUpdate(call_id, call.call_ref, status, self._now(), **extra)  # type: ignore[arg-type]
        metrics.TELEPHONY_UPDATES.labels("simulator", status.value).inc()
        if self._handler is None:
            return
        try:
            await self._handler(update)
        except Exception:  # noqa: BLE001 - the handler's failure must not stop the phone network
            metrics.TELEPHONY_HANDLER_ERRORS.labels("simulator").inc()
            log.exception("call update handler failed for call %s", call_id)
