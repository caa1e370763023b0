"""The residents and devices tables' one writer; the device and resident lookups everyone reads."""
from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime

from devices.care_plan import CarePlanEdit, FieldChange
from devices.care_plan_store import update_care_plan
from devices.credentials import IssuedCredentials, check_username, issue_if_missing
from devices.records import (
    RESIDENT_COLUMNS, device_from_row, resident_from_row, resident_to_row, validate_resident,
)
from telecare.clock import Clock, SystemClock
from telecare.errors import ConflictError, InvalidInput, NotFound
from telecare.events import DeviceType
from telecare.metrics import REGISTRY_DEVICE_RELOADS
from telecare.people import Device, Resident
from telecare.store import Database, Tx

log = logging.getLogger(__name__)

_ARRAYS = {"phones", "risk_flags"}  # text[] columns; lists reach the driver as jsonb, so convert in SQL
_VALUES = ", ".join(
    "ARRAY(SELECT jsonb_array_elements_text(%s))" if c in _ARRAYS else "%s" for c in RESIDENT_COLUMNS
)
_UPSERT_RESIDENT = f"""
    INSERT INTO residents ({", ".join(RESIDENT_COLUMNS)}) VALUES ({_VALUES})
    ON CONFLICT (id) DO UPDATE SET {", ".join(f"{c} = EXCLUDED.{c}" for c in RESIDENT_COLUMNS[1:])},
                                   updated_at = now()
    RETURNING (xmax = 0) AS inserted"""
_UPSERT_DEVICE = """
    INSERT INTO devices (id, type, gateway_id, resident_id) VALUES (%s, %s, %s, %s)
    ON CONFLICT (id) DO UPDATE SET gateway_id = EXCLUDED.gateway_id, resident_id = EXCLUDED.resident_id
    RETURNING (xmax = 0) AS inserted"""
_DEVICE_COLUMNS = "id, type, gateway_id, resident_id"
_FACTS = """
    SELECT EXISTS (SELECT 1 FROM residents WHERE id = %(rid)s FOR SHARE) AS resident_ok,
           (SELECT type FROM devices WHERE id = %(id)s FOR UPDATE) AS existing_type,
           gw.type AS gw_type, gw.resident_id AS gw_resident,
           (SELECT count(*) FROM devices WHERE gateway_id = %(id)s AND id <> %(id)s
                                          AND resident_id <> %(rid)s) AS others
    FROM (SELECT 1) AS one
    LEFT JOIN LATERAL (SELECT type, resident_id FROM devices WHERE id = %(gw)s FOR SHARE) AS gw ON true"""


@dataclass(frozen=True, slots=True)
class WriteCounts:
    """What a batch write changed."""

    residents_created: int = 0
    residents_updated: int = 0
    devices_created: int = 0
    devices_updated: int = 0
    # MQTT logins issued to gateways registered in this batch: the only copy of their passwords.
    credentials: tuple[IssuedCredentials, ...] = field(default=(), repr=False)


@dataclass(frozen=True, slots=True)
class Registration:
    """One device registered: created or updated, and a new gateway's MQTT login (shown once)."""

    device: Device
    created: bool
    credentials: IssuedCredentials | None = None


class Registry:
    """DeviceLookup + ResidentLookup over PostgreSQL, with an in-memory device map.

    A miss reloads the map at most once per `refresh_seconds`, so devices registered by another
    process are found quickly while a flood of unknown ids costs no database storm.
    """

    def __init__(self, db: Database, *, refresh_seconds: float = 2.0, max_age_seconds: float = 60.0,
                 monotonic: Callable[[], float] = time.monotonic, clock: Clock | None = None) -> None:
        self._db = db
        self._clock = clock or SystemClock()  # stamps issued MQTT credentials
        self._refresh = refresh_seconds
        self._max_age = max_age_seconds  # also catches devices re-paired by another process
        self._monotonic = monotonic
        self._devices: dict[str, Device] = {}
        self._loaded_at: float | None = None
        self._lock = asyncio.Lock()
        self.reloads = 0  # observable for tests and debugging

    # --- lookups -------------------------------------------------------------------------
    async def device(self, device_id: str) -> Device | None:
        """The device with this id, or None if it is not registered."""
        found = self._devices.get(device_id)
        age = None if self._loaded_at is None else self._monotonic() - self._loaded_at
        if found is not None and age is not None and age < self._max_age:
            return found
        if age is None or age >= self._refresh:
            async with self._lock:  # concurrent misses share one reload
                if self._loaded_at is None or self._monotonic() - self._loaded_at >= self._refresh:
                    await self._reload()
        return self._devices.get(device_id)

    async def _reload(self) -> None:
        rows = await self._db.fetch(f"SELECT {_DEVICE_COLUMNS} FROM devices")
        self._devices = {r["id"]: device_from_row(r) for r in rows}
        self._loaded_at = self._monotonic()
        self.reloads += 1
        REGISTRY_DEVICE_RELOADS.inc()

    async def resident(self, resident_id: str) -> Resident | None:
        """The resident with this id, or None."""
        row = await self._db.fetchrow("SELECT * FROM residents WHERE id = %s", (resident_id,))
        return resident_from_row(row) if row else None

    async def all_residents(self) -> list[Resident]:
        """Every resident, by id."""
        return [resident_from_row(r) for r in await self._db.fetch("SELECT * FROM residents ORDER BY id")]

    async def all_devices(self) -> list[Device]:
        """Every device, by id (fresh from the database)."""
        rows = await self._db.fetch(f"SELECT {_DEVICE_COLUMNS} FROM devices ORDER BY id")
        return [device_from_row(r) for r in rows]

    list_devices = all_devices

    async def devices_of(self, resident_id: str) -> list[Device]:
        """The devices installed for one resident, by id."""
        rows = await self._db.fetch(
            f"SELECT {_DEVICE_COLUMNS} FROM devices WHERE resident_id = %s ORDER BY id", (resident_id,))
        return [device_from_row(r) for r in rows]

    # --- writes --------------------------------------------------------------------------
    async def upsert_resident(self, resident: Resident) -> bool:
        """Create or update a resident; True when created."""
        async with self._db.transaction() as tx:
            return await _upsert_resident(tx, resident)

    async def update_care_plan(self, resident_id: str, edit: CarePlanEdit, changed_by: str, organisation: str,
                               now: datetime) -> list[FieldChange]:
        """Apply a care-plan edit and record who changed which field (before/after) in the same transaction."""
        async with self._db.transaction() as tx:
            return await update_care_plan(tx, resident_id, edit, changed_by, organisation, now)

    async def register_device(self, device: Device) -> bool:
        """Register (or re-register) a device; True when created."""
        return (await self.register(device)).created

    async def register(self, device: Device) -> Registration:
        """Register (or re-register) a device; a gateway without MQTT credentials gets them, returned once."""
        async with self._db.transaction() as tx:
            created = await _register(tx, device)
            issued = await self._issue(tx, device)
        self._devices[device.id] = device
        return Registration(device, created, issued)

    async def _issue(self, tx: Tx, device: Device) -> IssuedCredentials | None:
        if DeviceType(device.type) is not DeviceType.GATEWAY:
            return None
        return await issue_if_missing(tx, device.id, self._clock.now())

    async def pair(self, device_id: str, gateway_id: str, resident_id: str) -> Device:
        """Move an existing device to a gateway and resident; return it as now registered."""
        async with self._db.transaction() as tx:
            row = await tx.fetchrow("SELECT type FROM devices WHERE id = %s FOR UPDATE", (device_id,))
            if row is None:
                raise NotFound(f"device {device_id} is not registered")
            device = Device(device_id, DeviceType(row["type"]), gateway_id, resident_id)
            await _register(tx, device)
        self._devices[device.id] = device
        log.info("device %s paired with gateway %s", device_id, gateway_id)
        return device

    async def write_batch(self, residents: Iterable[Resident], devices: Iterable[Device]) -> WriteCounts:
        """Residents then devices (gateways first) in ONE transaction: all or nothing."""
        rc = ru = dc = du = 0
        issued: list[IssuedCredentials] = []
        ordered = sorted(devices, key=lambda d: d.type is not DeviceType.GATEWAY)
        async with self._db.transaction() as tx:
            for resident in residents:
                created = await _upsert_resident(tx, resident)
                rc, ru = rc + created, ru + (not created)
            for device in ordered:
                created = await _register(tx, device)
                dc, du = dc + created, du + (not created)
                if (login := await self._issue(tx, device)) is not None:
                    issued.append(login)
        for device in ordered:
            self._devices[device.id] = device
        return WriteCounts(rc, ru, dc, du, tuple(issued))


async def _upsert_resident(tx: Tx, resident: Resident) -> bool:
    validate_resident(resident)
    row = await tx.fetchrow(_UPSERT_RESIDENT, resident_to_row(resident))
    return bool(row and row["inserted"])


async def _register(tx: Tx, device: Device) -> bool:
    """Check the gateway rules, then upsert. Locks the rows it reads so concurrent writers serialise."""
    try:
        kind = DeviceType(device.type)
    except ValueError as err:
        raise InvalidInput(f"device {device.id}: unknown type {device.type!r}") from err
    if not device.id.strip():
        raise InvalidInput("device id is empty")
    if kind is DeviceType.GATEWAY and device.gateway_id != device.id:
        raise InvalidInput(f"gateway {device.id}: its gateway_id must be its own id")
    if kind is DeviceType.GATEWAY:
        check_username(device.id)  # its MQTT username: mosquitto's charset, outside ingest's reserved names
    # One round trip for every check (imports register thousands of devices).
    facts = await tx.fetchrow(_FACTS, {"id": device.id, "gw": device.gateway_id, "rid": device.resident_id})
    assert facts is not None
    if not facts["resident_ok"]:
        raise NotFound(f"resident {device.resident_id} is not registered")
    if facts["existing_type"] and facts["existing_type"] != kind.value:
        raise ConflictError(f"device {device.id} is already registered as a {facts['existing_type']}")
    if kind is DeviceType.GATEWAY:
        if facts["others"]:
            raise ConflictError(f"gateway {device.id} still has devices of another resident")
    elif facts["gw_type"] is None:
        raise NotFound(f"gateway {device.gateway_id} is not registered")
    elif facts["gw_type"] != DeviceType.GATEWAY.value:
        raise InvalidInput(f"device {device.id}: {device.gateway_id} is not a gateway")
    elif facts["gw_resident"] != device.resident_id:
        raise ConflictError(f"gateway {device.gateway_id} belongs to another resident")
    row = await tx.fetchrow(_UPSERT_DEVICE, (device.id, kind.value, device.gateway_id, device.resident_id))
    return bool(row and row["inserted"])


# GDPR erasure (gdpr/ calls this through the composition root, inside its one transaction).
_PSEUDONYMISE = """
    UPDATE residents SET name = 'Erased resident ' || left(md5(id), 8), date_of_birth = NULL, address = '',
           latitude = NULL, longitude = NULL, phones = '{}', key_safe_code = NULL, risk_flags = '{}',
           at_home = false, care_plan = '{}', updated_at = %(now)s,
           contacts = (SELECT coalesce(jsonb_agg(jsonb_build_object(
                          'name', 'contact ' || n, 'phone', '', 'relation', coalesce(c->>'relation', ''),
                          'priority', coalesce((c->>'priority')::int, n), 'key_holder',
                          coalesce((c->>'key_holder')::boolean, false)) ORDER BY n), '[]'::jsonb)
                       FROM jsonb_array_elements(contacts) WITH ORDINALITY AS t(c, n))
    WHERE id = %(rid)s RETURNING id"""


async def erase_resident(tx: Tx, resident_id: str, now: datetime) -> list[tuple[str, str, int, list[str]]]:
    """Delete the resident's device registrations; pseudonymise the residents row (kept records refer to it)."""
    devices = await tx.execute("DELETE FROM devices WHERE resident_id = %s", (resident_id,))
    history = await tx.execute("DELETE FROM care_plan_history WHERE resident_id = %s", (resident_id,))
    kept = [r["id"] for r in await tx.fetch(_PSEUDONYMISE, {"rid": resident_id, "now": now})]
    return [("devices", "deleted", devices, []), ("care_plan_history", "deleted", history, []),
            ("residents", "pseudonymised", len(kept), kept)]
