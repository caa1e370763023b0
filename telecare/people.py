"""Residents, their care plans and their devices: the registry's shared record."""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, time, timedelta
from enum import StrEnum
from typing import Protocol

from telecare.events import DeviceType


class RiskFlag(StrEnum):
    LIVES_ALONE = "lives_alone"
    HEAT_VULNERABLE = "heat_vulnerable"
    COLD_VULNERABLE = "cold_vulnerable"
    DEMENTIA = "dementia"
    HEARING_IMPAIRED = "hearing_impaired"
    REDUCED_MOBILITY = "reduced_mobility"
    RECENT_DISCHARGE = "recent_discharge"


@dataclass(frozen=True, slots=True)
class Contact:
    """A relative, neighbour or key-holder, called in `priority` order (1 first)."""

    name: str
    phone: str
    relation: str = ""
    priority: int = 1
    key_holder: bool = False


@dataclass(frozen=True, slots=True)
class Reablement:
    """Extra calls after a hospital discharge: `calls_per_week` until `until` (inclusive)."""

    calls_per_week: int
    until: date


@dataclass(frozen=True, slots=True)
class CarePlan:
    """Per-resident thresholds and outreach preferences; defaults are the service's."""

    # Rules (issue: foundation)
    night_start: time = time(22, 0)
    night_end: time = time(7, 0)
    bed_return_minutes: int = 30
    dose_times: tuple[time, ...] = ()
    dose_window_minutes: int = 60
    inactivity_hours: float = 12.0
    low_battery_percent: int = 20
    # Outreach (issue: proactive outreach)
    calling_start: time = time(10, 0)
    calling_end: time = time(20, 0)
    quiet_days: tuple[int, ...] = ()  # ISO weekdays (1=Mon … 7=Sun) with no planned calls
    follow_up_level: int = 2  # 1/2/3 = every 15/30/45 days
    reablement: Reablement | None = None
    team: str | None = None
    named_caller: str | None = None

    @property
    def bed_return_window(self) -> timedelta:
        return timedelta(minutes=self.bed_return_minutes)

    @property
    def dose_window(self) -> timedelta:
        return timedelta(minutes=self.dose_window_minutes)

    @property
    def inactivity_window(self) -> timedelta:
        return timedelta(hours=self.inactivity_hours)


@dataclass(frozen=True, slots=True)
class Resident:
    """A person the service looks after. Personal data: never log more than the id."""

    id: str
    name: str
    timezone: str = "Europe/Madrid"
    date_of_birth: date | None = None
    address: str = ""
    latitude: float | None = None
    longitude: float | None = None
    phones: tuple[str, ...] = ()  # in the order to try
    language: str = "ca"
    key_safe_code: str | None = None
    at_home: bool = True
    risk_flags: frozenset[RiskFlag] = frozenset()
    contacts: tuple[Contact, ...] = ()
    care_plan: CarePlan = field(default_factory=CarePlan)

    @property
    def key_holders(self) -> tuple[Contact, ...]:
        return tuple(sorted((c for c in self.contacts if c.key_holder), key=lambda c: c.priority))


@dataclass(frozen=True, slots=True)
class Device:
    """A registered device. A gateway's `gateway_id` is its own id."""

    id: str
    type: DeviceType
    gateway_id: str
    resident_id: str


class DeviceLookup(Protocol):
    """What ingest needs from the registry."""

    async def device(self, device_id: str) -> Device | None:
        """The device with this id, or None if it is not registered."""
        ...


class ResidentLookup(Protocol):
    """What rules and outreach need from the registry."""

    async def resident(self, resident_id: str) -> Resident | None: ...

    async def all_residents(self) -> list[Resident]: ...

    async def all_devices(self) -> list[Device]: ...
