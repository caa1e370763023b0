"""Resident card, key-safe reveal and recent events: every read is audited."""
from __future__ import annotations

from datetime import timedelta
from typing import TYPE_CHECKING, Annotated, Any

from fastapi import APIRouter, Query, Request
from pydantic import AfterValidator, BaseModel, StringConstraints

from dashboards.audit import AuditAction, AuditLog
from dashboards.queries import ResidentQueries
from dashboards.routes.common import OperatorName, PathId, plain_text, signed_in_operator

if TYPE_CHECKING:
    from dashboards.app import WebDeps


class RevealBody(BaseModel):
    by: OperatorName
    reason: Annotated[str, StringConstraints(strip_whitespace=True, min_length=3, max_length=500),
                      AfterValidator(plain_text)]


def router(deps: WebDeps, queries: ResidentQueries, audit: AuditLog) -> APIRouter:
    """Routes under /api/residents."""
    api = APIRouter(prefix="/api/residents", tags=["residents"])

    @api.get("/{resident_id}", summary="Resident card (no key-safe code); audited")
    async def card(resident_id: PathId, request: Request) -> dict[str, Any]:
        actor = signed_in_operator(request)
        now = deps.clock.now()
        result = await queries.card(resident_id, now)
        # Audit before answering: if the audit row cannot be written, the data is not shown.
        await audit.record(actor, AuditAction.CARD_READ, resident_id, now)
        return result.to_dict()

    @api.post("/{resident_id}/key-safe", summary="Reveal the key-safe code; audited with a reason")
    async def reveal_key_safe(resident_id: PathId, body: RevealBody) -> dict[str, Any]:
        now = deps.clock.now()
        code = await queries.key_safe_code(resident_id)
        await audit.record(body.by, AuditAction.KEY_SAFE_REVEAL, resident_id, now, {"reason": body.reason})
        return {"resident_id": resident_id, "code": code}

    @api.get("/{resident_id}/events",
             summary="The resident's recent period: every alarm, latest activity, heartbeats counted per device; audited")
    async def events(resident_id: PathId, request: Request,
                     hours: Annotated[int, Query(ge=1, le=168)] = 24) -> dict[str, Any]:
        actor = signed_in_operator(request)
        now = deps.clock.now()
        since = now - timedelta(hours=hours)
        day = await queries.day(resident_id, since)
        await audit.record(actor, AuditAction.EVENTS_READ, resident_id, now, {"hours": hours})
        return {"resident_id": resident_id, "since": since.isoformat(), "until": now.isoformat(), **day.to_dict()}

    return api
