"""HTTP routes to register residents and devices and to pair a device with a home."""
from __future__ import annotations

import logging
from typing import Annotated

from fastapi import APIRouter, Query, Response

from devices.records import device_to_dict
from devices.registry import Registry
from devices.schema import ID_PATTERN, DeviceIn, PairIn, ResidentIn
from telecare.clock import Clock
from telecare.errors import NotFound

from dashboards.routes.common import PathId

log = logging.getLogger(__name__)


def router(registry: Registry, clock: Clock) -> APIRouter:
    """GET /api/devices, POST /api/residents, POST /api/devices, POST /api/devices/{id}/pair."""
    api = APIRouter(prefix="/api", tags=["devices"])

    @api.get("/devices")
    async def list_devices(resident_id: Annotated[str | None, Query(max_length=64, pattern=ID_PATTERN)] = None,
                           ) -> list[dict[str, str]]:
        """Every registered device, or one resident's (404 for an unknown resident)."""
        if resident_id is None:
            return [device_to_dict(d) for d in await registry.list_devices()]
        if await registry.resident(resident_id) is None:
            raise NotFound(f"resident {resident_id} is not registered")
        return [device_to_dict(d) for d in await registry.devices_of(resident_id)]

    @api.post("/residents")
    async def upsert_resident(body: ResidentIn, response: Response) -> dict[str, object]:
        """Register or update a resident (201 when new); answers with the id only."""
        created = await registry.upsert_resident(body.to_record())
        response.status_code = 201 if created else 200
        log.info("resident %s %s at %s", body.id, "registered" if created else "updated", clock.now().isoformat())
        return {"id": body.id, "created": created}

    @api.post("/devices")
    async def register_device(body: DeviceIn, response: Response) -> dict[str, object]:
        """Register a device (201 when new). A gateway needs only id, type and resident_id; a new gateway's
        answer carries its MQTT login under "mqtt" (username, password), shown this once."""
        device = body.to_record()
        done = await registry.register(device)
        response.status_code = 201 if done.created else 200
        log.info("device %s registered on gateway %s", device.id, device.gateway_id)
        login = done.credentials
        if login:
            response.headers["Cache-Control"] = "no-store"  # a password: never kept by a cache
        mqtt = {"mqtt": {"username": login.username, "password": login.password}} if login else {}
        return {**device_to_dict(device), **mqtt}

    @api.post("/devices/{device_id}/pair")
    async def pair(device_id: PathId, body: PairIn) -> dict[str, str]:
        """Move a registered device to a gateway and resident."""
        return device_to_dict(await registry.pair(device_id, body.gateway_id, body.resident_id))

    return api
