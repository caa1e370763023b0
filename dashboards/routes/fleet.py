"""GET /fleet (page), /api/fleet and /api/fleet.csv: every gateway and sensor, filtered, for the maintenance round.

The visit list carries the installation address (the installer goes there): both reads are audited. No
names, phones, notes or health data.
"""
from __future__ import annotations

import csv
import io
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from fastapi.responses import FileResponse, Response

from devices.fleet import CSV_COLUMNS, FleetQueries, FleetStatus, page_of
from telecare.clock import Clock
from telecare.store import Database

from dashboards.access import actor
from dashboards.audit import AuditAction, AuditLog
from dashboards.routes.system import STATIC_DIR

PAGE_SIZE = 100
Status = Annotated[FleetStatus, Query(description="offline (silent > 24 h), low_battery, never_commissioned, all")]
Page = Annotated[int, Query(ge=1, le=100_000)]


def _cell(value: Any) -> str:
    text = "" if value is None else str(value).lower() if isinstance(value, bool) else str(value)
    # A spreadsheet runs a cell starting with = + - @ as a formula: quote it (addresses are typed by people).
    return "'" + text if text[:1] in ("=", "+", "-", "@") else text


def router(db: Database, clock: Clock) -> APIRouter:
    """The fleet page and its two reads."""
    api = APIRouter(tags=["installers"])
    fleet, audit = FleetQueries(db), AuditLog(db)

    @api.get("/fleet", include_in_schema=False)
    async def fleet_page() -> FileResponse:
        return FileResponse(STATIC_DIR / "fleet.html", headers={"Cache-Control": "no-cache"})

    async def rows(request: Request, status: FleetStatus, page: int | None, view: str) -> tuple[list, int]:
        now = clock.now()
        every = await fleet.fleet()
        shown, total = page_of(every, status, now, page or 1, PAGE_SIZE if page else len(every) or 1)
        shown = await fleet.with_reports(shown)
        await audit.record(actor(request), AuditAction.INSTALL_ADDRESS_READ, (r.resident_id for r in shown), now,
                           {"view": view, "status": status.value})
        return shown, total

    @api.get("/api/fleet", summary="Every gateway and sensor: last seen, battery, online, commissioned, "
                                   "firmware/model if reported; filtered and paged (100 a page)")
    async def fleet_api(request: Request, status: Status = FleetStatus.ALL, page: Page = 1) -> dict[str, Any]:
        shown, total = await rows(request, status, page, "fleet")
        now = clock.now()
        return {"status": status.value, "page": page, "page_size": PAGE_SIZE, "total": total,
                "pages": max(1, -(-total // PAGE_SIZE)), "devices": [r.to_dict(now) for r in shown]}

    @api.get("/api/fleet.csv", summary="The day's visit list (same filter, every page): address included, "
                                       "no phone, no health data")
    async def fleet_csv(request: Request, status: Status = FleetStatus.OFFLINE) -> Response:
        shown, _ = await rows(request, status, None, "visit_list")
        now = clock.now()
        out = io.StringIO()
        writer = csv.writer(out)
        writer.writerow(CSV_COLUMNS)
        for r in shown:
            d = r.to_dict(now)
            writer.writerow([_cell(d[c]) for c in CSV_COLUMNS])
        day = now.date().isoformat()
        return Response(out.getvalue(), media_type="text/csv; charset=utf-8",
                        headers={"Content-Disposition": f'attachment; filename="visits-{status.value}-{day}.csv"',
                                 "Cache-Control": "no-store"})

    return api
