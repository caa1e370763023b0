"""The dialer on a real PostgreSQL and the phone simulator with a FakeClock: keys, retries, welfare alert, pacing."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from devices.registry import Registry
from outreach.call_log import CallFilter, CallLog
from outreach.dialer import Dialer
from outreach.pacing import max_in_window
from outreach.planning import PlannedCall
from demo.simulated_telephony import (SimulatedTelephony, answer_and_press, answer_silent, busy,
                                          invalid_number, no_answer)
from outreach.task_records import NewCampaign
from outreach.tasks import TaskStore
from outreach.telephony import CallStatus, CallUpdate
from alerts.store import AlertStore
from telecare.alerts import AlertType
from telecare.bus import InProcessBus
from telecare.clock import FakeClock
from telecare.people import Resident
from tests.fakes.flaky_alerts import FlakySink

T0 = datetime(2026, 6, 22, 8, 0, tzinfo=timezone.utc)  # 10:00 in Barcelona


def _phones(i: int) -> tuple[str, str]:
    return f"+3460{i:07d}", f"+3493{i:07d}"


@pytest.fixture
async def world(db):
    clock = FakeClock(T0)
    registry = Registry(db)
    tasks = TaskStore(db)
    sim = SimulatedTelephony(clock)
    bus = InProcessBus()
    alerts = AlertStore(db, bus)
    log = CallLog(db)

    async def sleep(seconds: float) -> None:  # pacing waits move the fake clock, never the test
        clock.advance(seconds)

    def dialer(**kw) -> Dialer:
        d = Dialer(tasks, log, sim, alerts, registry, clock, sleep=sleep, **kw)
        sim.set_update_handler(d.on_update)
        return d

    w = {"db": db, "clock": clock, "registry": registry, "tasks": tasks, "sim": sim, "alerts": alerts,
         "log": log, "dialer": dialer}
    yield w
    await sim.close()


async def _campaign(w, n: int, message="Avís de calor: beveu aigua.") -> int:
    for i in range(n):
        await w["registry"].upsert_resident(Resident(f"r{i}", f"Resident {i}", phones=_phones(i)))
    plans = [PlannedCall(f"r{i}", "weather", "automated", T0.date(), T0, T0 + timedelta(hours=10), 10 + i, None,
                         f"w:{i}", "heat warning") for i in range(n)]
    campaign, _, created = await w["tasks"].create_campaign(
        NewCampaign("weather", "Heat", message, "tester"), plans, T0)
    assert created == n
    return campaign.id


async def _run(w, dialer: Dialer, seconds: float = 0.0) -> None:
    """Dispatch, let the phones act, settle follow-up calls."""
    if seconds:
        w["clock"].advance(seconds)
    await dialer.dispatch()
    await dialer.drain()
    for _ in range(3):
        await w["sim"].tick()
        await dialer.drain()


async def _task_status(w, rid: str) -> str:
    return await w["db"].fetchval("SELECT status FROM call_tasks WHERE resident_id = %s AND mode = 'automated'", (rid,))


async def test_press_1_is_fine_press_2_and_no_key_go_to_a_person(world):
    w = world
    await _campaign(w, 3)
    w["sim"].script(_phones(0)[0], answer_and_press("1"))
    w["sim"].script(_phones(1)[0], answer_and_press("2"))
    w["sim"].script(_phones(2)[0], answer_silent())
    d = w["dialer"](cps=10)
    await _run(w, d)
    await _run(w, d, 15)  # the silent one's key prompt times out
    calls = {c.resident_id: c for c in await w["log"].query(CallFilter(purpose="weather"))}
    assert {r: (c.outcome, c.digits) for r, c in calls.items()} == {
        "r0": ("fine", "1"), "r1": ("callback_requested", "2"), "r2": ("no_key", None)}
    assert all(c.answered_at and c.ended_at and c.provider_call_id for c in calls.values())
    assert [await _task_status(w, r) for r in ("r0", "r1", "r2")] == ["done"] * 3
    callbacks = await w["db"].fetch("SELECT resident_id, mode, reason FROM call_tasks WHERE mode = 'human' "
                                    "ORDER BY resident_id")
    assert [c["resident_id"] for c in callbacks] == ["r1", "r2"]  # pressed 2 / no key: a person calls back
    assert "pressed 2" in callbacks[0]["reason"]
    assert d.active_calls == 0


async def test_second_phone_is_tried_when_the_first_is_busy_or_invalid(world):
    w = world
    await _campaign(w, 2)
    w["sim"].script(_phones(0)[0], busy())
    w["sim"].script(_phones(0)[1], answer_and_press("1"))
    w["sim"].script(_phones(1)[0], invalid_number())
    w["sim"].script(_phones(1)[1], answer_and_press("1"))
    d = w["dialer"](cps=10)
    await _run(w, d)
    rows = sorted((c.resident_id, c.phone, c.outcome, c.not_done_reason)
                  for c in await w["log"].query(CallFilter()))
    assert rows == [("r0", _phones(0)[0], "busy", "recipient-unavailable"), ("r0", _phones(0)[1], "fine", None),
                    ("r1", _phones(1)[0], "wrong_number", "invalid-phone-number"), ("r1", _phones(1)[1], "fine", None)]
    assert [await _task_status(w, r) for r in ("r0", "r1")] == ["done", "done"]


async def test_unanswered_retries_within_calling_hours_then_welfare_alert(world):
    w = world
    await _campaign(w, 1)
    for phone in _phones(0):
        w["sim"].script(phone, no_answer())
    d = w["dialer"](cps=10)
    for attempt in range(3):
        await _run(w, d)
        await _run(w, d, 31)  # first phone rings out, the second is dialled
        await _run(w, d, 31)  # the second rings out: the attempt is over
        assert await w["alerts"].list(resident_id="r0") == [] or attempt == 2
        w["clock"].advance(timedelta(minutes=30))
    calls = await w["log"].query(CallFilter(resident_id="r0"))
    assert len(calls) == 6 and {c.outcome for c in calls} == {"no_answer"}
    assert sorted({c.attempt for c in calls}) == [1, 2, 3]
    assert await _task_status(w, "r0") == "unreached"
    [alert] = await w["alerts"].list(resident_id="r0")
    assert (alert.type, alert.severity.value) == (AlertType.WELFARE_CHECK, "high")


async def test_a_welfare_check_that_could_not_be_raised_is_raised_later_once(world):
    w = world
    await _campaign(w, 1)
    for phone in _phones(0):
        w["sim"].script(phone, no_answer())
    sink = FlakySink(w["alerts"])

    async def sleep(seconds: float) -> None:
        w["clock"].advance(seconds)

    d = Dialer(w["tasks"], w["log"], w["sim"], sink, w["registry"], w["clock"], cps=10, sleep=sleep)
    w["sim"].set_update_handler(d.on_update)
    for attempt in range(3):
        sink.down = attempt == 2  # the bus is down when the last attempt ends
        await _run(w, d)
        await _run(w, d, 31)
        await _run(w, d, 31)
        if attempt < 2:
            w["clock"].advance(timedelta(minutes=30))
    assert await _task_status(w, "r0") == "unreached" and sink.tried == 1
    assert await w["alerts"].list(resident_id="r0") == []  # not raised: owed
    owed = await w["tasks"].welfare_owed(w["clock"].now() + timedelta(seconds=1))
    assert [t.resident_id for t in owed] == ["r0"]

    await _run(w, d, 31)  # the bus is still down and the grace not over: nothing tried yet
    assert sink.tried == 1
    await _run(w, d, 31)  # past the grace, still down: tried, still owed
    assert sink.tried == 2 and await w["alerts"].list(resident_id="r0") == []
    sink.down = False
    await _run(w, d, 31)
    [alert] = await w["alerts"].list(resident_id="r0")
    assert (alert.type, alert.severity.value, alert.count) == (AlertType.WELFARE_CHECK, "high", 1)
    assert await w["tasks"].welfare_owed(w["clock"].now() + timedelta(seconds=1)) == []
    for _ in range(3):  # later sweeps owe nothing: the alert is raised once, never attached again
        await _run(w, d, 31)
    assert sink.tried == 3 and (await w["alerts"].list(resident_id="r0"))[0].count == 1


async def test_pacing_never_exceeds_cps_or_concurrency(world):
    w = world
    await _campaign(w, 12)
    d = w["dialer"](cps=3, max_concurrent=5)
    placed = await d.dispatch()  # nobody answers yet: five calls ring, the concurrent limit stops the rest
    assert placed == 5 and d.active_calls == 5
    for _ in range(10):
        await _run(w, d, 31)
    starts = [c.started_at.timestamp() for c in await w["log"].query(CallFilter())]
    assert len(starts) >= 12
    assert max_in_window(starts) <= 3


async def test_a_call_without_final_status_is_closed_as_failed_and_retried(world):
    w = world
    await _campaign(w, 1)
    d = w["dialer"](cps=10, call_timeout_s=30, final_grace_s=60)
    await d.dispatch()  # the simulator is never ticked: no update ever arrives
    await d.drain()
    w["clock"].advance(91)
    assert await d.close_stale() == 1
    await d.drain()
    first, second = sorted(await w["log"].query(CallFilter(resident_id="r0")), key=lambda c: c.id)
    assert (first.outcome, first.not_done_reason) == ("timeout", "system-error")
    assert (second.phone, second.ended_at) == (_phones(0)[1], None)  # then the second phone is tried


async def test_answering_machine_is_not_fine_and_unknown_updates_are_ignored(world):
    w = world
    await _campaign(w, 1)
    w["sim"].script(_phones(0)[1], answer_and_press("1"))
    d = w["dialer"](cps=10)
    await d.dispatch()
    await d.drain()
    [call] = await w["log"].query(CallFilter(resident_id="r0"))
    await d.on_update(CallUpdate(call.provider_call_id, str(call.id), CallStatus.IN_PROGRESS, w["clock"].now(),
                                 answered_by="machine_start"))
    await d.on_update(CallUpdate("x", "not-a-number", CallStatus.COMPLETED, w["clock"].now()))
    await d.on_update(CallUpdate("x", "999999", CallStatus.COMPLETED, w["clock"].now()))
    await d.drain()
    await _run(w, d)
    outcomes = sorted((c.phone, c.outcome) for c in await w["log"].query(CallFilter(resident_id="r0")))
    assert outcomes == [(_phones(0)[0], "voicemail"), (_phones(0)[1], "fine")]


async def test_a_wrong_first_number_with_an_unanswered_second_is_retried_not_unreached(world):
    w = world
    await _campaign(w, 1)
    w["sim"].script(_phones(0)[0], no_answer())
    w["sim"].script(_phones(0)[1], invalid_number())
    d = w["dialer"](cps=10)
    await _run(w, d)
    await _run(w, d, 31)
    assert sorted(c.outcome for c in await w["log"].query(CallFilter(resident_id="r0"))) == ["no_answer",
                                                                                             "wrong_number"]
    assert await _task_status(w, "r0") == "pending"  # retried later: one number may still work
    assert await w["alerts"].list(resident_id="r0") == []
