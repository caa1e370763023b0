"""The rules' way out to alerts: triggers and clears through the AlertSink, refused ones kept for a retry."""
from __future__ import annotations

import logging
from collections.abc import Sequence
from datetime import datetime

from telecare.alerts import AlertClear, AlertTrigger, VerdictSink
from telecare.errors import StoreError
from telecare.metrics import RULES_ERRORS

log = logging.getLogger(__name__)


class AlertOutbox:
    """Sends verdicts to the VerdictSink (the alert store, or the alert-triggers topic); what it refuses waits for `retry()` (never lose an alert)."""

    def __init__(self, sink: VerdictSink) -> None:
        self._sink = sink
        self._retry: list[AlertTrigger | AlertClear] = []

    @property
    def pending(self) -> int:
        """Verdicts the sink refused, waiting for the next retry."""
        return len(self._retry)

    async def send(self, verdicts: Sequence[AlertTrigger | AlertClear], now: datetime) -> None:
        """Raise (or attach) each trigger and clear each ended condition; keep the refused ones."""
        for verdict in verdicts:
            try:
                if isinstance(verdict, AlertClear):  # a technical condition ended: the store closes its alert
                    await self._sink.clear(verdict, now)
                else:
                    await self._sink.raise_or_attach(verdict, now)
            except StoreError as err:
                self._retry.append(verdict)
                RULES_ERRORS.labels("alert_store").inc()
                log.error("could not raise or clear %s alert for resident %s: %s", verdict.type.value,
                          verdict.resident_id, err)

    async def retry(self, now: datetime) -> None:
        """Send the refused verdicts again."""
        if self._retry:
            retry, self._retry = self._retry, []
            await self.send(retry, now)
