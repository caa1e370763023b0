"""Call tasks and campaigns as frozen records, the outcome vocabulary, and the pure retry decision."""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any

from outreach.planning import next_calling_window
from telecare.alerts import AlertTrigger, AlertType, Severity
from telecare.errors import InvalidInput
from telecare.people import Resident

# call_log.outcome values. Reached: the resident was spoken to (also counts as the last successful contact).
REACHED_OUTCOMES = frozenset({"fine", "concern", "declined", "answered", "connected", "callback_requested", "no_key"})
SUCCESSFUL_OUTCOMES = REACHED_OUTCOMES
RETRY_OUTCOMES = frozenset({"no_answer", "busy", "failed", "voicemail", "machine"})
UNREACHABLE_OUTCOMES = frozenset({"wrong_number"})  # retrying the same number cannot help
# Purposes where "could not reach them" is itself a reason to worry; an information campaign is not.
WELFARE_ON_UNREACHED = frozenset({"follow_up", "birthday", "weather", "welfare"})
RETRY_AFTER = timedelta(minutes=30)
OPEN_STATUSES = ("pending", "dialing")


@dataclass(frozen=True, slots=True)
class CallTask:
    """One row of call_tasks."""

    id: int
    resident_id: str
    purpose: str
    mode: str
    campaign_id: int | None
    alert_id: int | None
    due_date: date
    not_before: datetime
    not_after: datetime
    priority: int
    assigned_to: str | None
    status: str
    attempts: int
    max_attempts: int
    next_attempt_at: datetime
    reason: str
    dedupe_key: str
    created_at: datetime
    updated_at: datetime

    @classmethod
    def from_row(cls, row: dict[str, Any]) -> CallTask:
        return cls(**{k: row[k] for k in cls.__slots__})  # type: ignore[attr-defined]


@dataclass(frozen=True, slots=True)
class Campaign:
    """One row of campaigns. `messages` maps a language ('ca', 'es', 'en') to the spoken text."""

    id: int
    kind: str
    title: str
    message: str
    mode: str
    source_id: str | None
    event: str | None
    severity: str | None
    urgency: str | None
    onset: datetime | None
    expires: datetime | None
    area: Any
    audience: dict[str, Any]
    status: str
    created_by: str
    created_at: datetime

    @classmethod
    def from_row(cls, row: dict[str, Any]) -> Campaign:
        return cls(**{k: row[k] for k in cls.__slots__})  # type: ignore[attr-defined]

    def message_for(self, language: str) -> str:
        """The message in the resident's language if we have it, else the campaign's main message."""
        messages = self.audience.get("messages", {}) if isinstance(self.audience, dict) else {}
        return messages.get(language.split("-")[0].lower()) or self.message


@dataclass(frozen=True, slots=True)
class NewCampaign:
    """What campaigns.py asks TaskStore to create."""

    kind: str  # weather | information
    title: str
    message: str
    created_by: str
    mode: str = "automated"
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
    status: str
    next_attempt_at: datetime
    not_before: datetime
    not_after: datetime


def decide_after_attempt(task: CallTask, outcome: str, now: datetime, resident: Resident | None) -> AttemptDecision:
    """Pure: done if reached; retry 30 min later inside calling hours; unreached after the last attempt."""
    attempts = task.attempts + 1
    if outcome in REACHED_OUTCOMES:
        return AttemptDecision("done", task.next_attempt_at, task.not_before, task.not_after)
    if outcome in UNREACHABLE_OUTCOMES or (outcome in RETRY_OUTCOMES and attempts >= task.max_attempts):
        return AttemptDecision("unreached", task.next_attempt_at, task.not_before, task.not_after)
    if outcome not in RETRY_OUTCOMES:
        known = sorted(REACHED_OUTCOMES | RETRY_OUTCOMES | UNREACHABLE_OUTCOMES)
        raise InvalidInput(f"unknown call outcome {outcome[:30]!r}; expected one of {', '.join(known)}")
    candidate = now + RETRY_AFTER
    if resident is None:  # no calling hours known: keep the task's own window, else the same hours a day later
        if candidate < task.not_after:
            return AttemptDecision("pending", max(candidate, task.not_before), task.not_before, task.not_after)
        shift = timedelta(days=max(1, (candidate - task.not_before).days + 1))
        return AttemptDecision("pending", task.not_before + shift, task.not_before + shift, task.not_after + shift)
    window = next_calling_window(resident, candidate, ignore_quiet_days=task.purpose == "weather")
    return AttemptDecision("pending", max(candidate, window.start), window.start, window.end)


def welfare_trigger(task: CallTask, now: datetime) -> AlertTrigger:
    """The welfare_check alert to raise for a task left unreached (no personal data in the reason)."""
    return AlertTrigger(task.resident_id, AlertType.WELFARE_CHECK, Severity.HIGH, now,
                        f"{task.purpose.replace('_', ' ')} call unreached after {task.attempts} attempt(s)")
