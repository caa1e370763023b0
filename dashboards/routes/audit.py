"""The audit search: GET /audit (page) and GET /api/audit (admins and auditors); each search is audited too."""
from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from fastapi.responses import FileResponse

from telecare.clock import Clock
from telecare.errors import InvalidInput

from dashboards.access import actor
from dashboards.audit import AuditAction, AuditLog
from dashboards.routes.common import ID_PATTERN
from dashboards.routes.system import STATIC_DIR

Filter = Annotated[str | None, Query(max_length=80, pattern=r"^[^\x00-\x1f]*$")]


def _instant(value: str | None, name: str) -> datetime | None:
    if not value:
        return None
    try:
        at = datetime.fromisoformat(value)
    except ValueError as err:
        raise InvalidInput(f"{name} must be an ISO time with a UTC offset") from err
    if at.tzinfo is None:
        raise InvalidInput(f"{name} needs a UTC offset")
    return at


def _row(r: dict[str, Any]) -> dict[str, Any]:
    return {"id": r["id"], "at": r["at"].isoformat(), "actor": r["actor"], "actor_kind": r["actor_kind"],
            "action": r["action"], "residents": list(r["residents"]), "outcome": r["outcome"],
            "client_addr": r["client_addr"], "user_agent": r["user_agent"], "detail": r["detail"]}


def router(audit: AuditLog, clock: Clock) -> APIRouter:
    """/audit and /api/audit."""
    api = APIRouter(tags=["audit"])

    @api.get("/audit", include_in_schema=False)
    async def audit_page() -> FileResponse:
        return FileResponse(STATIC_DIR / "audit.html", headers={"Cache-Control": "no-cache"})

    @api.get("/api/audit", summary="Search the audit log (newest first): by resident, user, action and time")
    async def search(request: Request,
                     resident_id: Annotated[str | None, Query(max_length=64, pattern=ID_PATTERN)] = None,
                     user: Filter = None, action: Filter = None, since: Filter = None, until: Filter = None,
                     limit: Annotated[int, Query(ge=1, le=5000)] = 200) -> list[dict[str, Any]]:
        if action and action not in {a.value for a in AuditAction}:
            raise InvalidInput(f"unknown action {action!r}")
        rows = await audit.search(resident_id=resident_id, user=user or None, action=action or None,
                                  since=_instant(since, "since"), until=_instant(until, "until"), limit=limit)
        now = clock.now()
        # Reading who looked at a resident is itself a read about that resident.
        await audit.record(actor(request), AuditAction.AUDIT_READ, [resident_id] if resident_id else [], now,
                           {"user": user, "action": action, "rows": len(rows)})
        return [_row(r) for r in rows]

    return api
