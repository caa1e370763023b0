"""Telephony over Twilio: the only module that imports the `twilio` library."""
from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping
from urllib.parse import urlencode

from twilio.base.exceptions import TwilioException, TwilioRestException
from twilio.request_validator import RequestValidator
from twilio.rest import Client
from twilio.twiml.voice_response import VoiceResponse

from outreach.telephony import CallHandle, CallRejected, CallRequest, CallUpdate, UpdateHandler
from outreach.voice_prompts import prompts_for, spoken_text
from telecare import metrics
from telecare.clock import Clock
from telecare.errors import TelephonyError

log = logging.getLogger(__name__)
STATUS_EVENTS = ["initiated", "ringing", "answered", "completed"]
GATHER_TIMEOUT_S = 10
# Twilio error codes that mean "this number will never work": (operator-safe text, FHIR not-done reason).
REJECTED_CODES: dict[int, tuple[str, str]] = {
    21211: ("the phone number is not valid", "invalid-phone-number"),
    21217: ("the phone number is not valid", "invalid-phone-number"),
    13223: ("the phone number is not valid", "invalid-phone-number"),
    13224: ("the phone number is not valid", "invalid-phone-number"),
    21214: ("the phone number cannot be reached", "recipient-unavailable"),
    21215: ("calls to this destination are not permitted", "prohibited"),
}
SAFE_MESSAGES: dict[int, str] = {
    20003: "the provider refused our credentials",
    20429: "the provider is rate limiting our calls",
    21210: "the caller id is not verified with the provider",
}


class TwilioTelephony:
    """Places calls through Twilio's REST API; updates come back through `dashboards.routes.twilio_webhooks`."""

    def __init__(self, account_sid: str, auth_token: str, from_number: str, public_base_url: str, *,
                 base_url: str | None = None, clock: Clock, machine_detection: bool = False) -> None:
        self._client = Client(account_sid, auth_token)
        if base_url:  # every v2010 URL is built from the Api domain's base_url (twilio.base.domain)
            self._client.api.base_url = base_url.rstrip("/")
        self._validator = RequestValidator(auth_token)
        self._from = from_number
        self.public_base_url = public_base_url.rstrip("/")
        self.clock = clock
        self._handler: UpdateHandler | None = None
        # Answering-machine detection is only ~65-80 % accurate, so it is opt-in and only informs AnsweredBy.
        self._amd = machine_detection

    def set_update_handler(self, handler: UpdateHandler) -> None:
        """Where webhook updates go when the webhook router has no handler of its own."""
        self._handler = handler

    async def dispatch(self, update: CallUpdate) -> None:
        """Hand a webhook update to the registered handler."""
        if self._handler is not None:
            await self._handler(update)

    def webhook_url(self, path: str, **query: str) -> str:
        """The public URL of one of our webhooks, exactly as given to Twilio (and so as signed)."""
        return f"{self.public_base_url}{path}" + (f"?{urlencode(query)}" if query else "")

    def twiml_for(self, request: CallRequest) -> str:
        """The TwiML the call runs once answered: a bridge, or a message with a key prompt."""
        prompts = prompts_for(request.language)
        response = VoiceResponse()
        if request.bridge_from:
            response.say(prompts.bridging, language=prompts.voice)
            dial = response.dial(timeout=request.timeout_s, caller_id=self._from)
            dial.number(request.to, status_callback=self.webhook_url(
                "/twilio/status", ref=request.call_ref, leg="resident"),
                status_callback_event=" ".join(STATUS_EVENTS), status_callback_method="POST")
            return str(response)
        if request.gather_digits:
            gather = response.gather(num_digits=1, timeout=GATHER_TIMEOUT_S, method="POST", action=self.webhook_url(
                "/twilio/gather", ref=request.call_ref, lang=request.language))
            gather.say(spoken_text(request.message, request.language, True, request.key_prompt),
                       language=prompts.voice)
            response.say(prompts.no_input, language=prompts.voice)  # reached only when no key came
        else:
            response.say(request.message or "", language=prompts.voice)
        return str(response)

    def gather_response(self, digits: str | None, language: str | None) -> str:
        """TwiML answering a key press: thanks for 1, a person will call for anything else."""
        prompts = prompts_for(language)
        response = VoiceResponse()
        response.say(prompts.thanks if digits == "1" else prompts.connecting, language=prompts.voice)
        response.hangup()
        return str(response)

    def verify_signature(self, url: str, params: Mapping[str, str], signature: str | None) -> bool:
        """True when X-Twilio-Signature matches the URL and form parameters under our auth token."""
        if not signature:
            return False
        return bool(self._validator.validate(url, dict(params), signature))

    async def place_call(self, request: CallRequest) -> CallHandle:
        """Ask Twilio to start the call; raise TelephonyError/CallRejected without personal data."""
        leg = "operator" if request.bridge_from else "resident"
        kwargs = dict(
            to=request.bridge_from or request.to, from_=self._from, twiml=self.twiml_for(request),
            status_callback=self.webhook_url("/twilio/status", ref=request.call_ref, leg=leg),
            status_callback_event=STATUS_EVENTS, status_callback_method="POST", timeout=request.timeout_s,
        )
        if self._amd and not request.bridge_from:
            kwargs["machine_detection"] = "Enable"

        try:
            call = await asyncio.to_thread(self._client.calls.create, **kwargs)
        except Exception as err:  # noqa: BLE001 - translated just below, once, at the boundary
            raise self._translate(err, request.call_ref) from err
        metrics.TELEPHONY_CALLS.labels("twilio", "placed").inc()
        return CallHandle(call.sid)

    async def hang_up(self, provider_call_id: str) -> None:
        """End a call in any state (Twilio: update Status=completed)."""
        try:
            await asyncio.to_thread(self._client.calls(provider_call_id).update, status="completed")
        except Exception as err:  # noqa: BLE001
            raise self._translate(err, provider_call_id) from err

    async def close(self) -> None:
        """Release the HTTP connection pool."""
        session = getattr(self._client.http_client, "session", None)
        if session is not None:
            session.close()

    def _translate(self, err: Exception, ref: str) -> TelephonyError:
        if isinstance(err, TwilioRestException):
            code = int(err.code or 0)
            log.warning("twilio refused request for ref %s: HTTP %s code %s", ref, err.status, code)
            if code in REJECTED_CODES:
                metrics.TELEPHONY_CALLS.labels("twilio", "rejected").inc()
                text, reason = REJECTED_CODES[code]
                return CallRejected(f"call not placed: {text} (Twilio {code})", reason)
            metrics.TELEPHONY_CALLS.labels("twilio", "error").inc()
            text = SAFE_MESSAGES.get(code, "the provider failed the request")
            return TelephonyError(f"call not placed: {text} (HTTP {err.status}, Twilio {code})")
        metrics.TELEPHONY_CALLS.labels("twilio", "error").inc()
        if isinstance(err, (TwilioException, OSError)):  # requests' errors are OSErrors
            log.warning("twilio unreachable for ref %s: %s", ref, type(err).__name__)
            return TelephonyError("call not placed: the telephony provider cannot be reached")
        log.error("unexpected twilio client failure for ref %s: %s", ref, type(err).__name__)
        return TelephonyError("call not placed: unexpected telephony failure")
