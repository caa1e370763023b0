"""The phone simulator page: the demo residents' phones ring in the browser and a person answers."""
from __future__ import annotations

import html
import json
import logging
from collections.abc import AsyncIterator
from dataclasses import asdict
from datetime import datetime
from pathlib import Path
from typing import Annotated, Any

from fastapi import APIRouter, Request
from fastapi import Path as PathParam
from fastapi.responses import HTMLResponse, StreamingResponse
from pydantic import BaseModel, Field

from telecare.errors import ConflictError, NotFound, TelephonyError

log = logging.getLogger(__name__)
PAGE = Path(__file__).resolve().parent.parent / "static" / "phones.html"
CallId = Annotated[str, PathParam(min_length=1, max_length=64)]
HEARTBEAT_S = 15.0  # an SSE comment this often keeps proxies from closing an idle stream


class Keys(BaseModel):
    digits: str = Field(min_length=1, max_length=8, pattern=r"^[0-9*#]+$")


def call_view(call: Any) -> dict[str, Any]:
    """A call as JSON for the page."""
    view = asdict(call)
    for key, value in view.items():
        if isinstance(value, datetime):
            view[key] = value.isoformat()
    return view


def snapshot(sim: Any) -> dict[str, Any]:
    """Every call the simulator knows (ringing and talking first), with the change version."""
    order = {"ringing": 0, "in-progress": 1, "queued": 2}
    calls = sorted(sim.calls(), key=lambda c: order.get(c.state, 3))
    return {"version": sim.changes.version, "calls": [call_view(c) for c in calls]}


def router(sim: Any) -> APIRouter:
    """The phone simulator's page (demo telephony, passed in by the composition root): GET /phones (page), /api/phones (+ /stream SSE) and POST /api/phones/{id}/{action}."""
    api = APIRouter(tags=["phone simulator"])

    @api.get("/phones", response_class=HTMLResponse, include_in_schema=False)
    async def page() -> HTMLResponse:
        return HTMLResponse(PAGE.read_text(encoding="utf-8"))

    @api.get("/api/phones")
    async def phones() -> dict[str, Any]:
        return snapshot(sim)

    @api.get("/api/phones/stream")
    async def stream(request: Request) -> StreamingResponse:
        async def frames() -> AsyncIterator[str]:
            version = -1
            while not await request.is_disconnected():
                if version != sim.changes.version:
                    version = sim.changes.version
                    yield f"data: {json.dumps(snapshot(sim))}\n\n"
                elif await sim.changes.wait(version, HEARTBEAT_S) == version:
                    yield ": keep-alive\n\n"

        return StreamingResponse(frames(), media_type="text/event-stream",
                                 headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"})

    async def act(call_id: str, action: str, digits: str | None = None) -> dict[str, Any]:
        try:
            if action == "press":
                await sim.press(call_id, digits or "")
            else:
                await getattr(sim, ACTIONS[action])(call_id)
        except TelephonyError as err:
            # From the simulator this means "the call is not in a state for that gesture": a conflict.
            raise ConflictError(str(err)) from err
        log.info("phone page: %s on call %s", action, call_id)
        return snapshot(sim)

    @api.post("/api/phones/{call_id}/press")
    async def press(call_id: CallId, keys: Keys) -> dict[str, Any]:
        return await act(call_id, "press", keys.digits)

    @api.post("/api/phones/{call_id}/{action}")
    async def other(call_id: CallId, action: str) -> dict[str, Any]:
        if action not in ACTIONS:
            raise NotFound("unknown phone action")
        return await act(call_id, action)

    return api


# URL action -> SimulatedTelephony method a person's gesture maps to.
ACTIONS = {"answer": "answer", "hangup": "hangup_phone", "reject": "reject", "ringout": "ring_out"}


_ELSEWHERE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>Phone simulator · Telecare</title><link rel="stylesheet" href="/static/app.css">
<script src="/static/nav.js" defer></script></head>
<body data-page="phones"><main style="margin:1.5rem;max-width:46rem">
<h1>Phone simulator</h1><p data-phones-elsewhere>{reason}</p>
<p>Every call and its outcome is in the <a href="/care/calls">call log</a>.</p></main></body></html>
"""


def elsewhere_router(reason: str) -> APIRouter:
    """GET /phones (and /api/phones, 503) when this process has no phone simulator: the page says where calls ring."""
    api = APIRouter(tags=["phone simulator"])

    @api.get("/phones", response_class=HTMLResponse, include_in_schema=False)
    async def page() -> HTMLResponse:
        return HTMLResponse(_ELSEWHERE.format(reason=html.escape(reason)))

    @api.get("/api/phones", include_in_schema=False)
    async def phones() -> None:
        raise HTTPException(503, reason)

    return api
