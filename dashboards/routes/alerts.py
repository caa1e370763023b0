"""Alert queue API: list (filters, search, resolved windows), acknowledge, resolve, history, notes, live stream."""
from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import timedelta
from enum import StrEnum
from typing import TYPE_CHECKING, Annotated, Any

from fastapi import APIRouter, Query, Request
from fastapi.responses import StreamingResponse
from pydantic import AfterValidator, BaseModel, Field, StringConstraints

from telecare.alerts import ACTIVE_STATUSES, AlertChange, AlertStatus, AlertType, Outcome, Severity
from telecare.clock import Clock
from telecare.errors import StoreError

from dashboards.access import actor
from dashboards.audit import AuditAction, AuditLog
from dashboards.live import RELOAD, LiveHub, LiveStatus
from dashboards.queries import AlertFilter, AlertQueries, AlertRow, ResidentQueries
from dashboards.routes.common import OperatorName, PathRowId, Text, plain_text, sse
from dashboards.views import alert_view, change_view, queue_key

if TYPE_CHECKING:
    from dashboards.app import WebDeps

log = logging.getLogger(__name__)

# A comment line this often keeps proxies from closing an idle stream and reveals dead browsers.
KEEPALIVE_SECONDS = 15.0


# The actor is always the signed-in principal. `by` is still accepted from older clients and ignored.
class AcknowledgeBody(BaseModel):
    by: OperatorName | None = Field(None, description="ignored: the actor is the signed-in user")


class ResolveBody(BaseModel):
    by: OperatorName | None = Field(None, description="ignored: the actor is the signed-in user")
    outcome: Outcome
    note: Text = Field("", max_length=2000)


class NoteBody(BaseModel):
    text: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=2000),
                    AfterValidator(plain_text)]


class ResolvedWindow(StrEnum):
    """How far back the resolved view looks."""

    DAY = "24h"
    WEEK = "7d"


WINDOWS = {ResolvedWindow.DAY: timedelta(hours=24), ResolvedWindow.WEEK: timedelta(days=7)}
Search = Annotated[str | None, Query(max_length=80, pattern=r"^[^\x00]*$")]


def live_render(queries: AlertQueries, clock: Clock) -> Callable[[AlertChange], Awaitable[dict[str, Any]]]:
    """How the live hub renders a change: the alert with its resident's name and escalation (one query)."""
    async def render(change: AlertChange) -> dict[str, Any]:
        row = await queries.annotate(change.alert)
        return change_view(change, row.resident_name, clock.now(), row.escalation)
    return render


def _dumps(data: Any) -> str:
    return json.dumps(data, separators=(",", ":"))


def router(deps: WebDeps, queries: ResidentQueries, hub: LiveHub, audit: AuditLog) -> APIRouter:
    """Routes under /api/alerts."""
    api = APIRouter(prefix="/api/alerts", tags=["alerts"])

    alert_queries = AlertQueries(deps.db)

    async def audited(request: Request, action: AuditAction, residents: Any, detail: dict[str, Any]) -> None:
        await audit.record(actor(request), action, residents, deps.clock.now(), detail)

    async def change(request: Request, action: AuditAction, made: AlertChange) -> dict[str, Any]:
        await audited(request, action, [made.alert.resident_id], {"alert_id": made.alert.id})
        return await one(made)

    def views(rows: list[AlertRow], ordered: bool = False) -> list[dict[str, Any]]:
        now = deps.clock.now()
        if ordered:
            rows = sorted(rows, key=lambda r: queue_key(r.alert, r.escalation))
        return [alert_view(r.alert, r.resident_name, now, r.escalation) for r in rows]

    async def one(change: AlertChange) -> dict[str, Any]:
        row = await alert_queries.annotate(change.alert)
        return alert_view(row.alert, row.resident_name, deps.clock.now(), row.escalation)

    async def active_queue() -> list[dict[str, Any]]:
        return views(await alert_queries.alerts(AlertFilter()), ordered=True)

    @api.get("", summary="The active queue (open + acknowledged) or one status, or the resolved of the last 24 h / "
                         "7 days; filtered by severity, type, resident; searched by resident name")
    async def list_alerts(request: Request, status: AlertStatus | None = None, resident_id: Search = None,
                          severity: Severity | None = None, type: AlertType | None = None,  # noqa: A002
                          q: Search = None, resolved: ResolvedWindow | None = None,
                          limit: Annotated[int, Query(ge=1, le=1000)] = 500) -> list[dict[str, Any]]:
        statuses = (status,) if status else ACTIVE_STATUSES
        since = None
        if resolved is not None:
            statuses, since = (AlertStatus.RESOLVED,), deps.clock.now() - WINDOWS[resolved]
        rows = await alert_queries.alerts(AlertFilter(statuses, resident_id or None, severity, type,
                                                      (q or "").strip() or None, since, limit))
        await audited(request, AuditAction.ALERTS_READ, (r.alert.resident_id for r in rows), {"view": "queue"})
        return views(rows, ordered=AlertStatus.RESOLVED not in statuses)

    @api.post("/{alert_id}/acknowledge", summary="Take an open alert, as the signed-in user")
    async def acknowledge(alert_id: PathRowId, request: Request, body: AcknowledgeBody | None = None
                          ) -> dict[str, Any]:
        made = await deps.alerts.acknowledge(alert_id, request.state.principal.name, deps.clock.now())
        return await change(request, AuditAction.ALERT_ACKNOWLEDGE, made)

    @api.post("/{alert_id}/resolve", summary="Close an alert with an outcome and a note, as the signed-in user")
    async def resolve(alert_id: PathRowId, body: ResolveBody, request: Request) -> dict[str, Any]:
        made = await deps.alerts.resolve(alert_id, request.state.principal.name, body.outcome, body.note,
                                         deps.clock.now())
        return await change(request, AuditAction.ALERT_RESOLVE, made)

    @api.get("/{alert_id}/history", summary="What happened to the alert, oldest first")
    async def history(alert_id: PathRowId, request: Request) -> list[dict[str, Any]]:
        alert = await deps.alerts.get(alert_id)  # NotFound: 404
        entries = await deps.alerts.history(alert_id)
        await audited(request, AuditAction.ALERT_HISTORY_READ, [alert.resident_id], {"alert_id": alert_id})
        return [e.to_dict() for e in entries]

    @api.post("/{alert_id}/notes", status_code=201, summary="Add a note to the alert's history as the signed-in "
                                                             "user")
    async def add_note(alert_id: PathRowId, body: NoteBody, request: Request) -> dict[str, Any]:
        entry = await deps.alerts.add_note(alert_id, request.state.principal.name, body.text, deps.clock.now())
        alert = await deps.alerts.get(alert_id)
        await audited(request, AuditAction.ALERT_NOTE, [alert.resident_id], {"alert_id": alert_id})
        return entry.to_dict()

    @api.get("/stream", summary="Server-Sent Events: `snapshot` (with `live`), then one `change` per AlertChange; "
                                "`status` when the stream stops receiving, `reload` when the page must start again")
    async def stream(request: Request) -> StreamingResponse:
        who = actor(request)

        async def frames() -> AsyncIterator[str]:
            # Connect before the snapshot so a change in between is not lost (the page applies both by id).
            client = hub.connect()
            try:
                yield "retry: 2000\n\n"
                try:
                    snapshot = await active_queue()
                except StoreError:
                    log.warning("live stream could not load its snapshot")
                    yield sse("error", _dumps({"detail": "the alert queue is unavailable, retrying"}))
                    return
                # One audit row per connect: the residents whose names the snapshot shows.
                await audit.record(who, AuditAction.ALERTS_READ, (a["resident_id"] for a in snapshot),
                                   deps.clock.now(), {"view": "live_stream"})
                yield sse("snapshot", _dumps({"alerts": snapshot, "server_time": deps.clock.now().isoformat(),
                                              "live": hub.live}))
                while True:
                    try:
                        item = await asyncio.wait_for(client.get(), KEEPALIVE_SECONDS)
                    except TimeoutError:
                        yield ": keep-alive\n\n"
                        continue
                    if item is RELOAD:
                        yield sse("reload", _dumps({"detail": "the queue may be stale; reload it"}))
                        return
                    if isinstance(item, LiveStatus):  # the page must not say "Live" while nothing arrives
                        yield sse("status", _dumps({"live": item.live, "detail": item.detail}))
                        continue
                    yield sse("change", _dumps(item))
            finally:
                hub.disconnect(client)

        headers = {"Cache-Control": "no-cache", "X-Accel-Buffering": "no"}
        return StreamingResponse(frames(), media_type="text/event-stream", headers=headers)

    return api
