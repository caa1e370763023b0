"""Call scripts in the resident's language: the dialer places real Twilio REST calls (local fake Twilio) for a
Catalan, a Spanish and an English resident; each call's TwiML speaks their language with the right voice."""
from __future__ import annotations

import xml.etree.ElementTree as ET
from datetime import datetime, timedelta, timezone

from alerts.store import AlertStore
from devices.registry import Registry
from outreach.call_log import CallLog
from outreach.dialer import Dialer
from outreach.planning import PlannedCall
from outreach.task_records import NewCampaign
from outreach.tasks import TaskStore
from outreach.twilio_telephony import TwilioTelephony
from telecare.bus import InProcessBus
from telecare.clock import FakeClock
from telecare.people import Resident
from tests.fakes.fake_twilio import FakeTwilio

T0 = datetime(2026, 6, 22, 8, 0, tzinfo=timezone.utc)  # 10:00 in Barcelona
RESIDENTS = {"rc": ("ca", "+34600000101"), "rs": ("es-ES", "+34600000102"), "re": ("en", "+34600000103")}


async def test_each_resident_hears_the_call_in_their_language(db):
    clock = FakeClock(T0)
    registry, tasks = Registry(db), TaskStore(db)
    for rid, (language, phone) in RESIDENTS.items():
        await registry.upsert_resident(Resident(rid, f"Resident {rid}", phones=(phone,), language=language))
    plans = [PlannedCall(rid, "weather", "automated", T0.date(), T0, T0 + timedelta(hours=8), 10, None, f"w:{rid}",
                         "heat warning") for rid in RESIDENTS]
    await tasks.create_campaign(NewCampaign("weather", "Calor", "Heat warning: drink water.", "tester", audience={
        "messages": {"ca": "Avís de calor: beveu aigua.", "es": "Aviso de calor: beba agua."}}), plans, T0)

    async def sleep(seconds: float) -> None:  # pacing waits move the fake clock, never the test
        clock.advance(seconds)

    with FakeTwilio() as fake:
        twilio = TwilioTelephony(fake.account_sid, fake.auth_token, "+34930001122", "https://telecare.example.org",
                                 base_url=fake.base_url, clock=clock)
        bus = InProcessBus()
        dialer = Dialer(tasks, CallLog(db), twilio, AlertStore(db, bus), registry, clock, sleep=sleep)
        twilio.set_update_handler(dialer.on_update)
        try:
            await dialer.dispatch()
            await dialer.drain()
            sent = {c.field("To"): ET.fromstring(c.field("Twiml")) for c in fake.calls_created()}
        finally:
            await twilio.close()

    assert len(sent) == 3
    catalan = sent[RESIDENTS["rc"][1]]
    say = catalan.find("Gather/Say")
    assert say.attrib["language"] == "ca-ES"
    assert say.text == "Avís de calor: beveu aigua. Premeu 1 si esteu bé. Premeu 2 per parlar amb algú."
    assert catalan.find("Say").attrib["language"] == "ca-ES" and "Una persona del servei" in catalan.find("Say").text
    assert "lang=ca" in catalan.find("Gather").attrib["action"]  # the key's answer comes back in Catalan too

    spanish = sent[RESIDENTS["rs"][1]].find("Gather/Say")
    assert spanish.attrib["language"] == "es-ES"
    assert spanish.text == "Aviso de calor: beba agua. Pulse 1 si se encuentra bien. Pulse 2 para hablar con alguien."

    english = sent[RESIDENTS["re"][1]].find("Gather/Say")
    assert english.attrib["language"] == "en-GB"
    assert english.text == "Heat warning: drink water. Press 1 if you are fine. Press 2 to talk to someone."


def test_the_gather_answer_and_the_key_holder_message_follow_the_language():
    twilio = TwilioTelephony("AC" + "0" * 32, "t", "+34930000000", "https://x.example/", clock=FakeClock(T0))
    thanks = ET.fromstring(twilio.gather_response("1", "ca")).find("Say")
    assert thanks.attrib["language"] == "ca-ES" and thanks.text == "Gràcies. Que tingueu un bon dia."
    later = ET.fromstring(twilio.gather_response("2", "es-ES")).find("Say")
    assert later.attrib["language"] == "es-ES" and later.text.startswith("De acuerdo.")
