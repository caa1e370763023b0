"""lag_of / LagGauge over a consumer double: what is summed, what is left out, and that it never raises."""
from __future__ import annotations

from telecare import metrics
from telecare.kafkalag import LagGauge, lag_of


class Consumer:
    def __init__(self, ends: dict[int, int | None], positions: dict[int, int], broken: bool = False) -> None:
        self.ends, self.positions, self.broken = ends, positions, broken

    def assignment(self):
        return set(self.ends)

    def highwater(self, tp):
        return self.ends[tp]

    async def position(self, tp):
        if self.broken:
            raise RuntimeError("coordinator gone")
        return self.positions[tp]


def sample(topic: str, group: str) -> float | None:
    return metrics.REGISTRY.get_sample_value("telecare_bus_consumer_lag", {"topic": topic, "group": group})


async def test_lag_sums_known_partitions_and_leaves_out_those_without_an_end_yet() -> None:
    assert await lag_of(Consumer({0: 100, 1: 50, 2: None}, {0: 40, 1: 50, 2: 0})) == 60
    assert await lag_of(Consumer({0: None}, {0: 0})) is None  # nothing known: no figure rather than a false 0


async def test_gauge_reports_at_most_once_a_second_keeps_its_value_on_error_and_is_removed_on_forget() -> None:
    gauge = LagGauge("events", "events.unit-lag")
    await gauge.maybe_report(Consumer({0: 10}, {0: 4}))
    assert sample("events", "events.unit-lag") == 6
    await gauge.maybe_report(Consumer({0: 10}, {0: 10}))  # within the second: not asked again
    assert sample("events", "events.unit-lag") == 6
    gauge._reported_at = 0.0  # noqa: SLF001 - a second later
    await gauge.maybe_report(Consumer({0: 10}, {0: 0}, broken=True))  # never raises into the consumer loop
    assert sample("events", "events.unit-lag") == 6
    gauge.forget()
    assert sample("events", "events.unit-lag") is None
