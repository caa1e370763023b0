"""The in-process bus reports what waits in its queues as telecare_bus_pending, read at each scrape."""
from __future__ import annotations

from telecare.bus import InProcessBus
from telecare.metrics import REGISTRY


def _pending(topic: str) -> float | None:
    return REGISTRY.get_sample_value("telecare_bus_pending", {"topic": topic})


async def test_pending_counts_every_groups_queue_and_falls_as_consumers_read() -> None:
    bus = InProcessBus()
    bus.register("pending-test", "store")
    bus.register("pending-test", "rules")
    for n in range(3):
        await bus.publish("pending-test", f"r{n}", n)
    assert _pending("pending-test") == 6  # each group has its own copy of the three
    store = bus.subscribe("pending-test", "store")
    assert (await anext(store)).value == 0
    assert _pending("pending-test") == 5
    await store.aclose()
