"""The calls' vocabularies (purposes, modes, outcomes) and the pure mapping from a provider update to an outcome.

Values are the strings stored in call_tasks and call_log (unchanged: StrEnum members compare equal to them).
"""
from __future__ import annotations

from enum import StrEnum

from outreach.telephony import CallStatus


class CallPurpose(StrEnum):
    """Why a call is made (call_tasks.purpose, call_log.purpose)."""

    FOLLOW_UP = "follow_up"
    BIRTHDAY = "birthday"
    WEATHER = "weather"
    INFORMATION = "information"
    REMINDER = "reminder"
    ESCALATION = "escalation"  # a key-holder called about an unacknowledged alert
    WELFARE = "welfare"


class CallMode(StrEnum):
    """Who makes the call."""

    HUMAN = "human"
    AUTOMATED = "automated"


class CallOutcome(StrEnum):
    """How a call attempt ended (call_log.outcome)."""

    FINE = "fine"
    CONCERN = "concern"
    CALLBACK_REQUESTED = "callback_requested"  # pressed 2
    NO_KEY = "no_key"  # answered without pressing a key: a person calls back
    ACCEPTED = "accepted"  # a key-holder pressed 1: "I will go"
    NOT_ACCEPTED = "not_accepted"
    CONNECTED = "connected"
    NO_ANSWER = "no_answer"
    BUSY = "busy"
    VOICEMAIL = "voicemail"  # a machine answered: nobody was reached
    WRONG_NUMBER = "wrong_number"
    DECLINED = "declined"
    FAILED = "failed"
    TIMEOUT = "timeout"  # no final status from the provider in time


O = CallOutcome
# FHIR CodeSystem communication-not-done-reason (http://terminology.hl7.org/CodeSystem/communication-not-done-reason):
# unknown | system-error | invalid-phone-number | recipient-unavailable | family-objection | patient-objection.
NOT_DONE_REASON: dict[CallOutcome, str] = {
    O.NO_ANSWER: "recipient-unavailable",
    O.BUSY: "recipient-unavailable",
    O.VOICEMAIL: "recipient-unavailable",
    O.WRONG_NUMBER: "invalid-phone-number",
    O.DECLINED: "patient-objection",
    O.FAILED: "system-error",
    O.TIMEOUT: "system-error",
}
UNREACHED = frozenset({O.NO_ANSWER, O.BUSY, O.VOICEMAIL, O.FAILED, O.WRONG_NUMBER, O.TIMEOUT})
_FINAL = {CallStatus.NO_ANSWER: O.NO_ANSWER, CallStatus.BUSY: O.BUSY, CallStatus.FAILED: O.FAILED,
          CallStatus.CANCELED: O.FAILED}


def automated_outcome(status: CallStatus, digits: str | None, answered: bool, purpose: str = "") -> CallOutcome | None:
    """The outcome a provider update settles for an automated call, or None while it is still open (pure)."""
    if digits:
        outcome = {"1": O.FINE, "2": O.CALLBACK_REQUESTED}.get(digits[:1], O.NO_KEY)
    elif status == CallStatus.COMPLETED:
        outcome = O.NO_KEY if answered else O.NO_ANSWER  # answered without a key: never "fine", a person calls back
    else:
        return _FINAL.get(status)
    if purpose == CallPurpose.ESCALATION:  # a key-holder's 1 means "I will go"; anything else is a no
        return O.ACCEPTED if outcome == O.FINE else O.NOT_ACCEPTED
    return outcome
