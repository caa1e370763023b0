"""The embedded broker's cluster ids are what Kafka's storage tool accepts: never an option-like "-…" value."""
from __future__ import annotations

import base64
import uuid

from demo import kafka_broker


def test_cluster_ids_never_start_with_a_dash_even_when_the_random_bytes_would(monkeypatch) -> None:
    dashed = uuid.UUID(bytes=base64.urlsafe_b64decode("-" + "A" * 21 + "=="))  # encodes to "-AAAA…"
    draws = iter([dashed, uuid.UUID(int=7)])
    monkeypatch.setattr(kafka_broker.uuid, "uuid4", lambda: next(draws))
    cluster_id = kafka_broker._cluster_id()
    assert cluster_id == base64.urlsafe_b64encode(uuid.UUID(int=7).bytes).decode().rstrip("=")
    assert len(cluster_id) == 22 and not cluster_id.startswith("-")


def test_many_fresh_ids_are_22_url_safe_characters() -> None:
    ids = {kafka_broker._cluster_id() for _ in range(2000)}
    assert len(ids) == 2000 and all(len(i) == 22 and not i.startswith("-") for i in ids)
