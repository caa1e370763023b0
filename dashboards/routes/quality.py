"""GET /quality (page) and GET /api/quality: the service-quality board from the platform's own records.

Coordinators are team-bound: their board counts their teams' residents only (filtered in the queries).
"""
from __future__ import annotations

from datetime import datetime, timedelta
from typing import Annotated, Any
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Query, Request
from fastapi.responses import FileResponse

from insights.quality_queries import quality_report
from telecare.clock import Clock
from telecare.settings import DEFAULT_SERVICE_TIMEZONE, check_zone_name
from telecare.store import Database

from dashboards.access import Access
from dashboards.routes.system import STATIC_DIR

DEFAULT_RANGE = timedelta(days=7)


def router(db: Database, clock: Clock, service_timezone: str = DEFAULT_SERVICE_TIMEZONE) -> APIRouter:
    """The quality board's page and API; days and hours are the service time zone's."""
    zone = ZoneInfo(check_zone_name(service_timezone))
    api = APIRouter(tags=["quality"])

    @api.get("/quality", include_in_schema=False)
    async def quality_page() -> FileResponse:
        return FileResponse(STATIC_DIR / "quality.html", headers={"Cache-Control": "no-cache"})

    @api.get("/api/quality", summary="Alarm answer times against the 60 s / 180 s targets, follow-up cadence, "
                                     "residents unreached today, campaign reach, devices offline > 24 h")
    async def quality(
        request: Request,
        from_: Annotated[datetime | None, Query(alias="from", description="ISO 8601 with offset; default 7 days before to")] = None,
        to: Annotated[datetime | None, Query(description="ISO 8601 with offset; default now")] = None,
    ) -> dict[str, Any]:
        """Alarms raised in [from, to): `alarms`, `answered_within_60s` and `answered_within_180s` as fractions
        (null with no alarms), per day, hour and operator; `cadence_met`, `unreached_today` as of now.
        A coordinator's board counts only their teams' residents (`teams` in the answer)."""
        access: Access = request.app.state.access
        now = clock.now()
        end = to or now
        return await quality_report(db, zone, from_ or end - DEFAULT_RANGE, end, now,
                                    teams=access.teams_in_scope(request))

    return api
