"""Resident card, key-safe reveal and recent events: every read is audited under the signed-in user."""
from __future__ import annotations

from datetime import timedelta
from typing import TYPE_CHECKING, Annotated, Any

from fastapi import APIRouter, Query, Request
from pydantic import AfterValidator, BaseModel, Field, StringConstraints

from dashboards.access import actor
from dashboards.audit import AuditAction, AuditLog
from dashboards.queries import ResidentQueries
from dashboards.routes.common import OperatorName, PathId, plain_text

if TYPE_CHECKING:
    from dashboards.app import WebDeps


class RevealBody(BaseModel):
    by: OperatorName | None = Field(None, description="ignored: the audit row records the signed-in user")
    reason: Annotated[str, StringConstraints(strip_whitespace=True, min_length=3, max_length=500),
                      AfterValidator(plain_text)]


def router(deps: WebDeps, queries: ResidentQueries, audit: AuditLog) -> APIRouter:
    """Routes under /api/residents (dashboards.policy: operators, and the resident's own care team)."""
    api = APIRouter(prefix="/api/residents", tags=["residents"])

    @api.get("/{resident_id}", summary="Resident card (no key-safe code); audited")
    async def card(resident_id: PathId, request: Request) -> dict[str, Any]:
        now = deps.clock.now()
        result = await queries.card(resident_id, now)
        # Audit before answering: if the audit row cannot be written, the data is not shown.
        await audit.record(actor(request), AuditAction.CARD_READ, [resident_id], now)
        return result.to_dict()

    @api.post("/{resident_id}/key-safe", summary="Reveal the key-safe code (operators); audited with a reason")
    async def reveal_key_safe(resident_id: PathId, body: RevealBody, request: Request) -> dict[str, Any]:
        now = deps.clock.now()
        code = await queries.key_safe_code(resident_id)
        await audit.record(actor(request), AuditAction.KEY_SAFE_REVEAL, [resident_id], now, {"reason": body.reason})
        return {"resident_id": resident_id, "code": code}

    @api.get("/{resident_id}/events",
             summary="The resident's recent period: every alarm, latest activity, heartbeats counted per device; audited")
    async def events(resident_id: PathId, request: Request,
                     hours: Annotated[int, Query(ge=1, le=168)] = 24) -> dict[str, Any]:
        now = deps.clock.now()
        since = now - timedelta(hours=hours)
        day = await queries.day(resident_id, since)
        await audit.record(actor(request), AuditAction.EVENTS_READ, [resident_id], now, {"hours": hours})
        return {"resident_id": resident_id, "since": since.isoformat(), "until": now.isoformat(), **day.to_dict()}

    return api
