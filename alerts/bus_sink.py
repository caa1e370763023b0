"""Verdicts onto the `alert-triggers` topic (the Kafka path): rules and outreach raise alerts through it."""
from __future__ import annotations

from datetime import datetime
from typing import Any

from telecare.alerts import AlertClear, AlertTrigger
from telecare.bus import ALERT_TRIGGERS, Bus


class BusVerdictSink:
    """VerdictSink that publishes each verdict, keyed by resident, for the alerts part to apply (once).

    Returns once Kafka acknowledged it (BusError after the bus's publish timeout); returns None: the
    alert change comes later on the `alerts` topic.
    """

    def __init__(self, bus: Bus) -> None:
        self._bus = bus

    async def raise_or_attach(self, trigger: AlertTrigger, now: datetime) -> None:
        """Publish the trigger to alert-triggers."""
        await self._bus.publish(ALERT_TRIGGERS, trigger.resident_id, trigger)

    async def clear(self, clear: AlertClear, now: datetime) -> None:
        """Publish the clear to alert-triggers."""
        await self._bus.publish(ALERT_TRIGGERS, clear.resident_id, clear)


class AlertsViaBus:
    """The alert store for a process whose raises go through the alerts part (outreach on Kafka).

    raise_or_attach and clear go to the topic; everything else (get, list, history, acknowledge...) is the
    store's. Outreach's dialer and human calls ignore what raise_or_attach returns.
    """

    def __init__(self, store: Any, sink: BusVerdictSink) -> None:
        self._store, self._sink = store, sink

    async def raise_or_attach(self, trigger: AlertTrigger, now: datetime) -> None:
        """Publish the trigger (the alerts part raises or attaches it)."""
        await self._sink.raise_or_attach(trigger, now)

    async def clear(self, clear: AlertClear, now: datetime) -> None:
        """Publish the clear (the alerts part closes the alert)."""
        await self._sink.clear(clear, now)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._store, name)
