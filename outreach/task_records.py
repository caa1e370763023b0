"""Call tasks and campaigns as frozen records, the outcome vocabulary, and the pure retry decision."""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from enum import StrEnum
from typing import Any

from outreach.call_vocabulary import CallMode, CallOutcome, CallPurpose
from outreach.planning import next_calling_window
from telecare.alerts import N_, AlertTrigger, AlertType, Severity, reason_params
from telecare.errors import InvalidInput
from telecare.people import Resident



class TaskStatus(StrEnum):
    """Where a call task is (call_tasks.status)."""

    PENDING = "pending"
    DIALING = "dialing"  # claimed: someone (or the dialer) is calling now
    DONE = "done"  # the resident was reached
    UNREACHED = "unreached"
    CANCELLED = "cancelled"


class CampaignKind(StrEnum):
    WEATHER = "weather"
    INFORMATION = "information"


class CampaignStatus(StrEnum):
    ACTIVE = "active"
    DONE = "done"
    CANCELLED = "cancelled"


O = CallOutcome
# Reached: the resident was spoken to (also counts as the last successful contact).
REACHED_OUTCOMES = frozenset({O.FINE, O.CONCERN, O.DECLINED, O.CONNECTED, O.CALLBACK_REQUESTED, O.NO_KEY})
SUCCESSFUL_OUTCOMES = REACHED_OUTCOMES
RETRY_OUTCOMES = frozenset({O.NO_ANSWER, O.BUSY, O.FAILED, O.VOICEMAIL})
UNREACHABLE_OUTCOMES = frozenset({O.WRONG_NUMBER})  # retrying the same number cannot help
# Purposes where "could not reach them" is itself a reason to worry; an information campaign is not.
WELFARE_ON_UNREACHED = frozenset({CallPurpose.FOLLOW_UP, CallPurpose.BIRTHDAY, CallPurpose.WEATHER,
                                  CallPurpose.WELFARE})
RETRY_AFTER = timedelta(minutes=30)
OPEN_STATUSES = (TaskStatus.PENDING, TaskStatus.DIALING)


@dataclass(frozen=True, slots=True)
class CallTask:
    """One row of call_tasks."""

    id: int
    resident_id: str
    purpose: CallPurpose
    mode: CallMode
    campaign_id: int | None
    alert_id: int | None
    due_date: date
    not_before: datetime
    not_after: datetime
    priority: int
    assigned_to: str | None
    status: TaskStatus
    attempts: int
    max_attempts: int
    next_attempt_at: datetime
    reason: str
    dedupe_key: str
    created_at: datetime
    updated_at: datetime

    @classmethod
    def from_row(cls, row: dict[str, Any]) -> CallTask:
        """A row as stored (its CHECK constraints hold the same vocabularies)."""
        return cls(**{**{k: row[k] for k in cls.__slots__},  # type: ignore[attr-defined]
                      "purpose": CallPurpose(row["purpose"]), "mode": CallMode(row["mode"]),
                      "status": TaskStatus(row["status"])})


@dataclass(frozen=True, slots=True)
class Campaign:
    """One row of campaigns. `messages` maps a language ('ca', 'es', 'en') to the spoken text."""

    id: int
    kind: CampaignKind
    title: str
    message: str
    mode: CallMode
    source_id: str | None
    event: str | None
    severity: str | None
    urgency: str | None
    onset: datetime | None
    expires: datetime | None
    area: Any
    audience: dict[str, Any]
    status: CampaignStatus
    created_by: str
    created_at: datetime

    @classmethod
    def from_row(cls, row: dict[str, Any]) -> Campaign:
        """A row as stored."""
        return cls(**{**{k: row[k] for k in cls.__slots__},  # type: ignore[attr-defined]
                      "kind": CampaignKind(row["kind"]), "mode": CallMode(row["mode"]),
                      "status": CampaignStatus(row["status"])})

    def message_for(self, language: str) -> str:
        """The message in the resident's language if we have it, else the campaign's main message."""
        messages = self.audience.get("messages", {}) if isinstance(self.audience, dict) else {}
        return messages.get(language.split("-")[0].lower()) or self.message


@dataclass(frozen=True, slots=True)
class NewCampaign:
    """What campaigns.py asks TaskStore to create."""

    kind: CampaignKind
    title: str
    message: str
    created_by: str
    mode: CallMode = CallMode.AUTOMATED
    source_id: str | None = None
    event: str | None = None
    severity: str | None = None
    urgency: str | None = None
    onset: datetime | None = None
    expires: datetime | None = None
    area: Any = None
    audience: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class TaskAfterAttempt:
    """The task after one attempt. The caller raises a welfare_check alert when `needs_welfare_check`."""

    task: CallTask
    reached: bool
    retry_at: datetime | None
    needs_welfare_check: bool


@dataclass(frozen=True, slots=True)
class AttemptDecision:
    status: TaskStatus
    next_attempt_at: datetime
    not_before: datetime
    not_after: datetime


def decide_after_attempt(task: CallTask, outcome: CallOutcome | str, now: datetime, resident: Resident | None) -> AttemptDecision:
    """Pure: done if reached; retry 30 min later inside calling hours; unreached after the last attempt."""
    attempts = task.attempts + 1
    if outcome in REACHED_OUTCOMES:
        return AttemptDecision(TaskStatus.DONE, task.next_attempt_at, task.not_before, task.not_after)
    if outcome in UNREACHABLE_OUTCOMES or (outcome in RETRY_OUTCOMES and attempts >= task.max_attempts):
        return AttemptDecision(TaskStatus.UNREACHED, task.next_attempt_at, task.not_before, task.not_after)
    if outcome not in RETRY_OUTCOMES:
        known = sorted(REACHED_OUTCOMES | RETRY_OUTCOMES | UNREACHABLE_OUTCOMES)
        raise InvalidInput(f"unknown call outcome {outcome[:30]!r}; expected one of {', '.join(known)}")
    candidate = now + RETRY_AFTER
    if resident is None:  # no calling hours known: keep the task's own window, else the same hours a day later
        if candidate < task.not_after:
            return AttemptDecision(TaskStatus.PENDING, max(candidate, task.not_before), task.not_before, task.not_after)
        shift = timedelta(days=max(1, (candidate - task.not_before).days + 1))
        return AttemptDecision(TaskStatus.PENDING, task.not_before + shift, task.not_before + shift, task.not_after + shift)
    window = next_calling_window(resident, candidate, ignore_quiet_days=task.purpose == CallPurpose.WEATHER)
    return AttemptDecision(TaskStatus.PENDING, max(candidate, window.start), window.start, window.end)


def welfare_trigger(task: CallTask, now: datetime) -> AlertTrigger:
    """The welfare_check alert to raise for a task left unreached (no personal data in the reason)."""
    template = N_("{purpose} call unreached after {attempts} attempt(s)")  # the page says purpose with term()
    return AlertTrigger(task.resident_id, AlertType.WELFARE_CHECK, Severity.HIGH, now,
                        template.format(purpose=task.purpose.replace("_", " "), attempts=task.attempts),
                        template=template, params=reason_params(purpose=task.purpose.value, attempts=task.attempts))
