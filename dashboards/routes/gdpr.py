"""GDPR web hook: a resident's subject access export (zip) and erasure (with a dry run)."""
from __future__ import annotations

import re
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

from fastapi import APIRouter, Request, Response

from dashboards.access import actor
from dashboards.routes.common import PathId

if TYPE_CHECKING:
    from gdpr.service import Gdpr

def router(gdpr: Gdpr, retention_status: Callable[[], Awaitable[dict[str, Any]]]) -> APIRouter:
    """Export, erasure (dry run first) and the retention in force (roles: dashboards/policy.py)."""
    api = APIRouter(tags=["gdpr"])

    @api.get("/api/admin/retention", summary="How long each kind of data is kept, and by which mechanism")
    async def retention() -> dict[str, Any]:
        return await retention_status()

    @api.get("/api/residents/{resident_id}/export", summary="Subject access export: zip of JSON, CSV and FHIR R4",
             response_class=Response)
    async def export(resident_id: PathId, request: Request) -> Response:
        body = await gdpr.export_zip(resident_id, actor(request))
        name = re.sub(r"[^A-Za-z0-9._-]", "_", resident_id)[:64]
        return Response(body, media_type="application/zip",
                        headers={"Content-Disposition": f'attachment; filename="resident-{name}-export.zip"',
                                 "Cache-Control": "no-store"})

    @api.post("/api/residents/{resident_id}/erase", summary="Erase a resident's data (dry_run: only report)")
    async def erase(resident_id: PathId, request: Request, dry_run: bool = False) -> dict[str, Any]:
        report = await gdpr.erase(resident_id, actor(request), dry_run=dry_run)
        return {"resident_id": report.resident_id, "dry_run": report.dry_run, "at": report.at.isoformat(),
                "tables": [{"table": t, "action": a.value, "rows": n} for (t, a), n in report.totals().items()],
                "report": report.text()}

    return api
