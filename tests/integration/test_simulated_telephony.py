"""The simulator follows scripts and the (fake) clock, and reports updates like a provider would."""
from __future__ import annotations

from datetime import datetime, timezone

import pytest

from demo.simulated_telephony import (SimulatedTelephony, answer_and_press, answer_silent, busy,
                                          invalid_number, no_answer, wrong_number)
from outreach.telephony import CallRejected, CallRequest, CallStatus, CallUpdate
from telecare.clock import FakeClock

START = datetime(2026, 7, 1, 9, 0, tzinfo=timezone.utc)
RESIDENT = "+34600000001"
OPERATOR = "+34930000001"


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(START)


@pytest.fixture
def sim(clock: FakeClock) -> tuple[SimulatedTelephony, list[CallUpdate]]:
    telephony = SimulatedTelephony(clock)
    seen: list[CallUpdate] = []

    async def handler(update: CallUpdate) -> None:
        seen.append(update)

    telephony.set_update_handler(handler)
    return telephony, seen


def automated(ref: str = "41", timeout_s: int = 30) -> CallRequest:
    return CallRequest(call_ref=ref, to=RESIDENT, language="es", message="Aviso de calor.",
                       gather_digits=True, timeout_s=timeout_s)


def trace(updates: list[CallUpdate]) -> list[tuple[str, str | None]]:
    return [(u.status.value, u.digits) for u in updates]


async def test_answer_and_press_1_reports_ringing_answer_digit_and_completion(sim, clock) -> None:
    telephony, seen = sim
    telephony.script(RESIDENT, answer_and_press("1", after_s=4))
    handle = await telephony.place_call(automated())
    await telephony.tick()
    assert trace(seen) == [("ringing", None)]
    clock.advance(4)
    await telephony.tick()
    assert trace(seen) == [("ringing", None), ("in-progress", None), ("in-progress", "1"), ("completed", None)]
    assert {u.provider_call_id for u in seen} == {handle.provider_call_id}
    assert {u.call_ref for u in seen} == {"41"}
    assert seen[1].answered_by == "human" and seen[1].at == clock.now()
    assert telephony.calls()[0].digits == "1" and "Pulse 1" in telephony.calls()[0].text


async def test_press_2_is_reported(sim, clock) -> None:
    telephony, seen = sim
    telephony.script(RESIDENT, answer_and_press("2"))
    await telephony.place_call(automated())
    await telephony.tick()
    assert ("in-progress", "2") in trace(seen) and seen[-1].status == CallStatus.COMPLETED


async def test_no_answer_after_the_request_timeout(sim, clock) -> None:
    telephony, seen = sim
    telephony.script(RESIDENT, no_answer())
    await telephony.place_call(automated(timeout_s=25))
    await telephony.tick()
    clock.advance(24.9)
    await telephony.tick()
    assert trace(seen) == [("ringing", None)]
    assert [c.number for c in telephony.ringing()] == [RESIDENT]
    clock.advance(0.1)
    await telephony.tick()
    assert trace(seen) == [("ringing", None), ("no-answer", None)]
    assert telephony.ringing() == []


@pytest.mark.parametrize(("behaviour", "status"), [(busy(), "busy"), (wrong_number(), "failed")])
async def test_forced_busy_and_failed(sim, behaviour, status) -> None:
    telephony, seen = sim
    telephony.script(RESIDENT, behaviour)
    await telephony.place_call(automated())
    await telephony.tick()
    assert trace(seen) == [(status, None)]


async def test_invalid_number_is_refused_at_once(sim) -> None:
    telephony, seen = sim
    telephony.script(RESIDENT, invalid_number())
    with pytest.raises(CallRejected) as err:
        await telephony.place_call(automated())
    assert err.value.reason == "invalid-phone-number" and RESIDENT not in str(err.value)
    assert seen == []


async def test_silent_answer_ends_when_the_key_prompt_times_out(sim, clock) -> None:
    telephony, seen = sim
    telephony.script(RESIDENT, answer_silent())
    await telephony.place_call(automated())
    await telephony.tick()
    assert trace(seen) == [("ringing", None), ("in-progress", None)]
    clock.advance(10)
    await telephony.tick()
    assert seen[-1].status == CallStatus.COMPLETED and seen[-1].duration_s == 10


async def test_a_person_answers_presses_and_the_page_is_notified(sim, clock) -> None:
    telephony, seen = sim  # nothing scripted: the phone rings until someone acts
    handle = await telephony.place_call(automated())
    version = telephony.changes.version
    await telephony.tick()
    assert await telephony.changes.wait(version, timeout=1) > version
    call_id = handle.provider_call_id
    await telephony.answer(call_id)
    clock.advance(3)
    await telephony.press(call_id, "1")
    await telephony.tick()
    assert trace(seen) == [("ringing", None), ("in-progress", None), ("in-progress", "1"), ("completed", None)]
    assert seen[-1].duration_s == 3


async def test_click_to_call_rings_the_operator_first_then_the_resident(sim, clock) -> None:
    telephony, seen = sim
    telephony.script(OPERATOR, no_answer())
    telephony.script(RESIDENT, answer_and_press("9"))  # digits are ignored on a human call
    handle = await telephony.place_call(CallRequest(call_ref="7", to=RESIDENT, bridge_from=OPERATOR))
    await telephony.tick()
    assert [(c.number, c.leg) for c in telephony.ringing()] == [(OPERATOR, "operator")]
    assert telephony.ringing()[0].text == "Us connectem amb la persona usuària."  # said to the operator
    assert seen == []  # updates describe the resident's leg only
    await telephony.answer(handle.provider_call_id)
    await telephony.tick()
    assert trace(seen) == [("ringing", None), ("in-progress", None)]
    assert telephony.calls()[0].text == ""  # the resident hears a person, not a recording
    clock.advance(60)  # the operator's stale ring timeout must not end the conversation
    await telephony.tick()
    assert trace(seen)[-1] == ("completed", None) and seen[-1].duration_s == 5
    await telephony.hang_up(handle.provider_call_id)
    assert len(seen) == 3


async def test_operator_not_answering_cancels_the_call(sim, clock) -> None:
    telephony, seen = sim
    telephony.script(OPERATOR, no_answer())
    await telephony.place_call(CallRequest(call_ref="8", to=RESIDENT, bridge_from=OPERATOR, timeout_s=20))
    await telephony.tick()
    clock.advance(20)
    await telephony.tick()
    assert trace(seen) == [("canceled", None)]


async def test_auto_answer_and_a_failing_handler_do_not_stop_the_network(clock) -> None:
    telephony = SimulatedTelephony(clock, auto_answer_delay=2)
    calls: list[CallUpdate] = []

    async def flaky(update: CallUpdate) -> None:
        calls.append(update)
        raise RuntimeError("handler bug")

    telephony.set_update_handler(flaky)
    await telephony.place_call(automated())
    await telephony.tick()
    clock.advance(2)
    await telephony.tick()
    assert trace(calls) == [("ringing", None), ("in-progress", None), ("in-progress", "1"), ("completed", None)]


async def test_our_hang_up_cancels_a_ringing_call_and_bad_keys_are_refused(sim) -> None:
    telephony, seen = sim
    handle = await telephony.place_call(automated())
    await telephony.tick()
    from telecare.errors import TelephonyError
    with pytest.raises(TelephonyError):
        await telephony.press(handle.provider_call_id, "1")
    await telephony.hang_up(handle.provider_call_id)
    assert trace(seen) == [("ringing", None), ("canceled", None)]
    with pytest.raises(TelephonyError):
        await telephony.answer(handle.provider_call_id)


async def test_only_recent_ended_calls_are_kept(clock) -> None:
    from demo.simulated_telephony import KEEP_ENDED
    telephony = SimulatedTelephony(clock, auto_answer_delay=0)
    for i in range(KEEP_ENDED + 50):
        await telephony.place_call(automated(ref=str(i)))
    await telephony.tick()
    kept = telephony.calls()
    assert len(kept) == KEEP_ENDED and {c.state for c in kept} == {"completed"}
    assert min(int(c.call_ref) for c in kept) == 50
