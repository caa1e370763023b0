"""The insights loop: roll up new events often, refresh the quality gauges less often; report to health."""
from __future__ import annotations

import asyncio
import logging
import math
from datetime import timedelta
from zoneinfo import ZoneInfo

from telecare import metrics
from telecare.clock import Clock
from telecare.health import Health, PartState
from telecare.store import Database

from insights.quality_queries import quality_report
from insights.rollups import RollupJob, watermark

log = logging.getLogger(__name__)

PART = "insights"
ROLLUP_EVERY_S = 30.0
QUALITY_EVERY_S = 300.0
GAUGE_WINDOW = timedelta(hours=24)


def _ratio(value: float | None) -> float:
    return math.nan if value is None else float(value)


class InsightsJob:
    """Keeps the rollups current and the quality gauges fresh; one failed round is logged and retried."""

    def __init__(self, db: Database, clock: Clock, zone: ZoneInfo, health: Health | None = None, *,
                 rollup_every_s: float = ROLLUP_EVERY_S, quality_every_s: float = QUALITY_EVERY_S) -> None:
        self._db, self._clock, self._zone, self._health = db, clock, zone, health
        self.rollups = RollupJob(db)
        self._rollup_every, self._quality_every = rollup_every_s, quality_every_s

    async def rollup_round(self) -> int:
        """Catch the rollups up with the events table; set the lag gauge."""
        now = self._clock.now()
        read = await self.rollups.catch_up(now)
        through = await watermark(self._db)
        metrics.INSIGHTS_ROLLUP_LAG.set((now - through).total_seconds() if through else math.nan)
        return read

    async def quality_round(self) -> dict:
        """Recompute the board over the last 24 h and set the gauges from it."""
        now = self._clock.now()
        board = await quality_report(self._db, self._zone, now - GAUGE_WINDOW, now, now)
        metrics.QUALITY_ALARMS.set(board["alarms"])
        for seconds in (60, 180):
            metrics.QUALITY_ANSWERED_WITHIN.labels(str(seconds)).set(_ratio(board[f"answered_within_{seconds}s"]))
        metrics.QUALITY_CADENCE_MET.set(_ratio(board["cadence_met"]))
        checked = sum(1 for u in board["unreached_today"] if u["welfare_check"])
        metrics.QUALITY_UNREACHED_TODAY.labels("yes").set(checked)
        metrics.QUALITY_UNREACHED_TODAY.labels("no").set(len(board["unreached_today"]) - checked)
        metrics.QUALITY_DEVICES_OFFLINE.set(len(board["devices_offline"]))
        active = [c for c in board["campaigns"] if c["status"] == "active"]
        live = sum(c["tasks"] - c["cancelled"] for c in active)
        metrics.QUALITY_CAMPAIGN_REACH.set(sum(c["reached"] for c in active) / live if live else math.nan)
        return board

    async def run(self) -> None:
        """Forever: a rollup round every ROLLUP_EVERY_S, a quality round every QUALITY_EVERY_S."""
        since_quality = math.inf
        while True:
            ok = True
            try:
                await self.rollup_round()
            except Exception:  # noqa: BLE001 - a failed round (database away) is retried next time
                ok = False
                metrics.INSIGHTS_ERRORS.labels("rollup").inc()
                log.exception("insights rollup round failed; will retry")
            if since_quality >= self._quality_every:
                try:
                    await self.quality_round()
                    since_quality = 0.0
                except Exception:  # noqa: BLE001
                    ok = False
                    metrics.INSIGHTS_ERRORS.labels("quality").inc()
                    log.exception("insights quality round failed; will retry")
            if self._health is not None:
                self._health.report(PART, PartState.OK if ok else PartState.RECONNECTING,
                                    "" if ok else "last round failed; retrying")
            await asyncio.sleep(self._rollup_every)
            since_quality += self._rollup_every
