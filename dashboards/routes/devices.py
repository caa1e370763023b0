"""HTTP routes to register residents and devices and to pair a device with a home; every change audited.

Device payloads carry ids and types only (no names, health data or phones): what an installer may see.
"""
from __future__ import annotations

import logging
from typing import Annotated

from fastapi import APIRouter, Query, Request, Response
from fastapi.responses import FileResponse

from devices.records import device_to_dict
from devices.registry import Registry
from devices.schema import ID_PATTERN, DeviceIn, PairIn, ResidentIn
from telecare.clock import Clock
from telecare.errors import NotFound

from dashboards.access import Access, actor
from dashboards.audit import AuditAction, AuditLog
from dashboards.routes.common import PathId
from dashboards.routes.system import STATIC_DIR

log = logging.getLogger(__name__)


def router(registry: Registry, clock: Clock) -> APIRouter:
    """GET /devices (page), GET /api/devices, POST /api/residents, POST /api/devices, POST /api/devices/{id}/pair."""
    api = APIRouter(tags=["devices"])

    def audit(request: Request) -> AuditLog:
        access: Access = request.app.state.access
        return access.audit

    @api.get("/devices", include_in_schema=False)
    async def devices_page() -> FileResponse:
        return FileResponse(STATIC_DIR / "devices.html", headers={"Cache-Control": "no-cache"})

    @api.get("/api/devices")
    async def list_devices(resident_id: Annotated[str | None, Query(max_length=64, pattern=ID_PATTERN)] = None,
                           ) -> list[dict[str, str]]:
        """Every registered device, or one resident's (404 for an unknown resident)."""
        if resident_id is None:
            return [device_to_dict(d) for d in await registry.list_devices()]
        if await registry.resident(resident_id) is None:
            raise NotFound(f"resident {resident_id} is not registered")
        return [device_to_dict(d) for d in await registry.devices_of(resident_id)]

    @api.post("/api/residents")
    async def upsert_resident(body: ResidentIn, request: Request, response: Response) -> dict[str, object]:
        """Register or update a resident (201 when new); answers with the id only. Coordinators: own teams."""
        access: Access = request.app.state.access
        principal = request.state.principal
        if not request.state.rule.unbound(principal):
            stored = (await access.teams_of([body.id])).get(body.id)
            if body.care_plan.team not in principal.teams or (stored is not None and stored not in principal.teams):
                await access.deny(request, principal, "a coordinator registers residents of their own teams only",
                                  [body.id])
        created = await registry.upsert_resident(body.to_record())
        await audit(request).record(actor(request), AuditAction.RESIDENT_UPSERT, [body.id], clock.now(),
                                    {"created": created})
        response.status_code = 201 if created else 200
        log.info("resident %s %s at %s", body.id, "registered" if created else "updated", clock.now().isoformat())
        return {"id": body.id, "created": created}

    @api.post("/api/devices")
    async def register_device(body: DeviceIn, request: Request, response: Response) -> dict[str, object]:
        """Register a device (201 when new). A gateway needs only id, type and resident_id; a new gateway's
        answer carries its MQTT login under "mqtt" (username, password), shown this once."""
        device = body.to_record()
        done = await registry.register(device)
        await audit(request).record(actor(request), AuditAction.DEVICE_REGISTER, [device.resident_id], clock.now(),
                                    {"device_id": device.id, "gateway_id": device.gateway_id, "created": done.created})
        response.status_code = 201 if done.created else 200
        log.info("device %s registered on gateway %s", device.id, device.gateway_id)
        login = done.credentials
        if login:
            response.headers["Cache-Control"] = "no-store"  # a password: never kept by a cache
        mqtt = {"mqtt": {"username": login.username, "password": login.password}} if login else {}
        return {**device_to_dict(device), **mqtt}

    @api.post("/api/devices/{device_id}/pair")
    async def pair(device_id: PathId, body: PairIn, request: Request) -> dict[str, str]:
        """Move a registered device to a gateway and resident."""
        paired = await registry.pair(device_id, body.gateway_id, body.resident_id)
        await audit(request).record(actor(request), AuditAction.DEVICE_PAIR, [paired.resident_id], clock.now(),
                                    {"device_id": device_id, "gateway_id": paired.gateway_id})
        return device_to_dict(paired)

    return api
