"""GET /api/quality: the service-quality board from the platform's own records (mounted behind a role)."""
from __future__ import annotations

from datetime import datetime, timedelta
from typing import Annotated, Any
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Query

from insights.quality_queries import quality_report
from telecare.clock import Clock
from telecare.settings import DEFAULT_SERVICE_TIMEZONE, check_zone_name
from telecare.store import Database

DEFAULT_RANGE = timedelta(days=7)


def router(db: Database, clock: Clock, service_timezone: str = DEFAULT_SERVICE_TIMEZONE) -> APIRouter:
    """The quality board's API; days and hours are the service time zone's."""
    zone = ZoneInfo(check_zone_name(service_timezone))
    api = APIRouter(prefix="/api", tags=["quality"])

    @api.get("/quality", summary="Alarm answer times against the 60 s / 180 s targets, follow-up cadence, "
                                 "residents unreached today, campaign reach, devices offline > 24 h")
    async def quality(
        from_: Annotated[datetime | None, Query(alias="from", description="ISO 8601 with offset; default 7 days before to")] = None,
        to: Annotated[datetime | None, Query(description="ISO 8601 with offset; default now")] = None,
    ) -> dict[str, Any]:
        """Alarms raised in [from, to): `alarms`, `answered_within_60s` and `answered_within_180s` as fractions
        (null with no alarms), per day, hour and operator; `cadence_met`, `unreached_today` as of now."""
        now = clock.now()
        end = to or now
        return await quality_report(db, zone, from_ or end - DEFAULT_RANGE, end, now)

    return api
