"""TwilioTelephony against a local fake Twilio: the exact REST requests the official client sends."""
from __future__ import annotations

import xml.etree.ElementTree as ET
from collections.abc import Iterator
from datetime import datetime, timezone
from urllib.parse import parse_qs, urlsplit

import pytest

from outreach.telephony import CallRejected, CallRequest
from outreach.twilio_telephony import TwilioTelephony
from telecare.clock import FakeClock
from telecare.errors import TelephonyError
from tests.fakes.fake_twilio import FakeTwilio

PUBLIC = "https://telecare.example.org"
FROM = "+34930001122"
RESIDENT = "+34600111222"
OPERATOR = "+34930009988"


@pytest.fixture
def fake() -> Iterator[FakeTwilio]:
    with FakeTwilio() as server:
        yield server


@pytest.fixture
async def twilio(fake: FakeTwilio):
    telephony = TwilioTelephony(fake.account_sid, fake.auth_token, FROM, PUBLIC, base_url=fake.base_url,
                                clock=FakeClock(datetime(2026, 7, 1, 9, tzinfo=timezone.utc)))
    yield telephony
    await telephony.close()


async def test_automated_call_sends_say_gather_and_status_callback(fake, twilio) -> None:
    handle = await twilio.place_call(CallRequest(call_ref="123", to=RESIDENT, language="es",
                                                 message="Aviso de calor extremo.", gather_digits=True,
                                                 timeout_s=25))
    [sent] = fake.calls_created()
    assert sent.path == f"/2010-04-01/Accounts/{fake.account_sid}/Calls.json"
    assert handle.provider_call_id == sent.sid and sent.sid.startswith("CA") and len(sent.sid) == 34
    assert sent.field("To") == RESIDENT and sent.field("From") == FROM and sent.field("Timeout") == "25"
    assert sent.field("Url") is None
    assert sent.field("StatusCallback") == f"{PUBLIC}/twilio/status?ref=123&leg=resident"
    assert sent.form["StatusCallbackEvent"] == ["initiated", "ringing", "answered", "completed"]
    assert sent.field("StatusCallbackMethod") == "POST"
    twiml = ET.fromstring(sent.field("Twiml"))
    gather = twiml.find("Gather")
    assert gather.attrib == {"action": f"{PUBLIC}/twilio/gather?ref=123&lang=es", "method": "POST",
                             "numDigits": "1", "timeout": "10"}
    say = gather.find("Say")
    assert say.attrib["language"] == "es-ES"
    assert say.text == "Aviso de calor extremo. Pulse 1 si se encuentra bien. Pulse 2 para hablar con alguien."
    fallback = twiml.findall("Say")
    assert len(fallback) == 1 and fallback[0].attrib["language"] == "es-ES" and "llamará" in fallback[0].text


async def test_catalan_is_the_default_language(fake, twilio) -> None:
    await twilio.place_call(CallRequest(call_ref="5", to=RESIDENT, message="Bon dia.", gather_digits=True))
    say = ET.fromstring(fake.calls_created()[0].field("Twiml")).find("Gather/Say")
    assert say.attrib["language"] == "ca-ES" and say.text.startswith("Bon dia. Premeu 1")


async def test_click_to_call_rings_the_operator_and_dials_the_resident(fake, twilio) -> None:
    await twilio.place_call(CallRequest(call_ref="9", to=RESIDENT, bridge_from=OPERATOR, language="en"))
    [sent] = fake.calls_created()
    assert sent.field("To") == OPERATOR and sent.field("From") == FROM
    assert sent.field("StatusCallback") == f"{PUBLIC}/twilio/status?ref=9&leg=operator"
    twiml = ET.fromstring(sent.field("Twiml"))
    assert twiml.find("Say").attrib["language"] == "en-GB"
    dial = twiml.find("Dial")
    assert dial.attrib == {"callerId": FROM, "timeout": "30"}
    number = dial.find("Number")
    assert number.text == RESIDENT
    assert number.attrib["statusCallback"] == f"{PUBLIC}/twilio/status?ref=9&leg=resident"
    assert number.attrib["statusCallbackEvent"] == "initiated ringing answered completed"


async def test_hang_up_updates_the_call_to_completed(fake, twilio) -> None:
    handle = await twilio.place_call(CallRequest(call_ref="1", to=RESIDENT, message="Hola"))
    await twilio.hang_up(handle.provider_call_id)
    last = fake.requests[-1]
    assert last.path == f"/2010-04-01/Accounts/{fake.account_sid}/Calls/{handle.provider_call_id}.json"
    assert last.form == {"Status": ["completed"]}


async def test_invalid_number_becomes_call_rejected_without_the_number(fake, twilio) -> None:
    fake.fail_next(400, 21211, f"The 'To' number {RESIDENT} is not a valid phone number.")
    with pytest.raises(CallRejected) as err:
        await twilio.place_call(CallRequest(call_ref="2", to=RESIDENT, message="Hola"))
    assert err.value.reason == "invalid-phone-number" and "21211" in str(err.value)
    assert RESIDENT not in str(err.value) and "600" not in str(err.value)


@pytest.mark.parametrize(("status", "code", "words"), [(429, 20429, "rate limiting"),
                                                       (500, 20500, "HTTP 500")])
async def test_transient_errors_become_telephony_errors(fake, twilio, status, code, words) -> None:
    fake.fail_next(status, code, f"failure for {RESIDENT}")
    with pytest.raises(TelephonyError) as err:
        await twilio.place_call(CallRequest(call_ref="3", to=RESIDENT, message="Hola"))
    assert not isinstance(err.value, CallRejected)
    assert words in str(err.value) and RESIDENT not in str(err.value)


async def test_wrong_credentials_and_unreachable_provider(fake) -> None:
    clock = FakeClock(datetime(2026, 7, 1, tzinfo=timezone.utc))
    wrong = TwilioTelephony(fake.account_sid, "wrong", FROM, PUBLIC, base_url=fake.base_url, clock=clock)
    with pytest.raises(TelephonyError, match="credentials"):
        await wrong.place_call(CallRequest(call_ref="4", to=RESIDENT, message="Hola"))
    down = TwilioTelephony(fake.account_sid, fake.auth_token, FROM, PUBLIC, base_url="http://127.0.0.1:9",
                           clock=clock)
    with pytest.raises(TelephonyError, match="cannot be reached"):
        await down.place_call(CallRequest(call_ref="4", to=RESIDENT, message="Hola"))


def test_signature_verification_uses_the_full_url_and_params(fake) -> None:
    telephony = TwilioTelephony(fake.account_sid, fake.auth_token, FROM, PUBLIC, base_url=fake.base_url,
                                clock=FakeClock(datetime(2026, 7, 1, tzinfo=timezone.utc)))
    url = f"{PUBLIC}/twilio/status?ref=1&leg=resident"
    params = {"CallSid": "CA" + "1" * 32, "CallStatus": "ringing"}
    good = fake.signature(url, params)
    assert telephony.verify_signature(url, params, good)
    assert not telephony.verify_signature(url, {**params, "CallStatus": "completed"}, good)
    assert not telephony.verify_signature(url.replace("ref=1", "ref=2"), params, good)
    assert not telephony.verify_signature(url, params, None)
    assert parse_qs(urlsplit(url).query) == {"ref": ["1"], "leg": ["resident"]}


async def test_machine_detection_is_opt_in(fake, twilio) -> None:
    await twilio.place_call(CallRequest(call_ref="1", to=RESIDENT, message="Hola"))
    amd = TwilioTelephony(fake.account_sid, fake.auth_token, FROM, PUBLIC, base_url=fake.base_url,
                          clock=FakeClock(datetime(2026, 7, 1, tzinfo=timezone.utc)), machine_detection=True)
    await amd.place_call(CallRequest(call_ref="2", to=RESIDENT, message="Hola"))
    await amd.close()
    assert [r.field("MachineDetection") for r in fake.calls_created()] == [None, "Enable"]
