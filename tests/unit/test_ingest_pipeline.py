"""ingest.pipeline with in-memory fakes: a lookup, store or dead-letter failure costs one message only."""
from __future__ import annotations

import json

import pytest

from ingest.pipeline import BatchPipeline
from ingest.sink import StoreResult
from ingest.topics import device_topic
from telecare.events import Event, RawMessage, Rejected
from tests.unit.test_normalize import NOW, REGISTRY


class FakeLookup:
    def __init__(self, broken: str | None = None) -> None:
        self.broken = broken

    async def device(self, device_id: str):
        if device_id == self.broken:
            raise KeyError(device_id)  # a bug in the registry adapter, not an outage
        return REGISTRY.get(device_id)


class FakeSink:
    """Stores in lists; refuses (with a bug) any write that contains a poisoned msg_id."""

    def __init__(self, poison: str = "poison", unwritable_reason: str | None = None) -> None:
        self.events: list[Event] = []
        self.dead: list[Rejected] = []
        self.poison, self.unwritable_reason = poison, unwritable_reason

    async def store(self, events, rejects) -> StoreResult:
        if any(e.msg_id == self.poison for e in events):
            raise TypeError("poison")
        self.events += events
        await self.dead_letter(rejects)
        return StoreResult(tuple(events), 0, tuple(rejects))

    async def dead_letter(self, rejects) -> None:
        if any(r.reason == self.unwritable_reason for r in rejects):
            raise ValueError("unwritable")
        self.dead += rejects


def raw(msg_id: str, gw: str = "gw-1", device: str = "pd-1") -> RawMessage:
    body = {"msg_id": msg_id, "ts": "2026-03-29T00:29:00Z"}
    return RawMessage(device_topic(gw, device, "motion"), json.dumps(body).encode(), NOW)


async def test_a_lookup_bug_for_one_device_rejects_only_its_messages() -> None:
    pipeline = BatchPipeline(FakeSink(), FakeLookup(broken="pd-2"))
    results = await pipeline.normalize([raw("a"), raw("b", "gw-2", "pd-2"), raw("c")])
    kinds = [r.reason if isinstance(r, Rejected) else r.msg_id for _, r in results]
    assert kinds == ["a", "internal_error:KeyError", "c"]


async def test_a_store_bug_for_one_event_dead_letters_it_and_stores_the_rest() -> None:
    sink = FakeSink()
    pipeline = BatchPipeline(sink, FakeLookup())
    results = await pipeline.normalize([raw("a"), raw("poison"), raw("b"), RawMessage("junk", b"", NOW)])
    result = await pipeline.store_one_by_one(results, [], {})
    assert [e.msg_id for e in result.new] == ["a", "b"] == [e.msg_id for e in sink.events]
    assert sorted(r.reason for r in sink.dead) == ["bad_topic", "internal_error:TypeError"]
    assert len(result.rejected) == 2


async def test_a_dead_letter_that_cannot_be_written_does_not_stop_the_others() -> None:
    sink = FakeSink(unwritable_reason="bad_topic")
    pipeline = BatchPipeline(sink, FakeLookup())
    results = await pipeline.normalize([RawMessage("junk", b"", NOW), raw("x", device="nobody"), raw("a")])
    result = await pipeline.store_one_by_one(results, [], {})
    assert [r.reason for r in sink.dead] == ["unknown_device"] and [e.msg_id for e in result.new] == ["a"]


async def test_an_outage_in_the_middle_of_one_by_one_mode_writes_nothing_twice_on_the_retry() -> None:
    from telecare.errors import StoreError

    class OutageOnce(FakeSink):
        """The database goes away while storing "b" (once): the caller retries the whole batch."""

        def __init__(self) -> None:
            super().__init__()
            self.down = True

        async def store(self, events, rejects) -> StoreResult:
            if self.down and any(e.msg_id == "b" for e in events):
                self.down = False
                raise StoreError("database unavailable")
            return await super().store(events, rejects)

    sink = OutageOnce()
    pipeline = BatchPipeline(sink, FakeLookup())
    results = await pipeline.normalize([RawMessage("junk", b"", NOW), raw("a"), raw("poison"), raw("b")])
    new, parked = [], {}
    with pytest.raises(StoreError):  # the outage reaches the caller, which retries
        await pipeline.store_one_by_one(results, new, parked)
    result = await pipeline.store_one_by_one(results, new, parked)  # the retry, with the caller's memory
    assert [e.msg_id for e in sink.events] == ["a", "b"] and [e.msg_id for e in result.new] == ["a", "b"]
    assert sorted(r.reason for r in sink.dead) == ["bad_topic", "internal_error:TypeError"]  # each once
    assert sorted(r.reason for r in result.rejected) == ["bad_topic", "internal_error:TypeError"]
