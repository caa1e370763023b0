"""The rule runner's cached view of the registry: residents and their devices, refreshed on a miss."""
from __future__ import annotations

import logging
import time
from collections import defaultdict

from telecare.errors import StoreError
from telecare.events import Event
from telecare.metrics import RULES_ERRORS
from telecare.people import Device, Resident, ResidentLookup

log = logging.getLogger(__name__)


class Directory:
    """Residents by id and devices by resident, loaded in bulk and refreshed when something is unknown."""

    def __init__(self, lookup: ResidentLookup, *, refresh_seconds: float = 300.0,
                 device_refresh_seconds: float = 5.0) -> None:
        self._lookup = lookup
        self._refresh_seconds, self._device_refresh_seconds = refresh_seconds, device_refresh_seconds
        self.residents: dict[str, Resident] = {}
        # Devices by resident only (no device -> owner map: owner() scans the resident's few devices), and
        # each resident and gateway id held once, not once per row (docs/performance.md, rules-state).
        self._devices: dict[str, tuple[Device, ...]] = {}
        self._missing: dict[str, float] = {}  # resident ids the registry did not know, and when we asked
        self._last_full = self._last_devices = float("-inf")  # monotonic: refresh pacing is not rule time

    def devices(self, resident_id: str) -> tuple[Device, ...]:
        """The devices paired with a resident."""
        return self._devices.get(resident_id, ())

    def owner(self, device_id: str) -> str | None:
        """The resident a device is paired with, or None if unknown (a scan: for tests and rare lookups)."""
        return next((rid for rid, ds in self._devices.items() if any(d.id == device_id for d in ds)), None)

    def paired(self, device_id: str, resident_id: str) -> bool:
        """True when the device is one of the resident's (what each event checks)."""
        return any(d.id == device_id for d in self._devices.get(resident_id, ()))

    def due_for_refresh(self) -> bool:
        """True when the periodic full reload is due (care-plan and at-home changes)."""
        return time.monotonic() - self._last_full > self._refresh_seconds

    async def refresh_all(self) -> list[str]:
        """Reload every resident and device; return the ids of residents that are new or changed."""
        residents = {r.id: r for r in await self._lookup.all_residents()}
        changed = [rid for rid, r in residents.items() if self.residents.get(rid) != r]
        self.residents = residents
        self._missing.clear()
        self._set_devices(await self._lookup.all_devices())
        self._last_full = self._last_devices = time.monotonic()
        return changed

    async def find(self, resident_id: str) -> Resident | None:
        """A known resident, or ask the registry (and reload devices) for one registered since."""
        resident = self.residents.get(resident_id)
        if resident is None:
            asked = self._missing.get(resident_id)
            if asked is not None and time.monotonic() - asked < self._device_refresh_seconds:
                return None  # asked a moment ago: a stream of events for a stray id is not a query each
            resident = await self._lookup.resident(resident_id)
            if resident is None:
                self._missing[resident_id] = time.monotonic()
            else:
                self._missing.pop(resident_id, None)
                self.residents[resident_id] = resident
                await self.refresh_devices(force=True)
        return resident

    async def for_event(self, event: Event) -> Resident | None:
        """The event's resident (asking the registry about new ones and newly paired devices), or None.

        With the registry unreachable it goes on with what it knows: the rules must not stop with it.
        """
        rid = event.resident_id
        try:
            resident = await self.find(rid)
            if resident is not None and not self.paired(event.device_id, rid):
                await self.refresh_devices()  # a device paired since our last load
        except StoreError as err:
            RULES_ERRORS.labels("registry").inc()
            log.error("registry lookup failed for resident %s: %s", rid, err)
            resident = self.residents.get(rid)
        return resident

    async def refresh_devices(self, force: bool = False) -> None:
        """Reload the device map, at most every few seconds (a stray device id must not cost a query per event)."""
        if force or time.monotonic() - self._last_devices >= self._device_refresh_seconds:
            self._last_devices = time.monotonic()
            self._set_devices(await self._lookup.all_devices())

    def _set_devices(self, devices: list[Device]) -> None:
        by_resident: dict[str, list[Device]] = defaultdict(list)
        ids: dict[str, str] = {}  # one str object per resident and gateway id
        for d in devices:
            rid = ids.setdefault(d.resident_id, d.resident_id)
            gateway = ids.setdefault(d.gateway_id, d.gateway_id)
            if rid is not d.resident_id or gateway is not d.gateway_id:
                d = Device(d.id, d.type, gateway, rid)
            by_resident[rid].append(d)
        self._devices = {rid: tuple(ds) for rid, ds in by_resident.items()}
