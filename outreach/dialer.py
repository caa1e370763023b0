"""Automated calls: claim due tasks, dial at the paced rate, turn provider updates into outcomes and follow-ups."""
from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta
from typing import Any

from outreach.call_log import CallLog, CallRecord
from outreach.call_vocabulary import UNREACHED, CallMode, CallOutcome, CallPurpose, automated_outcome
from outreach.pacing import PaceLimits
from outreach.slots import Sleep, StartSlots
from outreach.telephony import FINAL_STATUSES, CallRejected, CallRequest, CallStatus, CallUpdate, Telephony
from outreach.welfare import SWEEP_EVERY, raise_owed, raise_welfare
from outreach.voice_prompts import prompts_for
from telecare.alerts import AlertSink
from telecare.clock import Clock
from telecare.errors import NotFound, TelecareError, TelephonyError
from telecare.metrics import OUTREACH_ACTIVE_CALLS, OUTREACH_BAD_UPDATES, OUTREACH_CALLS, OUTREACH_OUTCOMES
from telecare.people import Resident, ResidentLookup

log = logging.getLogger(__name__)

O = CallOutcome
_TASK_OUTCOME = {O.TIMEOUT: O.FAILED}  # for the task store a call that vanished is a failed attempt
ResultHook = Callable[[CallRecord], Awaitable[None]]


class Dialer:
    """Places automated calls for due tasks and follows each one to an outcome; the one Telephony update handler.

    Pacing counts each call from its start until the provider acknowledged the request, so the provider never
    sees more than CPS calls in a second whatever the jitter; `margin_s` adds slack on top. `sleep` is
    injectable so tests drive pacing with a FakeClock.
    """

    def __init__(self, tasks: Any, call_log: CallLog, telephony: Telephony, alerts: AlertSink,
                 residents: ResidentLookup, clock: Clock, *, cps: float = 1.0, max_concurrent: int = 10,
                 call_timeout_s: int = 30, final_grace_s: float = 120.0, batch: int = 200,
                 margin_s: float = 0.0, sleep: Sleep | None = None) -> None:
        self._tasks, self._log, self._tel = tasks, call_log, telephony
        self._alerts, self._residents, self._clock = alerts, residents, clock
        self._max_concurrent, self._timeout_s, self._batch = max_concurrent, call_timeout_s, batch
        # Past ring timeout + this grace without a final status, a call is closed as failed (never silent).
        self._stale_after = timedelta(seconds=call_timeout_s + final_grace_s)
        self._slots = StartSlots(PaceLimits(cps, max_concurrent, margin_s), clock, sleep or asyncio.sleep,
                                 call_timeout_s)
        self._active: set[int] = set()
        self._dispatching, self._background = asyncio.Lock(), set[asyncio.Task[None]]()
        self._campaigns: dict[int, Any] = {}
        self._escalation_hook: ResultHook | None = None
        self._next_welfare_sweep = clock.now()  # the first dispatch raises what an earlier run still owed

    def on_escalation_result(self, hook: ResultHook) -> None:
        """Where closed key-holder calls (purpose escalation) go: the Escalator."""
        self._escalation_hook = hook

    @property
    def active_calls(self) -> int:
        return len(self._active)

    async def dispatch(self) -> int:
        """Claim due automated tasks and dial them at the paced rate; return calls placed. Overlapping runs skip."""
        if self._dispatching.locked():
            return 0
        async with self._dispatching:
            await self.close_stale()
            if (now := self._clock.now()) >= self._next_welfare_sweep:
                self._next_welfare_sweep = now + SWEEP_EVERY
                await raise_owed(self._tasks, self._alerts, now)
            placed = 0
            while (capacity := self._max_concurrent - len(self._active)) > 0:
                due = await self._tasks.due_automated(self._clock.now(), min(capacity, self._batch))
                if not due:
                    break
                before = placed
                for task in due:
                    if len(self._active) >= self._max_concurrent:
                        break
                    if await self._tasks.claim(task.id, self._clock.now()):  # None: another dispatcher took it
                        placed += await self._start_task(task, 0)
                if placed == before:
                    return placed  # nothing dialable in this batch: wait for the next tick rather than spin
            return placed

    async def _start_task(self, task: Any, phone_index: int) -> int:
        resident = await self._residents.resident(task.resident_id)
        if resident is None or phone_index >= len(resident.phones):  # no (more) numbers to try
            OUTREACH_BAD_UPDATES.labels("no_phone").inc()
            await self._settle_attempt(task, resident, O.NO_ANSWER if phone_index else O.WRONG_NUMBER)
            return 0
        phone = resident.phones[phone_index]
        message = await self._message(task, resident.language)
        now, ticket = await self._slots.take()
        call_id = await self._log.start_attempt(
            task_id=task.id, resident_id=resident.id, purpose=task.purpose, caller="automated", mode=CallMode.AUTOMATED,
            phone=phone, started_at=now, attempt=task.attempts + 1, campaign_id=task.campaign_id)
        self._active.add(call_id)
        OUTREACH_ACTIVE_CALLS.set(len(self._active))
        OUTREACH_CALLS.labels(task.purpose, CallMode.AUTOMATED).inc()
        request = CallRequest(str(call_id), phone, resident.language, message=message, gather_digits=True,
                              timeout_s=self._timeout_s)
        # The provider request runs in the background so a slow answer never stretches the pacing.
        self._spawn(self._place(call_id, request, ticket))
        return 1

    async def _place(self, call_id: int, request: CallRequest, ticket: int) -> None:
        try:
            handle = await self._tel.place_call(request)
        except TelephonyError as err:
            self._slots.acknowledged(ticket)
            log.warning("call %s failed to start: %s", call_id, err)
            await self._close(call_id, O.WRONG_NUMBER if isinstance(err, CallRejected) else O.FAILED)
            return
        finally:
            self._slots.acknowledged(ticket)  # answered, refused or cancelled: pacing never waits on it forever
        await self._log.set_provider_id(call_id, handle.provider_call_id)

    async def _message(self, task: Any, language: str) -> str:
        """The spoken text: the campaign's message in the resident's language, else the task's reason (reminders)."""
        if task.campaign_id is None:
            return task.reason or prompts_for(language).default_message
        if task.campaign_id not in self._campaigns:
            self._campaigns[task.campaign_id] = await self._tasks.get_campaign(task.campaign_id)
        return self._campaigns[task.campaign_id].message_for(language)

    async def on_update(self, update: CallUpdate) -> None:
        """Record a provider update; settle the attempt when it is final. Bad updates are counted, never raised."""
        try:
            call_id = int(update.call_ref)
            record = await self._log.get(call_id)
        except (ValueError, NotFound):
            OUTREACH_BAD_UPDATES.labels("unknown_call").inc()
            log.warning("update for unknown call ref %r ignored", update.call_ref)
            return
        if update.status == CallStatus.IN_PROGRESS and record.answered_at is None:
            await self._log.answered(call_id, update.at)
        if update.digits:
            await self._log.digits(call_id, update.digits)
        if record.mode == CallMode.HUMAN:
            if update.status in FINAL_STATUSES:
                await self._log.line_ended(call_id, update.at)  # the person records the outcome
            return
        if (update.answered_by or "").startswith("machine"):
            # A machine is nobody: never "fine". Close first so the hang-up's own update changes nothing.
            await self._close(call_id, O.VOICEMAIL, at=update.at)
            await self._hang_up(update.provider_call_id)
            return
        answered = record.answered_at is not None or update.status == CallStatus.IN_PROGRESS
        outcome = automated_outcome(update.status, update.digits or record.digits, answered, record.purpose)
        if outcome is not None:
            # After a key the provider thanks the resident and hangs up itself; that later update changes nothing.
            await self._close(call_id, outcome, at=update.at)

    async def _hang_up(self, provider_call_id: str) -> None:
        try:
            await self._tel.hang_up(provider_call_id)
        except TelephonyError as err:
            log.warning("hang up failed: %s", err)

    async def _close(self, call_id: int, outcome: CallOutcome, at: datetime | None = None) -> None:
        """Close the attempt once (first final update wins) and act on its outcome."""
        record = await self._log.finish(call_id, outcome, at or self._clock.now())
        self._active.discard(call_id)
        OUTREACH_ACTIVE_CALLS.set(len(self._active))
        if record is None:
            return
        OUTREACH_OUTCOMES.labels(record.purpose, outcome).inc()
        if record.purpose == CallPurpose.ESCALATION:
            if self._escalation_hook:
                await self._escalation_hook(record)
            return
        if record.task_id is not None:
            try:
                await self._follow_up(record, outcome)
            except TelecareError as err:  # e.g. the task was settled meanwhile: log and count, never crash
                OUTREACH_BAD_UPDATES.labels("follow_up_failed").inc()
                log.error("call %s: follow-up after %s failed: %s", record.id, outcome, err)

    async def _follow_up(self, record: CallRecord, outcome: CallOutcome) -> None:
        task = await self._tasks.get(record.task_id)
        resident = await self._residents.resident(record.resident_id)
        if outcome in UNREACHED and resident is not None:
            index = resident.phones.index(record.phone) + 1 if record.phone in resident.phones else len(resident.phones)
            if index < len(resident.phones):
                # Next number of the same attempt, in the background so the update handler returns at once.
                self._spawn(self._start_task(task, index))
                return
            # Only "every number is wrong" makes the resident unreachable; any other miss is retried later.
            tried = set(await self._log.attempt_outcomes(task.id, record.attempt)) if outcome == O.WRONG_NUMBER else ()
            outcome = O.NO_ANSWER if tried and tried != {O.WRONG_NUMBER} else outcome
        await self._settle_attempt(task, resident, outcome)

    def _spawn(self, coro: Awaitable[Any]) -> None:
        async def run() -> None:
            try:
                await coro
            except TelecareError as err:
                log.error("background call step failed: %s", err)
            except Exception as err:  # noqa: BLE001 - one call's bug must not vanish: logged by type, counted
                OUTREACH_BAD_UPDATES.labels("internal_error").inc()
                log.error("background call step crashed: %s", type(err).__name__)

        job = asyncio.get_running_loop().create_task(run())
        self._background.add(job)
        job.add_done_callback(self._background.discard)

    async def _settle_attempt(self, task: Any, resident: Resident | None, outcome: CallOutcome) -> None:
        """Tell the task store how the attempt went; a callback or a welfare alert when that is the answer."""
        now = self._clock.now()
        after = await self._tasks.record_attempt(task.id, _TASK_OUTCOME.get(outcome, outcome), now, resident)
        if outcome in (O.CALLBACK_REQUESTED, O.NO_KEY):
            reason = "pressed 2: wants to talk to someone" if outcome == O.CALLBACK_REQUESTED else "no key pressed"
            await self._tasks.create_callback(task.resident_id, f"{task.purpose} call: {reason}", now,
                                              resident=resident, campaign_id=task.campaign_id,
                                              source_task_id=task.id)
        if after.needs_welfare_check:
            await raise_welfare(self._tasks, self._alerts, after.task, now)

    async def close_stale(self) -> int:
        """Close as failed every automated call with no final status past its timeout; return how many."""
        cutoff = self._clock.now() - self._stale_after
        stale = await self._log.open_before(cutoff)
        for record in stale:
            log.warning("call %s got no final status in time; closing it as failed", record.id)
            await self._close(record.id, O.TIMEOUT)  # before hanging up, so the hang-up's own update changes nothing
            if record.provider_call_id:
                await self._hang_up(record.provider_call_id)
        return len(stale)

    async def drain(self) -> None:
        """Wait for background placements and follow-up calls (tests, shutdown)."""
        while self._background:
            await asyncio.gather(*list(self._background), return_exceptions=True)

    async def stop(self) -> None:
        """Cancel background placements and follow-ups."""
        for job in list(self._background):
            job.cancel()
        await asyncio.gather(*list(self._background), return_exceptions=True)
