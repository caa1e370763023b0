"""The alerts part on the Kafka path: consumes `alert-triggers` (group "alerts") and applies each verdict once.

Per fetched batch: TriggerApplier.apply_many (keys claimed and alert changes made in one transaction, in
order, then the changes published on `alerts`); the batch's offsets are committed only once the loop comes
back for the next batch, i.e. after both. PostgreSQL or
Kafka down: retried with back-off (health RECONNECTING), never skipped. A verdict the database refuses
(unknown resident) or that hits a bug rolls its batch back; the batch is then applied verdict by verdict
and only that one is logged by ids and skipped: one bad verdict must not stop the rest.
"""
from __future__ import annotations

import asyncio
import logging
from datetime import datetime, timedelta

from alerts.triggers import TriggerApplier
from telecare import metrics
from telecare.alerts import AlertClear, AlertTrigger
from telecare.bus import ALERT_TRIGGERS, Bus
from telecare.clock import Clock
from telecare.errors import BusError, StoreError
from telecare.health import Health, PartState

log = logging.getLogger(__name__)

PART = "alerts"
GROUP = "alerts"
MAX_BACKOFF_S = 5.0
PRUNE_EVERY = timedelta(hours=1)


def _refused(err: StoreError) -> bool:
    """The database refused the data itself (SQLSTATE class 22/23: e.g. an unknown resident), not an outage."""
    state = getattr(err.__cause__, "sqlstate", None) or ""
    return state[:2] in ("22", "23")


class TriggerConsumer:
    """One member of the `alert-triggers.alerts` group (a KafkaBus: batches); run() until the bus closes."""

    def __init__(self, bus: Bus, applier: TriggerApplier, clock: Clock, health: Health | None = None, *,
                 group: str = GROUP, from_start: bool = True) -> None:
        self._bus, self._applier, self._clock, self._group = bus, applier, clock, group
        self._from_start = from_start  # False: a new group starts at its registration (tests on a shared broker)
        self._health = health or Health()
        self._pruned_at: datetime | None = None

    async def start(self) -> None:
        """Declare the group (it resumes from its commits; a new one from the oldest kept message)."""
        # A brand-new group starts at the oldest kept message: what was published before this part's very first
        # start is not lost (the keys make what it sees again a no-op).
        register = getattr(self._bus, "register_from_start", self._bus.register) if self._from_start \
            else self._bus.register
        register(ALERT_TRIGGERS, self._group)
        self._health.report(PART, PartState.STARTING, "subscribing")

    async def run(self) -> None:
        """Apply every verdict; ends only when the bus closes (or by a bug: the task dies, health FAILED)."""
        self._health.report(PART, PartState.OK, "consuming")
        async for batch in self._bus.subscribe_batches(ALERT_TRIGGERS, self._group):
            verdicts = []
            for message in batch:
                if isinstance(message.value, AlertTrigger | AlertClear):
                    verdicts.append(message.value)
                else:
                    log.error("alert-triggers carried a %s; skipped", type(message.value).__name__)
            if verdicts:
                await self._apply_batch(verdicts)
            await self._maybe_prune()

    async def _apply_batch(self, verdicts: list[AlertTrigger | AlertClear]) -> None:
        """The fetch in one transaction; one the database refuses (or a bug): each alone, so only it is skipped."""
        failures = 0
        while True:
            try:
                applied = await self._applier.apply_many(verdicts, self._clock.now())
            except StoreError as err:
                if _refused(err):
                    break
                failures = await self._retry(verdicts[0], failures, f"database: {type(err).__name__}")
                continue
            except BusError as err:  # committed; its changes are republished as replays on the retry
                failures = await self._retry(verdicts[0], failures, f"Kafka: {type(err).__name__}")
                continue
            except Exception:  # noqa: BLE001 - find the verdict that hits the bug, apply the others
                break
            for result in applied:
                metrics.ALERT_VERDICTS.labels("replayed" if result.replay else "applied").inc()
            self._recovered(failures)
            return
        for verdict in verdicts:  # a refused verdict rolled the batch back: nothing of it was applied
            await self._apply(verdict)

    def _recovered(self, failures: int) -> None:
        if failures:
            self._health.report(PART, PartState.OK, "consuming")
            log.info("alerts part: applied again after %d failed attempt(s)", failures)

    async def _apply(self, verdict: AlertTrigger | AlertClear) -> None:
        failures = 0
        while True:
            try:
                applied = await self._applier.apply(verdict, self._clock.now())
            except StoreError as err:
                if _refused(err):
                    return self._skip(verdict, "refused by the database")
                failures = await self._retry(verdict, failures, f"database: {type(err).__name__}")
                continue
            except BusError as err:  # applied and committed; the publish of its change is retried as a replay
                failures = await self._retry(verdict, failures, f"Kafka: {type(err).__name__}")
                continue
            except Exception as err:  # noqa: BLE001 - one verdict's bug must not stop the alerts of everyone else
                return self._skip(verdict, f"internal_error:{type(err).__name__}")
            metrics.ALERT_VERDICTS.labels("replayed" if applied.replay else "applied").inc()
            self._recovered(failures)
            return

    async def _retry(self, verdict: AlertTrigger | AlertClear, failures: int, why: str) -> int:
        failures += 1
        metrics.KAFKA_PART_RETRIES.labels(PART).inc()
        delay = min(MAX_BACKOFF_S, 0.05 * 2 ** failures)
        self._health.report(PART, PartState.RECONNECTING, why)
        log.warning("%s alert verdict for resident %s not applied (%s); retry %d in %.2fs",
                    verdict.type.value, verdict.resident_id, why, failures, delay)
        await asyncio.sleep(delay)
        return failures

    def _skip(self, verdict: AlertTrigger | AlertClear, reason: str) -> None:
        metrics.ALERT_VERDICTS.labels("refused").inc()
        log.error("%s alert verdict for resident %s skipped: %s", verdict.type.value, verdict.resident_id, reason)

    async def _maybe_prune(self) -> None:
        now = self._clock.now()
        if self._pruned_at is not None and now - self._pruned_at < PRUNE_EVERY:
            return
        self._pruned_at = now
        try:
            pruned = await self._applier.prune(now)
        except StoreError as err:  # upkeep: the next hour tries again
            log.warning("pruning alert trigger keys failed (%s)", type(err).__name__)
            return
        if pruned:
            log.info("pruned %d alert trigger keys", pruned)
