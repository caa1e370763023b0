"""publish_many's plan: records grouped per partition in their order, each batch filled to its size limit."""
from __future__ import annotations

from aiokafka.producer.message_accumulator import BatchBuilder

from telecare.kafkabus import _record_batches


def new_batch() -> BatchBuilder:
    return BatchBuilder(1_000, 0)  # what producer.create_batch() makes, with a small max_batch_size


def test_records_keep_their_order_per_partition_and_full_batches_split() -> None:
    messages = [(f"r{i % 3}".encode(), bytes([65 + i % 26]) * 100) for i in range(30)]
    plan = _record_batches(new_batch, messages, lambda key: int(key[1:]))
    per_partition: dict[int, list] = {}
    for partition, batch, chunk in plan:
        assert batch.record_count() == len(chunk) > 0  # the builder holds exactly the records listed with it
        per_partition.setdefault(partition, []).extend(chunk)
    assert per_partition == {p: [m for m in messages if m[0] == f"r{p}".encode()] for p in range(3)}
    assert len(plan) > 3  # 10 records of ~110 bytes per partition do not fit in one 1,000-byte batch


def test_a_record_larger_than_a_batch_gets_a_batch_of_its_own() -> None:
    big, small = (b"k", b"x" * 5_000), (b"k", b"y")
    plan = _record_batches(new_batch, [small, big, small], lambda key: 0)
    assert [chunk for _, _, chunk in plan] == [[small], [big], [small]]
