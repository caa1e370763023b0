"""KafkaRulesHost: a restore that dies ends the loop; saved states are kept packed until used again."""
from __future__ import annotations

import asyncio

import pytest


async def test_a_restore_that_dies_ends_the_hosts_loop_instead_of_leaving_partitions_paused() -> None:
    from rules.kafka_host import KafkaRulesHost
    from telecare.fakes import InMemoryResidents

    class Bus:
        def register(self, *args) -> None: ...

    host = KafkaRulesHost(Bus(), InMemoryResidents([], []), None)  # type: ignore[arg-type]

    async def broken() -> None:
        raise KeyError("a bug in restoring")

    task = asyncio.create_task(broken())
    await asyncio.gather(task, return_exceptions=True)
    host._restore_done(task)  # noqa: SLF001 - the task's done callback
    with pytest.raises(KeyError):
        await host._step()  # noqa: SLF001 - the loop's next step raises it (run() reports FAILED)


def test_a_saved_state_is_kept_packed_unless_it_changed_since_and_unpacks_on_next_use() -> None:
    from rules.kafka_states import OwnedStates
    from rules.model import ResidentState
    from rules.packed import pack_state

    states = OwnedStates()
    saved_a, saved_b = ResidentState("a", dose_plan=("08:00",)), ResidentState("b")
    newer_b = ResidentState("b", dose_plan=("09:00",))
    states.put("a", saved_a)
    states.put("b", newer_b)  # b changed after its snapshot was taken
    assert set(states.changed()) == {"a", "b"} and states.changed() == {}
    states.at_rest([("a", saved_a, pack_state(saved_a)), ("b", saved_b, pack_state(saved_b)),
                    ("gone", ResidentState("gone"), pack_state(ResidentState("gone")))])
    assert type(states.held("a")) is bytes and states.held("b") is newer_b
    assert "gone" not in states  # revoked meanwhile: not brought back
    assert states.get("a") == saved_a and states.held("a") == saved_a  # unpacked on use
    assert states.changed() == {}  # unpacking is not a change: nothing to save again
    states.give_back(["a", "gone"])  # a failed save: a is saved again, gone is not brought back
    assert set(states.changed()) == {"a"}
    states.forget(lambda rid: rid == "b")
    assert "b" not in states and len(states) == 1


def test_a_fetch_waits_for_events_no_longer_than_until_the_next_timer() -> None:
    from datetime import datetime, timedelta, timezone

    from rules.kafka_host import KafkaRulesHost
    from telecare.clock import FakeClock
    from telecare.fakes import InMemoryResidents

    class Bus:
        def register(self, *args) -> None: ...

    clock = FakeClock(datetime(2026, 12, 1, 9, 0, tzinfo=timezone.utc))
    host = KafkaRulesHost(Bus(), InMemoryResidents([], []), clock, tick_seconds=1.0)  # type: ignore[arg-type]
    assert host._wait_ms() == 1_000  # noqa: SLF001 - nothing scheduled: a tick
    host._due.schedule("r1", clock.now() + timedelta(milliseconds=200))  # noqa: SLF001
    assert host._wait_ms() == 201  # noqa: SLF001 - wakes for the timer, not a whole tick later
    clock.advance(timedelta(seconds=5))
    assert host._wait_ms() == 0  # noqa: SLF001 - came due since the last tick: fire it at once
    host._held = True  # noqa: SLF001 - the last step held timers for the backlog (or a restore)
    assert host._wait_ms() == 1_000  # noqa: SLF001 - the fetch brings what they wait for
    host._behind = True  # noqa: SLF001 - timers left over from the last budget
    assert host._wait_ms() == 0  # noqa: SLF001


async def test_timers_coming_due_go_before_the_backlog_an_outage_left_and_each_fires_once(monkeypatch) -> None:
    """After an outage: restored overdue timers wait in the catch-up lane; one due a second ago fires first."""
    from datetime import datetime, timedelta, timezone

    import rules.kafka_host as kafka_host
    from rules.engine import new_state, tick
    from rules.kafka_host import KafkaRulesHost
    from rules.packed import pack_state
    from telecare.alerts import AlertTrigger, AlertType
    from telecare.clock import FakeClock
    from telecare.events import DeviceType
    from telecare.fakes import InMemoryResidents
    from telecare.people import Device, Resident

    class Bus:
        def register(self, *args) -> None: ...

        def partition_of(self, topic: str, key: str) -> int:
            return 0

    rids = [f"late{i}" for i in range(400)] + ["fresh"]
    residents = InMemoryResidents([Resident(rid, "Test Resident") for rid in rids],
                                  [Device(f"{rid}-gw", DeviceType.GATEWAY, f"{rid}-gw", rid) for rid in rids])
    outage_began = datetime(2026, 12, 1, 9, 0, tzinfo=timezone.utc)
    clock = FakeClock(outage_began + timedelta(minutes=10))  # the worker is back: 5 minutes past every deadline
    host = KafkaRulesHost(Bus(), residents, clock)  # type: ignore[arg-type]
    await host._directory.refresh_all()  # noqa: SLF001
    by_id = host._directory.residents  # noqa: SLF001

    def armed(rid: str, at: datetime) -> bytes:
        return pack_state(tick(by_id[rid], host._directory.devices(rid), new_state(rid), at)[0])  # noqa: SLF001

    rows = {rid: armed(rid, outage_began) for rid in rids[:-1]}
    rows["fresh"] = armed("fresh", clock.now() - timedelta(minutes=5) + timedelta(seconds=1))  # due in 1 s
    host._owned = {0}  # noqa: SLF001
    host._apply_restored(rows, {0})  # noqa: SLF001
    assert len(host._states) == 401 and all(type(host._states.held(r)) is bytes for r in rids)  # noqa: SLF001
    clock.advance(timedelta(seconds=2))
    monkeypatch.setattr(kafka_host, "TICK_BUDGET_S", -1.0)  # the budget is spent at the first check (128 ticks)
    host._tick_due(clock.now())  # noqa: SLF001
    first = [v.resident_id for v in host._verdicts if isinstance(v, AlertTrigger)]  # noqa: SLF001
    assert first[0] == "fresh" and len(first) == 127 and host._behind  # noqa: SLF001
    while host._behind:  # noqa: SLF001 - the next batches work through the catch-up lane
        host._tick_due(clock.now())  # noqa: SLF001
    fired = [v for v in host._verdicts if isinstance(v, AlertTrigger)]  # noqa: SLF001
    assert sorted(v.resident_id for v in fired) == sorted(rids)  # every gateway once, none twice
    assert {v.type for v in fired} == {AlertType.DEVICE_OFFLINE}
    assert host._due.late() == 0  # noqa: SLF001
