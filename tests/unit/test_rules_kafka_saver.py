"""KafkaStateSaver: saves run beside the evaluation loop, one at a time, and commit only what they saved."""
from __future__ import annotations

import asyncio

import pytest

from rules.kafka_saver import KafkaStateSaver
from rules.model import ResidentState, state_from_json
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


def test_what_is_published_is_the_state_json() -> None:
    import rules.kafka_saver as module

    pairs = asyncio.run(module._encoded(states("r1")))
    assert pairs[0][0] == "r1" and state_from_json(pairs[0][1]) == ResidentState("r1")


async def test_a_large_save_is_published_in_chunks_each_with_its_own_deadline(monkeypatch) -> None:
    import rules.kafka_saver as module

    monkeypatch.setattr(module, "PUBLISH_CHUNK", 4)
    kafka = Kafka()
    saver = KafkaStateSaver(kafka.publish, kafka.commit, kafka.give_back)
    saver.start(states(*(f"r{i}" for i in range(10))), {0: 10})
    await saver.wait()
    assert [len(rids) for kind, rids in kafka.log if kind == "states"] == [4, 4, 2]
    assert kafka.log[-1] == ("commit", {0: 10})

