"""KafkaStateSaver: saves run beside the evaluation loop, one at a time, and commit only what they saved."""
from __future__ import annotations

import asyncio

import pytest

from rules.kafka_saver import KafkaStateSaver
from rules.model import ResidentState
from rules.packed import unpack_state
from telecare.errors import BusError


class Kafka:
    """Records publishes and commits in order; `gate` holds a publish until set; `fail` makes the next one raise."""

    def __init__(self) -> None:
        self.log: list[tuple[str, object]] = []
        self.gate = asyncio.Event()
        self.gate.set()
        self.fail = False
        self.given_back: list[tuple[set[str], dict[int, int]]] = []

    async def publish(self, items):
        await self.gate.wait()
        if self.fail:
            self.fail = False
            raise BusError("Kafka at k:9092: publish to rules-state failed (KafkaTimeoutError)")
        self.log.append(("states", [rid for rid, _ in items]))

    async def commit(self, offsets):
        self.log.append(("commit", dict(offsets)))
        return True

    def give_back(self, residents, offsets):
        self.given_back.append((set(residents), dict(offsets)))


def states(*rids: str) -> dict[str, ResidentState]:
    return {rid: ResidentState(rid) for rid in rids}


async def test_the_loop_runs_while_a_save_waits_for_kafka_and_the_commit_follows_the_states() -> None:
    kafka = Kafka()
    saver = KafkaStateSaver(kafka.publish, kafka.commit, kafka.give_back)
    kafka.gate.clear()  # the broker is slow to acknowledge
    saver.start(states("r1", "r2"), {0: 10})
    evaluated = 0
    for _ in range(5):  # the evaluation loop keeps going meanwhile
        await asyncio.sleep(0)
        evaluated += 1
    assert saver.busy and evaluated == 5 and kafka.log == []
    with pytest.raises(RuntimeError):
        saver.start(states("r3"), {0: 11})  # one save at a time: the host waits for the next interval
    kafka.gate.set()
    await saver.wait()
    assert kafka.log == [("states", ["r1", "r2"]), ("commit", {0: 10})] and saver.saves == 1 and not saver.busy


async def test_a_failed_save_commits_nothing_and_gives_its_residents_and_offsets_back() -> None:
    kafka = Kafka()
    saver = KafkaStateSaver(kafka.publish, kafka.commit, kafka.give_back)
    kafka.fail = True
    saver.start(states("r1"), {1: 7})
    await saver.wait()
    assert kafka.log == [] and kafka.given_back == [({"r1"}, {1: 7})] and saver.failures == 1


async def test_save_now_waits_for_the_running_save_then_saves_in_order() -> None:
    kafka = Kafka()
    saver = KafkaStateSaver(kafka.publish, kafka.commit, kafka.give_back)
    kafka.gate.clear()
    saver.start(states("r1"), {0: 3})
    inline = asyncio.create_task(saver.save_now(states("r1", "r2"), {0: 5}))
    await asyncio.sleep(0)
    kafka.gate.set()
    await inline
    assert kafka.log == [("states", ["r1"]), ("commit", {0: 3}), ("states", ["r1", "r2"]), ("commit", {0: 5})]


async def test_save_now_raises_and_gives_back_when_kafka_refuses() -> None:
    kafka = Kafka()
    saver = KafkaStateSaver(kafka.publish, kafka.commit, kafka.give_back)
    kafka.fail = True
    with pytest.raises(BusError):
        await saver.save_now(states("r9"), {2: 4})
    assert kafka.given_back == [({"r9"}, {2: 4})] and kafka.log == []


async def test_many_states_are_encoded_in_chunks_that_let_the_loop_in(monkeypatch) -> None:
    import rules.kafka_saver as module

    monkeypatch.setattr(module, "ENCODE_CHUNK", 3)
    kafka = Kafka()
    seen: list[int] = []
    saver = KafkaStateSaver(kafka.publish, kafka.commit, kafka.give_back)
    saver.start(states(*(f"r{i}" for i in range(10))), {})

    async def loop() -> None:
        while saver.busy:
            seen.append(1)
            await asyncio.sleep(0)

    await asyncio.gather(loop(), saver.wait())
    assert len(seen) >= 3  # three yields inside the encoding of ten states
    assert kafka.log == [("states", [f"r{i}" for i in range(10)])]


def test_what_is_published_is_the_packed_state() -> None:
    import rules.kafka_saver as module

    [(rid, state, raw)] = asyncio.run(module._encoded(states("r1")))
    assert rid == "r1" and unpack_state(raw) == state == ResidentState("r1")


async def test_the_host_is_told_each_acknowledged_chunk_and_nothing_of_a_failed_one(monkeypatch) -> None:
    import rules.kafka_saver as module

    monkeypatch.setattr(module, "PUBLISH_CHUNK", 4)
    kafka, told = Kafka(), []
    saver = KafkaStateSaver(kafka.publish, kafka.commit, kafka.give_back, told.append)
    saved = states(*(f"r{i}" for i in range(6)))
    saver.start(saved, {0: 6})
    await saver.wait()
    assert [[rid for rid, _, _ in chunk] for chunk in told] == [["r0", "r1", "r2", "r3"], ["r4", "r5"]]
    assert all(state is saved[rid] and unpack_state(raw) == state for chunk in told for rid, state, raw in chunk)
    kafka.fail, told[:] = True, []
    saver.start(states("r9"), {0: 7})
    await saver.wait()
    assert told == []


async def test_a_large_save_is_published_in_chunks_each_with_its_own_deadline(monkeypatch) -> None:
    import rules.kafka_saver as module

    monkeypatch.setattr(module, "PUBLISH_CHUNK", 4)
    kafka = Kafka()
    saver = KafkaStateSaver(kafka.publish, kafka.commit, kafka.give_back)
    saver.start(states(*(f"r{i}" for i in range(10))), {0: 10})
    await saver.wait()
    assert [len(rids) for kind, rids in kafka.log if kind == "states"] == [4, 4, 2]
    assert kafka.log[-1] == ("commit", {0: 10})

