"""Consumer lag for Prometheus: per Kafka group and topic, end offset - position over the assigned partitions.

Reported by each consuming loop of the Kafka bus at most once a second, from what its consumer already knows
(the high-water marks come with every fetch response; the positions are local), so it costs no request. A
partition whose end is not known yet is left out rather than guessed; a stopped consumer's series is removed,
so Grafana never shows the lag of a member that is gone as if it were current.
"""
from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from typing import Any

from telecare.metrics import BUS_CONSUMER_LAG

log = logging.getLogger(__name__)

REPORT_EVERY_S = 1.0
POSITION_TIMEOUT_S = 0.2


class LagGauge:
    """The `telecare_bus_consumer_lag{topic, group}` series of one consumer."""

    def __init__(self, topic: str, group: str) -> None:
        self.topic, self.group = topic, group
        self._reported_at = 0.0
        self.last: int | None = None

    async def maybe_report(self, consumer: Any) -> None:
        """Set the gauge if a second has passed since the last report (never raises: it is only a metric)."""
        now = time.monotonic()
        if now - self._reported_at < REPORT_EVERY_S:
            return
        self._reported_at = now
        try:
            lag = await lag_of(consumer)
        except Exception as err:  # noqa: BLE001 - a metric must never stop a consumer
            log.debug("consumer lag of %s on %s not known: %s", self.group, self.topic, type(err).__name__)
            return
        if lag is not None:
            self.last = lag
            BUS_CONSUMER_LAG.labels(self.topic, self.group).set(lag)

    def forget(self) -> None:
        """Remove the series (the consumer stopped)."""
        self.last = None
        with contextlib.suppress(KeyError):
            BUS_CONSUMER_LAG.remove(self.topic, self.group)


async def lag_of(consumer: Any) -> int | None:
    """Sum of (high-water mark - position) over the assigned partitions whose high-water mark is known."""
    total, known = 0, False
    for tp in consumer.assignment():
        end = consumer.highwater(tp)
        if end is None:
            continue
        # position() is local once the consumer has one; bounded in case it must still ask for the commit.
        position = await asyncio.wait_for(consumer.position(tp), POSITION_TIMEOUT_S)
        total += max(0, end - position)
        known = True
    return total if known else None
