"""Alert queue API: list, acknowledge, resolve, and the live Server-Sent Events stream."""
from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING, Annotated, Any

from fastapi import APIRouter, Query
from fastapi.responses import StreamingResponse
from pydantic import BaseModel, Field

from telecare.alerts import ACTIVE_STATUSES, Alert, AlertStatus, Outcome
from telecare.errors import StoreError

from dashboards.live import RELOAD, LiveHub
from dashboards.queries import ResidentQueries
from dashboards.routes.common import OperatorName, PathRowId, Text, sse
from dashboards.views import alert_view, queue_order

if TYPE_CHECKING:
    from dashboards.app import WebDeps

log = logging.getLogger(__name__)

# A comment line this often keeps proxies from closing an idle stream and reveals dead browsers.
KEEPALIVE_SECONDS = 15.0


class AcknowledgeBody(BaseModel):
    by: OperatorName


class ResolveBody(BaseModel):
    by: OperatorName
    outcome: Outcome
    note: Text = Field("", max_length=2000)


def _dumps(data: Any) -> str:
    return json.dumps(data, separators=(",", ":"))


def router(deps: WebDeps, queries: ResidentQueries, hub: LiveHub) -> APIRouter:
    """Routes under /api/alerts."""
    api = APIRouter(prefix="/api/alerts", tags=["alerts"])

    async def views(alerts: list[Alert]) -> list[dict[str, Any]]:
        names = await queries.names(a.resident_id for a in alerts)
        now = deps.clock.now()
        return [alert_view(a, names.get(a.resident_id), now) for a in alerts]

    async def active_queue() -> list[dict[str, Any]]:
        alerts = [a for s in ACTIVE_STATUSES for a in await deps.alerts.list(status=s)]
        return await views(queue_order(alerts))

    @api.get("", summary="Alerts by status; without status, the active queue (open + acknowledged)")
    async def list_alerts(status: AlertStatus | None = None, resident_id: str | None = None,
                          limit: Annotated[int, Query(ge=1, le=1000)] = 500) -> list[dict[str, Any]]:
        if status is None and resident_id is None:
            return await active_queue()
        alerts = await deps.alerts.list(status=status, resident_id=resident_id, limit=limit)
        if status in ACTIVE_STATUSES:
            alerts = queue_order(alerts)
        return await views(alerts)

    @api.post("/{alert_id}/acknowledge", summary="Take an open alert")
    async def acknowledge(alert_id: PathRowId, body: AcknowledgeBody) -> dict[str, Any]:
        change = await deps.alerts.acknowledge(alert_id, body.by, deps.clock.now())
        return (await views([change.alert]))[0]

    @api.post("/{alert_id}/resolve", summary="Close an alert with an outcome and a note")
    async def resolve(alert_id: PathRowId, body: ResolveBody) -> dict[str, Any]:
        change = await deps.alerts.resolve(alert_id, body.by, body.outcome, body.note, deps.clock.now())
        return (await views([change.alert]))[0]

    @api.get("/stream", summary="Server-Sent Events: `snapshot`, then one `change` per AlertChange")
    async def stream() -> StreamingResponse:
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
                yield sse("snapshot", _dumps({"alerts": snapshot, "server_time": deps.clock.now().isoformat()}))
                while True:
                    try:
                        item = await asyncio.wait_for(client.get(), KEEPALIVE_SECONDS)
                    except TimeoutError:
                        yield ": keep-alive\n\n"
                        continue
                    if item is RELOAD:
                        yield sse("reload", _dumps({"detail": "fell behind; reload the queue"}))
                        return
                    yield sse("change", _dumps(item))
            finally:
                hub.disconnect(client)

        headers = {"Cache-Control": "no-cache", "X-Accel-Buffering": "no"}
        return StreamingResponse(frames(), media_type="text/event-stream", headers=headers)

    return api
