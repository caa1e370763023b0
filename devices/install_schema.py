"""Validated bodies of the installer's routes: a gateway with its site, a sensor with its room."""
from __future__ import annotations

from typing import Annotated

from pydantic import AfterValidator, Field

from devices.installations import GatewaySite
from devices.schema import Id, _In
from telecare.events import DeviceType

Serial = Annotated[str, Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9][A-Za-z0-9_.:/-]*$")]
Room = Annotated[str, Field(min_length=1, max_length=60)]


def _distinct(rooms: list[str]) -> list[str]:
    if len({r.casefold() for r in rooms}) != len(rooms):
        raise ValueError("each room once")
    return rooms


class GatewayRegistrationIn(_In):
    """POST /api/gateways."""

    id: Id = Field(description="the gateway's id: also its MQTT username")
    serial: Serial
    resident_id: Id
    address: str = Field("", max_length=500, description="where it is installed; empty: the resident's address")
    rooms: Annotated[list[Room], AfterValidator(_distinct)] = Field([], max_length=30)

    def to_site(self) -> GatewaySite:
        return GatewaySite(self.id, self.resident_id, self.serial, self.address, tuple(self.rooms))


class SensorIn(_In):
    """POST /api/gateways/{gateway_id}/sensors."""

    id: Id
    type: DeviceType
    serial: Serial
    room: str = Field("", max_length=60)
