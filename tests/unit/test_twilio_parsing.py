"""Pure parts of the Twilio edge: callback parsing, prompts per language, reply TwiML."""
from __future__ import annotations

from datetime import datetime, timezone

import pytest

from outreach.telephony import CallStatus
from outreach.twilio_telephony import TwilioTelephony
from outreach.voice_prompts import VOICES, prompts_for, spoken_text
from dashboards.routes.twilio_webhooks import parse_gather, parse_status
from telecare.clock import FakeClock
from telecare.errors import InvalidInput

NOW = datetime(2026, 7, 1, 12, tzinfo=timezone.utc)
SID = "CA" + "f" * 32


@pytest.mark.parametrize(("raw", "status"), [("initiated", CallStatus.QUEUED), ("queued", CallStatus.QUEUED),
                                             ("ringing", CallStatus.RINGING),
                                             ("in-progress", CallStatus.IN_PROGRESS),
                                             ("no-answer", CallStatus.NO_ANSWER), ("busy", CallStatus.BUSY),
                                             ("failed", CallStatus.FAILED), ("canceled", CallStatus.CANCELED)])
def test_resident_leg_statuses(raw: str, status: CallStatus) -> None:
    update = parse_status({"CallSid": SID, "CallStatus": raw}, "12", "resident", NOW)
    assert update is not None and (update.status, update.call_ref, update.at) == (status, "12", NOW)


def test_operator_leg_only_reports_failures_as_canceled() -> None:
    assert parse_status({"CallSid": SID, "CallStatus": "completed"}, "1", "operator", NOW) is None
    failed = parse_status({"CallSid": SID, "CallStatus": "busy"}, "1", "operator", NOW)
    assert failed is not None and failed.status == CallStatus.CANCELED


@pytest.mark.parametrize("params", [{}, {"CallSid": SID}, {"CallSid": SID, "CallStatus": "bogus"},
                                    {"CallStatus": "ringing"}])
def test_malformed_status_is_invalid_input(params: dict[str, str]) -> None:
    with pytest.raises(InvalidInput):
        parse_status(params, "1", "resident", NOW)


def test_gather_digits_validated() -> None:
    assert parse_gather({"CallSid": SID, "Digits": "2"}, "3", NOW).digits == "2"
    assert parse_gather({"CallSid": SID}, "3", NOW).digits is None
    with pytest.raises(InvalidInput):
        parse_gather({"CallSid": SID, "Digits": "1; drop"}, "3", NOW)


def test_prompts_resolve_language_tags_and_fall_back_to_catalan() -> None:
    assert prompts_for("es-ES") == prompts_for("es") and prompts_for("es").voice == "es-ES"
    assert prompts_for("en_GB").voice == "en-GB" and prompts_for("ca").voice == "ca-ES"
    assert prompts_for("xx") == prompts_for("ca") == prompts_for(None)
    assert prompts_for("ca").press == "Premeu 1 si esteu bé. Premeu 2 per parlar amb algú."  # from calls.po
    assert spoken_text("Hello.", "en", True) == "Hello. Press 1 if you are fine. Press 2 to talk to someone."
    assert spoken_text("Hello.", "en", False) == "Hello."
    # A key-holder call asks its own question instead of "are you fine".
    assert spoken_text("Press 1 if you can go now.", "en", True, key_prompt="") == "Press 1 if you can go now."


def test_every_language_has_every_phrase_and_a_voice() -> None:
    english = prompts_for("en")
    for language in VOICES:
        prompts = prompts_for(language)
        fields = ("press", "thanks", "connecting", "no_input", "bridging", "key_holder", "default_message")
        assert all(getattr(prompts, f) for f in fields) and "-" in prompts.voice
        if language != "en":  # every phrase translated (calls.po), none left in English
            assert all(getattr(prompts, f) != getattr(english, f) for f in fields), language


def test_gather_reply_twiml() -> None:
    telephony = TwilioTelephony("AC" + "0" * 32, "t", "+34930000000", "https://x.example/", clock=FakeClock(NOW))
    assert telephony.gather_response("1", "en") == (
        '<?xml version="1.0" encoding="UTF-8"?><Response><Say language="en-GB">Thank you. Have a good day.'
        "</Say><Hangup /></Response>")
    assert "Una persona del servicio" in telephony.gather_response("2", "es")
    assert telephony.webhook_url("/twilio/gather", ref="1", lang="es") == "https://x.example/twilio/gather?ref=1&lang=es"
