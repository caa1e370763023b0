"""Twilio's status and key-press callbacks: verify the signature, turn the form into a CallUpdate."""
from __future__ import annotations

import logging
from collections.abc import Mapping
from datetime import datetime
from urllib.parse import parse_qsl

from fastapi import APIRouter, Request, Response

from outreach.telephony import CallStatus, CallUpdate, UpdateHandler
from outreach.twilio_telephony import TwilioTelephony
from telecare import metrics
from telecare.errors import InvalidInput

log = logging.getLogger(__name__)
# Twilio reports "initiated" for the first status event; for us it is still queued.
STATUS_ALIASES = {"initiated": CallStatus.QUEUED, "answered": CallStatus.IN_PROGRESS}
OPERATOR_FAILED = {CallStatus.BUSY, CallStatus.NO_ANSWER, CallStatus.FAILED, CallStatus.CANCELED}


def parse_status(params: Mapping[str, str], ref: str, leg: str, now: datetime) -> CallUpdate | None:
    """A status callback as a CallUpdate about the resident; None when it says nothing about them.

    On click-to-call the operator's leg is the parent call: its failure means the resident was never
    called (CANCELED); its other events are noise. The resident's leg reports under the parent's sid,
    the id place_call returned.
    """
    if not ref:
        raise InvalidInput("callback without a call reference")
    sid = params.get("ParentCallSid") or params.get("CallSid")
    raw = params.get("CallStatus", "")
    if not sid:
        raise InvalidInput("callback without CallSid")
    try:
        status = STATUS_ALIASES.get(raw) or CallStatus(raw)
    except ValueError as err:
        raise InvalidInput(f"unknown call status {raw[:20]!r}") from err
    if leg == "operator":
        if status not in OPERATOR_FAILED:
            return None
        status = CallStatus.CANCELED
    duration = params.get("CallDuration") or params.get("DialCallDuration")
    return CallUpdate(sid, ref, status, now, digits=params.get("Digits") or None,
                      answered_by=params.get("AnsweredBy") or None,
                      duration_s=int(duration) if duration and duration.isdigit() else None)


def parse_gather(params: Mapping[str, str], ref: str, now: datetime) -> CallUpdate:
    """The <Gather> action: the key the resident pressed (digits None when they pressed nothing)."""
    if not ref or not params.get("CallSid"):
        raise InvalidInput("key-press callback without call reference or CallSid")
    digits = params.get("Digits") or None
    if digits is not None and not all(d in "0123456789*#" for d in digits):
        raise InvalidInput("key-press callback with invalid digits")
    return CallUpdate(params["CallSid"], ref, CallStatus.IN_PROGRESS, now, digits=digits)


def router(telephony: TwilioTelephony, on_update: UpdateHandler | None = None) -> APIRouter:
    """POST /twilio/status and /twilio/gather; a bad or missing signature gets 403."""
    api = APIRouter(tags=["twilio"])
    deliver = on_update or telephony.dispatch

    async def verified(request: Request, endpoint: str) -> dict[str, str] | None:
        body = (await request.body()).decode("utf-8", errors="replace")
        params = dict(parse_qsl(body, keep_blank_values=True))
        url = telephony.webhook_url(request.url.path) + (f"?{request.url.query}" if request.url.query else "")
        if not telephony.verify_signature(url, params, request.headers.get("X-Twilio-Signature")):
            metrics.TELEPHONY_WEBHOOKS.labels(endpoint, "forbidden").inc()
            log.warning("rejected %s webhook with a bad or missing signature", endpoint)
            return None
        return params

    async def handle(update: CallUpdate, endpoint: str) -> bool:
        metrics.TELEPHONY_UPDATES.labels("twilio", update.status.value).inc()
        try:
            await deliver(update)
        except Exception:  # noqa: BLE001 - a handler bug must not take the webhook down
            metrics.TELEPHONY_HANDLER_ERRORS.labels("twilio").inc()
            log.exception("call update handler failed for %s webhook, ref %s", endpoint, update.call_ref)
            return False
        metrics.TELEPHONY_WEBHOOKS.labels(endpoint, "accepted").inc()
        return True

    def invalid(endpoint: str, err: InvalidInput) -> Response:
        metrics.TELEPHONY_WEBHOOKS.labels(endpoint, "invalid").inc()
        log.warning("invalid %s webhook: %s", endpoint, err)
        return Response(str(err), status_code=400, media_type="text/plain")

    @api.post("/twilio/status")
    async def status(request: Request) -> Response:
        params = await verified(request, "status")
        if params is None:
            return Response("invalid signature", status_code=403, media_type="text/plain")
        try:
            update = parse_status(params, request.query_params.get("ref", ""),
                                  request.query_params.get("leg", "resident"), telephony.clock.now())
        except InvalidInput as err:
            return invalid("status", err)
        if update is not None and not await handle(update, "status"):
            return Response("update not processed", status_code=500, media_type="text/plain")
        return Response(status_code=204)

    @api.post("/twilio/gather")
    async def gather(request: Request) -> Response:
        params = await verified(request, "gather")
        if params is None:
            return Response("invalid signature", status_code=403, media_type="text/plain")
        try:
            update = parse_gather(params, request.query_params.get("ref", ""), telephony.clock.now())
        except InvalidInput as err:
            return invalid("gather", err)
        await handle(update, "gather")  # the resident hears a reply even if our side failed
        twiml = telephony.gather_response(update.digits, request.query_params.get("lang"))
        return Response(twiml, media_type="application/xml")

    return api
