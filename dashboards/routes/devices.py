"""HTTP routes to register residents and devices and to pair a device with a home."""
from __future__ import annotations

import logging

from fastapi import APIRouter, HTTPException, Response

from devices.records import device_to_dict
from devices.registry import Registry
from devices.schema import DeviceIn, PairIn, ResidentIn
from telecare.clock import Clock
from telecare.errors import ConflictError, InvalidInput, NotFound, TelecareError

log = logging.getLogger(__name__)


def _http(err: TelecareError) -> HTTPException:
    """Our errors as HTTP statuses; messages carry ids only (the web app counts them)."""
    status = 404 if isinstance(err, NotFound) else 409 if isinstance(err, ConflictError) else \
        400 if isinstance(err, InvalidInput) else 500
    log.info("devices API refused a request: %s (%s)", status, type(err).__name__)
    return HTTPException(status, str(err))


def router(registry: Registry, clock: Clock) -> APIRouter:
    """GET /api/devices, POST /api/residents, POST /api/devices, POST /api/devices/{id}/pair."""
    api = APIRouter(prefix="/api", tags=["devices"])

    @api.get("/devices")
    async def list_devices(resident_id: str | None = None) -> list[dict[str, str]]:
        """Every registered device, or one resident's (404 for an unknown resident)."""
        if resident_id is None:
            return [device_to_dict(d) for d in await registry.list_devices()]
        if await registry.resident(resident_id) is None:
            raise _http(NotFound(f"resident {resident_id} is not registered"))
        return [device_to_dict(d) for d in await registry.devices_of(resident_id)]

    @api.post("/residents")
    async def upsert_resident(body: ResidentIn, response: Response) -> dict[str, object]:
        """Register or update a resident (201 when new); answers with the id only."""
        try:
            created = await registry.upsert_resident(body.to_record())
        except TelecareError as err:
            raise _http(err) from err
        response.status_code = 201 if created else 200
        log.info("resident %s %s at %s", body.id, "registered" if created else "updated", clock.now().isoformat())
        return {"id": body.id, "created": created}

    @api.post("/devices")
    async def register_device(body: DeviceIn, response: Response) -> dict[str, str]:
        """Register a device (201 when new). A gateway needs only id, type and resident_id."""
        try:
            device = body.to_record()
            created = await registry.register_device(device)
        except TelecareError as err:
            raise _http(err) from err
        response.status_code = 201 if created else 200
        log.info("device %s registered on gateway %s", device.id, device.gateway_id)
        return device_to_dict(device)

    @api.post("/devices/{device_id}/pair")
    async def pair(device_id: str, body: PairIn) -> dict[str, str]:
        """Move a registered device to a gateway and resident."""
        try:
            device = await registry.pair(device_id, body.gateway_id, body.resident_id)
        except TelecareError as err:
            raise _http(err) from err
        return device_to_dict(device)

    return api
