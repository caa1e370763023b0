"""The Twilio webhooks accept correctly signed callbacks only and turn them into CallUpdates."""
from __future__ import annotations

import xml.etree.ElementTree as ET
from collections.abc import Iterator
from datetime import datetime, timezone

import httpx
import pytest
from fastapi import FastAPI

from dashboards.routes import twilio_webhooks as webhooks
from outreach.telephony import CallRequest, CallStatus, CallUpdate
from outreach.twilio_telephony import TwilioTelephony
from telecare.clock import FakeClock
from tests.fakes.fake_twilio import FakeTwilio

PUBLIC = "https://telecare.example.org"
NOW = datetime(2026, 7, 1, 9, 30, tzinfo=timezone.utc)


@pytest.fixture
def fake() -> Iterator[FakeTwilio]:
    with FakeTwilio() as server:
        yield server


@pytest.fixture
async def env(fake: FakeTwilio):
    telephony = TwilioTelephony(fake.account_sid, fake.auth_token, "+34930001122", PUBLIC,
                                base_url=fake.base_url, clock=FakeClock(NOW))
    seen: list[CallUpdate] = []

    async def on_update(update: CallUpdate) -> None:
        seen.append(update)

    app = FastAPI()
    app.include_router(webhooks.router(telephony, on_update))
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url=PUBLIC) as client:
        yield telephony, client, seen
    await telephony.close()


async def test_signed_status_callbacks_become_updates(fake, env) -> None:
    telephony, client, seen = env
    handle = await telephony.place_call(CallRequest(call_ref="77", to="+34600111222", message="Hola",
                                                    gather_digits=True))
    callback_url = fake.calls_created()[0].field("StatusCallback")
    sid = handle.provider_call_id
    for status in ("initiated", "ringing", "in-progress"):
        response = await fake.callback(client, callback_url, {"CallSid": sid, "CallStatus": status})
        assert response.status_code == 204
    response = await fake.callback(client, callback_url, {
        "CallSid": sid, "CallStatus": "completed", "CallDuration": "42", "AnsweredBy": "human",
        "AccountSid": fake.account_sid})
    assert response.status_code == 204
    assert seen == [CallUpdate(sid, "77", CallStatus.QUEUED, NOW), CallUpdate(sid, "77", CallStatus.RINGING, NOW),
                    CallUpdate(sid, "77", CallStatus.IN_PROGRESS, NOW),
                    CallUpdate(sid, "77", CallStatus.COMPLETED, NOW, answered_by="human", duration_s=42)]


async def test_gather_reports_the_key_and_answers_with_twiml(fake, env) -> None:
    telephony, client, seen = env
    await telephony.place_call(CallRequest(call_ref="78", to="+34600111222", message="Avís", language="ca",
                                           gather_digits=True))
    action = ET.fromstring(fake.calls_created()[0].field("Twiml")).find("Gather").attrib["action"]
    sid = fake.calls_created()[0].sid
    one = await fake.callback(client, action, {"CallSid": sid, "CallStatus": "in-progress", "Digits": "1"})
    assert one.status_code == 200 and one.headers["content-type"].startswith("application/xml")
    reply = ET.fromstring(one.text)
    assert reply.find("Say").text.startswith("Gràcies") and reply.find("Hangup") is not None
    two = await fake.callback(client, action, {"CallSid": sid, "CallStatus": "in-progress", "Digits": "2"})
    assert "trucarà" in ET.fromstring(two.text).find("Say").text
    assert [(u.status, u.digits, u.call_ref) for u in seen] == [
        (CallStatus.IN_PROGRESS, "1", "78"), (CallStatus.IN_PROGRESS, "2", "78")]


@pytest.mark.parametrize("signature", [None, "bm90LWEtc2lnbmF0dXJl", "tampered"])
async def test_bad_or_missing_signature_is_forbidden(fake, env, signature) -> None:
    _, client, seen = env
    url = f"{PUBLIC}/twilio/status?ref=1&leg=resident"
    params = {"CallSid": "CA" + "a" * 32, "CallStatus": "completed"}
    if signature == "tampered":  # signed for other parameters
        signature = fake.signature(url, {**params, "CallStatus": "ringing"})
    response = await fake.callback(client, url, params, signature=signature)
    assert response.status_code == 403
    gather = await fake.callback(client, f"{PUBLIC}/twilio/gather?ref=1", {**params, "Digits": "1"},
                                 signature=signature)
    assert gather.status_code == 403
    assert seen == []


async def test_signature_for_another_url_is_forbidden(fake, env) -> None:
    _, client, seen = env
    params = {"CallSid": "CA" + "b" * 32, "CallStatus": "completed"}
    signature = fake.signature(f"{PUBLIC}/twilio/status?ref=2&leg=resident", params)
    response = await fake.callback(client, f"{PUBLIC}/twilio/status?ref=1&leg=resident", params,
                                   signature=signature)
    assert response.status_code == 403 and seen == []


async def test_click_to_call_legs(fake, env) -> None:
    telephony, client, seen = env
    parent = "CA" + "c" * 32
    operator_url = f"{PUBLIC}/twilio/status?ref=9&leg=operator"
    resident_url = f"{PUBLIC}/twilio/status?ref=9&leg=resident"
    await fake.callback(client, operator_url, {"CallSid": parent, "CallStatus": "in-progress"})
    await fake.callback(client, resident_url, {"CallSid": "CA" + "d" * 32, "ParentCallSid": parent,
                                               "CallStatus": "ringing"})
    await fake.callback(client, operator_url, {"CallSid": parent, "CallStatus": "no-answer"})
    assert [(u.provider_call_id, u.status) for u in seen] == [(parent, CallStatus.RINGING),
                                                              (parent, CallStatus.CANCELED)]


async def test_signed_but_malformed_callbacks_are_refused_with_400(fake, env) -> None:
    _, client, seen = env
    url = f"{PUBLIC}/twilio/status?ref=1"
    response = await fake.callback(client, url, {"CallSid": "CA1", "CallStatus": "exploded"})
    assert response.status_code == 400 and "unknown call status" in response.text
    no_ref = await fake.callback(client, f"{PUBLIC}/twilio/gather", {"CallSid": "CA1", "Digits": "1"})
    assert no_ref.status_code == 400 and seen == []


async def test_a_failing_handler_gets_500_on_status_but_the_resident_still_hears_twiml(fake) -> None:
    telephony = TwilioTelephony(fake.account_sid, fake.auth_token, "+34930001122", PUBLIC,
                                base_url=fake.base_url, clock=FakeClock(NOW))

    async def broken(update: CallUpdate) -> None:
        raise RuntimeError("database down")

    telephony.set_update_handler(broken)  # the router falls back to the telephony's handler
    app = FastAPI()
    app.include_router(webhooks.router(telephony))
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url=PUBLIC) as client:
        params = {"CallSid": "CA" + "e" * 32, "CallStatus": "completed"}
        status = await fake.callback(client, f"{PUBLIC}/twilio/status?ref=5", params)
        gather = await fake.callback(client, f"{PUBLIC}/twilio/gather?ref=5&lang=en", {**params, "Digits": "1"})
    assert status.status_code == 500
    assert gather.status_code == 200 and "Thank you" in gather.text


async def test_a_whole_automated_call_played_by_the_fake(fake, env) -> None:
    telephony, client, seen = env
    handle = await telephony.place_call(CallRequest(call_ref="90", to="+34600111222", message="Calor.",
                                                    language="es", gather_digits=True))
    sid = handle.provider_call_id
    replies = await fake.drive(client, sid, "initiated", "ringing", "in-progress")
    reply = await fake.press(client, sid, "2")
    replies += await fake.drive(client, sid, "completed", CallDuration="31")
    assert [r.status_code for r in replies] == [204, 204, 204, 204] and reply.status_code == 200
    assert "le llamará" in reply.text
    assert [(u.status.value, u.digits, u.duration_s) for u in seen] == [
        ("queued", None, None), ("ringing", None, None), ("in-progress", None, None),
        ("in-progress", "2", None), ("completed", None, 31)]
    assert {u.provider_call_id for u in seen} == {sid} and {u.call_ref for u in seen} == {"90"}
