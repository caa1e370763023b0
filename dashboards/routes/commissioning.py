"""Installer routes: register a gateway with its site and sensors, its page, and commissioning sessions.

Answers carry ids, serials, rooms, the installation address and technical state only: no names, phones,
notes or health events. Reads that show the address are audited; the commissioning view follows a stream
that re-reads the events and dead_letters tables each second (ingest may run in another process).
"""
from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import AsyncIterator
from typing import Any

from fastapi import APIRouter, Request, Response
from fastapi.responses import FileResponse, StreamingResponse

from devices.commissioning import Commissioning, Session
from devices.fleet import FleetQueries
from devices.install_schema import GatewayRegistrationIn, SensorIn
from devices.installations import Installations
from telecare.alerts import AlertSink
from telecare.clock import Clock
from telecare.errors import NotFound, StoreError
from telecare.store import Database

from dashboards.access import actor
from dashboards.audit import AuditAction, AuditLog
from dashboards.routes.common import PathId, PathRowId, sse
from dashboards.routes.system import STATIC_DIR

log = logging.getLogger(__name__)
POLL_SECONDS = 1.0
STATUS_EVERY = 5  # polls between two `status` frames: the page's proof that the stream is alive


def _dumps(data: Any) -> str:
    return json.dumps(data, separators=(",", ":"))


def router(db: Database, alerts: AlertSink, clock: Clock, *, poll_seconds: float = POLL_SECONDS) -> APIRouter:
    """GET /commission, /api/gateways… (register, sensors, page data, commissioning and its stream)."""
    api = APIRouter(tags=["installers"])
    installs, sessions, fleet, audit = Installations(db), Commissioning(db, alerts), FleetQueries(db), AuditLog(db)

    async def audited(request: Request, action: AuditAction, resident_id: str, detail: dict[str, Any]) -> None:
        await audit.record(actor(request), action, [resident_id], clock.now(), detail)

    @api.get("/commission", include_in_schema=False)
    async def commission_page() -> FileResponse:
        return FileResponse(STATIC_DIR / "commission.html", headers={"Cache-Control": "no-cache"})

    @api.post("/api/gateways", summary="Register a gateway (serial, resident, address, rooms); a new gateway's MQTT "
                                       "login is in the answer, this once")
    async def register_gateway(body: GatewayRegistrationIn, request: Request, response: Response) -> dict[str, Any]:
        done = await installs.register_gateway(body.to_site(), request.state.principal.name, clock.now())
        await audited(request, AuditAction.DEVICE_REGISTER, body.resident_id,
                      {"device_id": body.id, "gateway_id": body.id, "created": done.created})
        response.status_code = 201 if done.created else 200
        out: dict[str, Any] = {"id": body.id, "resident_id": body.resident_id, "created": done.created}
        if done.credentials:
            response.headers["Cache-Control"] = "no-store"  # a password: never kept by a cache
            out["mqtt"] = {"username": done.credentials.username, "password": done.credentials.password}
        return out

    @api.post("/api/gateways/{gateway_id}/sensors", summary="Add a sensor (type, serial, room) to a gateway")
    async def add_sensor(gateway_id: PathId, body: SensorIn, request: Request, response: Response) -> dict[str, Any]:
        done = await installs.add_sensor(gateway_id, body.id, body.type, body.serial, body.room,
                                         request.state.principal.name, clock.now())
        await audited(request, AuditAction.DEVICE_REGISTER, done.device.resident_id,
                      {"device_id": body.id, "gateway_id": gateway_id, "created": done.created})
        response.status_code = 201 if done.created else 200
        return {"id": body.id, "type": body.type.value, "gateway_id": gateway_id, "room": body.room,
                "created": done.created}

    @api.get("/api/gateways/{gateway_id}", summary="A gateway, its site and its sensors: commissioning state, last "
                                                   "seen, battery, firmware/model if reported")
    async def gateway(gateway_id: PathId, request: Request) -> dict[str, Any]:
        rows = await fleet.gateway(gateway_id)
        if not rows or rows[0].device_id != gateway_id:
            raise NotFound(f"gateway {gateway_id} is not registered")
        site, latest, now = await installs.site(gateway_id), await sessions.latest(gateway_id), clock.now()
        await audited(request, AuditAction.INSTALL_ADDRESS_READ, rows[0].resident_id, {"gateway_id": gateway_id})
        return {"gateway": {**rows[0].to_dict(now), "rooms": list(site.rooms) if site else []},
                "sensors": [r.to_dict(now) for r in rows[1:]],
                "commissioning": latest.to_dict() if latest else None}

    @api.post("/api/gateways/{gateway_id}/commissioning", summary="Start commissioning (or rejoin the open session)")
    async def start(gateway_id: PathId, request: Request, response: Response) -> dict[str, Any]:
        session, created = await sessions.start(gateway_id, request.state.principal.name, clock.now())
        if created:
            await audited(request, AuditAction.COMMISSIONING, session.resident_id,
                          {"gateway_id": gateway_id, "session_id": session.id, "step": "start"})
        response.status_code = 201 if created else 200
        return await sessions.state(session)

    @api.get("/api/gateways/{gateway_id}/commissioning/{session_id}", summary="A session's checklist and rejects")
    async def state(gateway_id: PathId, session_id: PathRowId) -> dict[str, Any]:
        return await sessions.state(await sessions.get(gateway_id, session_id))

    @api.post("/api/gateways/{gateway_id}/commissioning/{session_id}/finish",
              summary="Finish: store each device's result, raise the installation TEST alert, name what never "
                      "reported")
    async def finish(gateway_id: PathId, session_id: PathRowId, request: Request) -> dict[str, Any]:
        session = await sessions.get(gateway_id, session_id)
        done = await sessions.finish(session, request.state.principal.name, clock.now())
        await audited(request, AuditAction.COMMISSIONING, session.resident_id,
                      {"gateway_id": gateway_id, "session_id": session_id, "step": "finish",
                       "missing": [m["device_id"] for m in done["missing"]]})
        return done

    @api.get("/api/gateways/{gateway_id}/commissioning/{session_id}/stream",
             summary="Server-Sent Events: `state` whenever the checklist or the rejects change, `status` "
                     "(live true/false) every few seconds, `finished` at the end")
    async def stream(gateway_id: PathId, session_id: PathRowId) -> StreamingResponse:
        session = await sessions.get(gateway_id, session_id)  # 404 before any stream starts

        async def frames() -> AsyncIterator[str]:
            yield "retry: 2000\n\n"
            last, polls, live = None, 0, None
            while True:
                try:
                    current: Session = await sessions.get(gateway_id, session_id)
                    data = _dumps(await sessions.state(current))
                    ok, detail = True, ""
                except StoreError:  # the database is away: say so, keep trying
                    log.warning("commissioning stream %s could not read the session", session_id)
                    ok, detail, current = False, "the database is not answering; retrying", session
                if ok and data != last:
                    last = data
                    yield sse("state", data)
                if ok != live or polls % STATUS_EVERY == 0:
                    live = ok
                    yield sse("status", _dumps({"live": ok, "detail": detail}))
                if ok and current.finished_at is not None:
                    yield sse("finished", _dumps({"session_id": session_id}))
                    return
                polls += 1
                await asyncio.sleep(poll_seconds)

        return StreamingResponse(frames(), media_type="text/event-stream",
                                 headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"})

    return api
