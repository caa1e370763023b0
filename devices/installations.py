"""The gateway_sites and device_installs tables' one writer: what the installer typed at the home.

A gateway is registered with its serial, its resident, the address it is installed at and the home's rooms;
a sensor with its type, serial and room. The devices row (and a new gateway's MQTT login, shown once) is
written in the same transaction through the registry's own rules.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from devices.credentials import IssuedCredentials, issue_if_missing
from devices.registry import _register
from telecare.errors import ConflictError, InvalidInput, NotFound
from telecare.events import DeviceType
from telecare.people import Device
from telecare.store import Database

_SITE = """
    INSERT INTO gateway_sites (gateway_id, serial, address, rooms, registered_by, registered_at)
    VALUES (%s, %s, %s, %s, %s, %s)
    ON CONFLICT (gateway_id) DO UPDATE SET serial = EXCLUDED.serial, address = EXCLUDED.address,
                                           rooms = EXCLUDED.rooms"""
_INSTALL = """
    INSERT INTO device_installs (device_id, serial, room, installed_by, installed_at) VALUES (%s, %s, %s, %s, %s)
    ON CONFLICT (device_id) DO UPDATE SET serial = EXCLUDED.serial, room = EXCLUDED.room"""


@dataclass(frozen=True, slots=True)
class GatewaySite:
    """A registered gateway as the installer described it."""

    gateway_id: str
    resident_id: str
    serial: str
    address: str
    rooms: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class Installed:
    """A registration: created or updated, and a new gateway's MQTT login (its only copy)."""

    device: Device
    created: bool
    credentials: IssuedCredentials | None = field(default=None, repr=False)


class Installations:
    """Register gateways with their site and sensors with their room."""

    def __init__(self, db: Database) -> None:
        self._db = db

    async def register_gateway(self, site: GatewaySite, by: str, now: datetime) -> Installed:
        """The gateway's devices row, its site and (when new) its MQTT credentials, all or nothing."""
        device = Device(site.gateway_id, DeviceType.GATEWAY, site.gateway_id, site.resident_id)
        async with self._db.transaction() as tx:
            created = await _register(tx, device)
            await tx.execute(_SITE, (site.gateway_id, site.serial, site.address, list(site.rooms), by, now))
            issued = await issue_if_missing(tx, site.gateway_id, now)
        return Installed(device, created, issued)

    async def add_sensor(self, gateway_id: str, device_id: str, kind: DeviceType, serial: str, room: str,
                         by: str, now: datetime) -> Installed:
        """A sensor on a registered gateway, in one of its rooms (when the gateway lists rooms)."""
        if kind is DeviceType.GATEWAY:
            raise InvalidInput("a gateway is registered on its own, not as a sensor of another")
        async with self._db.transaction() as tx:
            gw = await tx.fetchrow(
                """SELECT d.type, d.resident_id, s.rooms FROM devices d
                   LEFT JOIN gateway_sites s ON s.gateway_id = d.id WHERE d.id = %s FOR SHARE OF d""", (gateway_id,))
            if gw is None or gw["type"] != DeviceType.GATEWAY.value:
                raise NotFound(f"gateway {gateway_id} is not registered")
            rooms = gw["rooms"] or []
            if rooms and room not in rooms:
                raise InvalidInput(f"room {room!r} is not one of the gateway's rooms: {', '.join(rooms)}")
            if device_id == gateway_id:
                raise ConflictError(f"{device_id} is the gateway itself")
            device = Device(device_id, kind, gateway_id, gw["resident_id"])
            created = await _register(tx, device)
            await tx.execute(_INSTALL, (device_id, serial, room, by, now))
        return Installed(device, created)

    async def site(self, gateway_id: str) -> GatewaySite | None:
        """The gateway's site as registered (None for a gateway registered without one, or unknown)."""
        row = await self._db.fetchrow(
            "SELECT s.*, d.resident_id FROM gateway_sites s JOIN devices d ON d.id = s.gateway_id "
            "WHERE s.gateway_id = %s", (gateway_id,))
        return None if row is None else GatewaySite(row["gateway_id"], row["resident_id"], row["serial"],
                                                    row["address"], tuple(row["rooms"]))
