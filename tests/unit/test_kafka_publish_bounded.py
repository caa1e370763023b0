"""KafkaBus.publish never waits on a stuck producer past one attempt: it replaces it and sends again."""
from __future__ import annotations

import asyncio

import pytest

import telecare.kafkabus as kafkabus
from telecare.bus import ALERT_TRIGGERS
from telecare.errors import BusError
from tests.integration.kafka_harness import trigger


class Producer:
    def __init__(self, stuck: bool) -> None:
        self.stuck, self.sent, self.stopped = stuck, [], False

    async def send_and_wait(self, topic, payload, key=None):
        if self.stuck:
            await asyncio.Event().wait()  # aiokafka's sender never resolves the future
        self.sent.append((topic, key))

    async def stop(self):
        if self.stuck:
            await asyncio.Event().wait()  # flushing what never goes out
        self.stopped = True


def bus_with(monkeypatch, first: Producer, then: list[Producer], publish_timeout_s: float = 5.0) -> kafkabus.KafkaBus:
    monkeypatch.setattr(kafkabus, "ATTEMPT_TIMEOUT_S", 0.05)
    monkeypatch.setattr(kafkabus, "CLOSE_TIMEOUT_S", 0.05)
    bus = kafkabus.KafkaBus("127.0.0.1:1", publish_timeout_s=publish_timeout_s)
    bus._producer, bus._topics_ready = first, True  # noqa: SLF001 - the producer double stands in for aiokafka's

    async def new_producer():
        return then.pop(0)

    monkeypatch.setattr(bus, "_new_producer", new_producer)
    return bus


async def test_a_send_that_never_completes_is_retried_on_a_new_producer(monkeypatch) -> None:
    stuck, good = Producer(stuck=True), Producer(stuck=False)
    bus = bus_with(monkeypatch, stuck, [good])
    await asyncio.wait_for(bus.publish(ALERT_TRIGGERS, "r-1", trigger("r-1")), 5)
    assert good.sent == [(ALERT_TRIGGERS, b"r-1")] and bus._producer is good  # noqa: SLF001


async def test_only_stuck_producers_give_a_bus_error_at_the_deadline_not_a_hang(monkeypatch) -> None:
    bus = bus_with(monkeypatch, Producer(stuck=True), [Producer(stuck=True) for _ in range(50)],
                   publish_timeout_s=0.5)
    with pytest.raises(BusError, match="publish to alert-triggers"):
        await asyncio.wait_for(bus.publish(ALERT_TRIGGERS, "r-1", trigger("r-1")), 5)
