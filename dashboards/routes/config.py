"""What every page needs to show the truth the same way: the service time zone and the server's clock."""
from __future__ import annotations

from typing import Any

from fastapi import APIRouter

from telecare.clock import Clock
from telecare.settings import check_zone_name


def router(service_timezone: str, clock: Clock) -> APIRouter:
    """GET /api/config: read by static/ui.js before a page formats any time."""
    zone = check_zone_name(service_timezone)
    api = APIRouter(tags=["system"])

    @api.get("/api/config", summary="Service time zone (IANA name) every page shows times in, and server time")
    async def config() -> dict[str, Any]:
        return {"service_timezone": zone, "server_time": clock.now().isoformat()}

    return api
