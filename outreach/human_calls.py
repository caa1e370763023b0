"""Calls made by people: today's worklist, one-click start, one-tap outcome and what follows from it."""
from __future__ import annotations

import logging
from dataclasses import asdict, dataclass
from datetime import date, datetime
from enum import StrEnum
from typing import Any
from zoneinfo import ZoneInfo

from outreach.call_log import CallLog, CallRecord
from outreach.call_vocabulary import CallMode, CallOutcome, CallPurpose
from outreach.planning import calling_hours_at, service_time_text
from outreach.task_records import TaskStatus
from outreach.telephony import CallRequest, Telephony
from outreach.welfare import raise_welfare
from telecare.alerts import N_, AlertSink, AlertTrigger, AlertType, Severity, reason_params
from telecare.clock import Clock
from telecare.errors import ConflictError, InvalidInput, TelephonyError
from telecare.metrics import OUTREACH_CALLS, OUTREACH_OUTCOMES
from telecare.people import Resident, ResidentLookup
from telecare.settings import DEFAULT_SERVICE_TIMEZONE

log = logging.getLogger(__name__)
# The one-tap outcomes a person records, in the order the screen shows them.
HUMAN_OUTCOMES = (CallOutcome.FINE, CallOutcome.CONCERN, CallOutcome.NO_ANSWER, CallOutcome.WRONG_NUMBER,
                  CallOutcome.DECLINED)
MAX_NOTE = 500


class WaitReason(StrEnum):
    """Why a listed call cannot be made yet (WorklistItem.waits_for)."""

    CALLING_HOURS = "calling_hours"
    RETRY = "retry"


class OutsideCallingHours(ConflictError):
    """Starting this call now would ring the resident outside their calling hours."""

    def __init__(self, message: str, opens_at: datetime) -> None:
        super().__init__(message)
        self.opens_at = opens_at


@dataclass(frozen=True, slots=True)
class WorklistItem:
    """One call due for a person, with what they need to make it."""

    task_id: int
    resident_id: str
    name: str
    phone: str | None
    language: str
    purpose: CallPurpose
    reason: str
    priority: int
    risk_flags: tuple[str, ...]
    not_before: datetime
    not_after: datetime
    status: TaskStatus
    attempts: int
    max_attempts: int
    assigned_to: str | None
    callable_now: bool
    waits_until: datetime | None = None  # when a call that cannot be made now can be made
    waits_for: WaitReason | None = None

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["not_before"], out["not_after"] = self.not_before.isoformat(), self.not_after.isoformat()
        out["waits_until"] = self.waits_until.isoformat() if self.waits_until else None
        out["risk_flags"] = list(self.risk_flags)
        return out


@dataclass(frozen=True, slots=True)
class StartedCall:
    call_id: int
    phone: str
    click_to_call: bool


class HumanCalls:
    """The care team's side of outreach; every write goes through TaskStore, CallLog or AlertSink."""

    def __init__(self, tasks: Any, call_log: CallLog, telephony: Telephony, alerts: AlertSink,
                 residents: ResidentLookup, clock: Clock, service_zone: ZoneInfo | None = None) -> None:
        self._tasks, self._log, self._tel = tasks, call_log, telephony
        self._alerts, self._residents, self._clock = alerts, residents, clock
        self.service_zone = service_zone or ZoneInfo(DEFAULT_SERVICE_TIMEZONE)  # "today" and message times

    async def worklist(self, *, caller: str | None = None, team: str | None = None,
                       day: date | None = None) -> list[WorklistItem]:
        """Calls due today for a named caller and/or team (neither: everyone), callable now first, then risk."""
        now = self._clock.now()
        day = day or now.astimezone(self.service_zone).date()
        seen: dict[int, Any] = {}
        for who in [w for w in (caller, team) if w] or [None]:
            for task in await self._tasks.worklist(who, day, now):
                seen.setdefault(task.id, task)
        items = []
        for task in seen.values():
            resident = await self._residents.resident(task.resident_id)
            callable_now, waits_until, waits_for = _when_callable(task, resident, now)
            items.append(WorklistItem(
                task.id, task.resident_id, resident.name if resident else task.resident_id,
                resident.phones[0] if resident and resident.phones else None,
                resident.language if resident else "ca", task.purpose, task.reason, task.priority,
                tuple(sorted(f.value for f in resident.risk_flags)) if resident else (), task.not_before,
                task.not_after, task.status, task.attempts, task.max_attempts, task.assigned_to,
                callable_now, waits_until, waits_for))
        items.sort(key=lambda i: (not i.callable_now, i.priority, i.not_before, i.task_id))
        return items

    async def start_call(self, task_id: int, caller: str, *, caller_phone: str | None = None,
                         urgent: bool = False) -> StartedCall:
        """Claim the task and log the call; with `caller_phone`, ring the caller first and bridge to the resident.

        Outside the resident's calling hours the call is refused (OutsideCallingHours, naming when they
        start) unless `urgent`, which is recorded on the call.
        """
        if not caller.strip():
            raise InvalidInput("caller is required")
        now = self._clock.now()
        resident = await self._residents.resident((await self._tasks.get(task_id)).resident_id)
        if resident is not None and not urgent:
            hours = calling_hours_at(resident, now)
            if not hours.open and hours.opens_at is not None:
                raise OutsideCallingHours(
                    f"outside the resident's calling hours: calls can start at "
                    f"{service_time_text(hours.opens_at, self.service_zone, now)}; mark the call urgent to call now",
                    hours.opens_at)
        task = await self._tasks.claim(task_id, now)
        if task is None:
            status = (await self._tasks.get(task_id)).status
            raise ConflictError(f"call task {task_id} is {'already being called' if status == TaskStatus.DIALING else status}")
        if resident is None or not resident.phones:
            await self._tasks.record_attempt(task.id, CallOutcome.WRONG_NUMBER, now, resident)
            raise InvalidInput("the resident has no phone number on record")
        phone = resident.phones[0]
        call_id = await self._log.start_attempt(
            task_id=task.id, resident_id=task.resident_id, purpose=task.purpose, caller=caller.strip(), mode=CallMode.HUMAN,
            phone=phone, started_at=now, attempt=task.attempts + 1, campaign_id=task.campaign_id, urgent=urgent)
        OUTREACH_CALLS.labels(task.purpose, CallMode.HUMAN).inc()
        if urgent:
            log.info("call %s for task %s started as urgent (calling hours not applied)", call_id, task.id)
        if caller_phone:
            try:
                handle = await self._tel.place_call(CallRequest(str(call_id), phone, resident.language,
                                                                bridge_from=caller_phone))
            except TelephonyError:
                await self.record_outcome(call_id, CallOutcome.NO_ANSWER, "the call could not be connected", by=caller)
                raise
            await self._log.set_provider_id(call_id, handle.provider_call_id)
        return StartedCall(call_id, phone, bool(caller_phone))

    async def record_outcome(self, call_id: int, outcome: CallOutcome | str, note: str = "", *, urgent: bool = False,
                             by: str = "") -> CallRecord:
        """One tap: fine / concern / no_answer / wrong_number / declined, plus a short note; act on it."""
        if outcome not in HUMAN_OUTCOMES:
            raise InvalidInput(f"outcome must be one of {', '.join(HUMAN_OUTCOMES)}")
        outcome = CallOutcome(outcome)
        note = (note or "").strip()
        if len(note) > MAX_NOTE:
            raise InvalidInput(f"the note is limited to {MAX_NOTE} characters")
        existing = await self._log.get(call_id)
        if existing.mode != CallMode.HUMAN:
            raise InvalidInput("only a person's call takes a recorded outcome")
        if existing.outcome is not None:
            raise ConflictError(f"call {call_id} already has the outcome {existing.outcome}")
        now = self._clock.now()
        if outcome == CallOutcome.CONCERN and urgent:
            # Before anything is recorded: if the alert sink is down the whole tap fails (503) and the person taps
            # again; recorded first, the retry would be refused as a duplicate and the alert never raised.
            await self._urgent_concern(existing, now)
        record = await self._log.record_outcome(call_id, outcome, note, now)
        OUTREACH_OUTCOMES.labels(record.purpose, outcome).inc()
        resident = await self._residents.resident(record.resident_id)
        if record.task_id is not None:
            after = await self._tasks.record_attempt(record.task_id, outcome, now, resident)
            if after.needs_welfare_check:
                await raise_welfare(self._tasks, self._alerts, after.task, now)
        if outcome == CallOutcome.CONCERN and not urgent:  # a person follows up within two days
            await self._tasks.create_callback(record.resident_id, "follow-up of a concern raised on a call", now,
                                              resident=resident, source_task_id=record.task_id, priority=5,
                                              campaign_id=record.campaign_id)
        log.info("call %s outcome %s recorded", call_id, outcome)
        return record

    async def _urgent_concern(self, call: CallRecord, now: datetime) -> None:
        """A welfare alert on the operator queue now."""
        template = N_("urgent concern from a {purpose} call")  # the page says purpose with term()
        await self._alerts.raise_or_attach(AlertTrigger(
            call.resident_id, AlertType.WELFARE_CHECK, Severity.HIGH, now,
            template.format(purpose=call.purpose.replace("_", " ")), template=template,
            params=reason_params(purpose=call.purpose)), now)


def _when_callable(task: Any, resident: Resident | None, now: datetime) -> tuple[bool, datetime | None, WaitReason | None]:
    """Pure: (callable now, until when it waits, why) for a listed task: calling hours first, then its retry time."""
    if resident is not None:
        hours = calling_hours_at(resident, now)
        if not hours.open and hours.opens_at is not None:
            return False, max(hours.opens_at, task.next_attempt_at), WaitReason.CALLING_HOURS
    if task.next_attempt_at > now:
        return False, task.next_attempt_at, WaitReason.RETRY
    return now < task.not_after, None, None
