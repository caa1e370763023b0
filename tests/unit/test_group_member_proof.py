"""GroupMember.certainly_member: proven by a sync or a good heartbeat, and only for a session minus a heartbeat."""
from __future__ import annotations

import asyncio
from types import SimpleNamespace

import pytest

from telecare import kafkafeed
from telecare.errors import BusError
from telecare.kafkafeed import GroupMember


def member() -> GroupMember:
    return GroupMember(None, "events", "g", lambda p: None, lambda p: None,  # type: ignore[arg-type]
                       session_timeout_ms=6000, heartbeat_ms=2000)


def test_nothing_is_proven_before_the_first_sync_and_a_proof_lasts_a_session_minus_a_heartbeat(monkeypatch) -> None:
    now = [1000.0]
    monkeypatch.setattr(kafkafeed.time, "monotonic", lambda: now[0])
    m = member()
    assert not m.certainly_member()
    m.proven()
    now[0] += 3.9
    assert m.certainly_member()
    now[0] += 0.2  # 4.1 s: the coordinator may already be waiting for a heartbeat that a frozen process never sent
    assert not m.certainly_member()


def test_a_good_heartbeat_proves_membership_and_a_failed_one_does_not(monkeypatch) -> None:
    now = [1000.0]
    monkeypatch.setattr(kafkafeed.time, "monotonic", lambda: now[0])
    answers = iter([True, False])

    async def heartbeat() -> bool:
        return next(answers)

    consumer = SimpleNamespace(_coordinator=SimpleNamespace(_do_heartbeat=heartbeat))
    m = member()
    m._count_heartbeats(consumer)  # noqa: SLF001 - what start() does once the consumer runs
    assert asyncio.run(consumer._coordinator._do_heartbeat()) is True  # the wrapper keeps the answer
    assert m.certainly_member()
    now[0] += 5.0
    assert asyncio.run(consumer._coordinator._do_heartbeat()) is False
    assert not m.certainly_member()


async def test_a_rules_host_that_cannot_prove_its_membership_saves_no_state() -> None:
    from rules.kafka_host import KafkaRulesHost
    from telecare.fakes import InMemoryResidents

    published = []

    class Bus:
        def register(self, *args) -> None: ...

        async def publish_many(self, topic: str, items: list) -> None:
            published.append(items)

    host = KafkaRulesHost(Bus(), InMemoryResidents([], []), None)  # type: ignore[arg-type]
    host._member = member()  # noqa: SLF001 - never synced: nothing proven
    with pytest.raises(BusError, match="no proof"):
        await host._publish_states([("r1", b"\x03")])  # noqa: SLF001
    host._member.proven()  # noqa: SLF001
    await host._publish_states([("r1", b"\x03")])  # noqa: SLF001
    assert published == [[("r1", b"\x03")]]
