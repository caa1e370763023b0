"""What every page needs to show the truth the same way: the service time zone and the server's clock."""
from __future__ import annotations

from typing import Any

from fastapi import APIRouter

from telecare.clock import Clock
from telecare.i18n import DEFAULT_LANGUAGE, Language
from telecare.settings import check_zone_name


def router(service_timezone: str, clock: Clock, service_language: Language = DEFAULT_LANGUAGE) -> APIRouter:
    """GET /api/config: read by static/ui.js before a page formats any time."""
    zone = check_zone_name(service_timezone)
    api = APIRouter(tags=["system"])

    @api.get("/api/config", summary="Service time zone (IANA name) and language of every page, and server time")
    async def config() -> dict[str, Any]:
        return {"service_timezone": zone, "server_time": clock.now().isoformat(),
                "service_language": service_language.value}

    return api
