"""The Telephony boundary: what the calling flow asks of a voice provider, and what it hears back."""
from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Protocol

from telecare.errors import TelephonyError


class CallStatus(StrEnum):
    """Provider call states (Twilio's names)."""

    QUEUED = "queued"
    RINGING = "ringing"
    IN_PROGRESS = "in-progress"
    COMPLETED = "completed"
    BUSY = "busy"
    NO_ANSWER = "no-answer"
    FAILED = "failed"
    CANCELED = "canceled"


FINAL_STATUSES = frozenset({CallStatus.COMPLETED, CallStatus.BUSY, CallStatus.NO_ANSWER,
                            CallStatus.FAILED, CallStatus.CANCELED})


@dataclass(frozen=True, slots=True)
class CallRequest:
    """One outbound call. `call_ref` is our call_log id, echoed back in every update."""

    call_ref: str
    to: str
    language: str = "ca"
    # Automated call: say `message`, then "press 1 if you are fine, press 2 to talk to someone".
    message: str | None = None
    gather_digits: bool = False
    # The key instructions after `message`; None means the standard "press 1 if you are fine, press 2 to talk
    # to someone". Calls to key-holders ask something else, so they say their own (or "" when in `message`).
    key_prompt: str | None = None
    # Click-to-call: ring the operator at `bridge_from` first, then connect them to `to`.
    bridge_from: str | None = None
    timeout_s: int = 30


@dataclass(frozen=True, slots=True)
class CallHandle:
    provider_call_id: str


@dataclass(frozen=True, slots=True)
class CallUpdate:
    """A status change or key press reported by the provider (status callback / simulator)."""

    provider_call_id: str
    call_ref: str
    status: CallStatus
    at: datetime
    digits: str | None = None
    answered_by: str | None = None  # "human", "machine_*" when answering-machine detection ran
    duration_s: int | None = None


UpdateHandler = Callable[[CallUpdate], Awaitable[None]]


class Telephony(Protocol):
    """A voice provider. Updates arrive later through the handler given to `set_update_handler`."""

    def set_update_handler(self, handler: UpdateHandler) -> None: ...

    async def place_call(self, request: CallRequest) -> CallHandle:
        """Start a call; raise telecare.errors.TelephonyError with an operator-safe message on failure."""
        ...

    async def hang_up(self, provider_call_id: str) -> None: ...

    async def close(self) -> None: ...


class CallRejected(TelephonyError):
    """The provider refused this call for good (e.g. an invalid number): retrying will not help.

    `reason` is a FHIR communication-not-done-reason code the call log can store.
    """

    def __init__(self, message: str, reason: str = "invalid-phone-number") -> None:
        super().__init__(message)
        self.reason = reason
