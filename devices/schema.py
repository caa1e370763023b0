"""Validated input shapes (pydantic) for import files and API bodies, and their conversion to records."""
from __future__ import annotations

import re
from datetime import date, time
from typing import Annotated, Any
from functools import lru_cache
from zoneinfo import available_timezones

from pydantic import (
    AfterValidator, BaseModel, BeforeValidator, ConfigDict, Field, ValidationError, field_validator,
)

from devices.records import parse_hhmm
from telecare.errors import InvalidInput
from telecare.events import DeviceType
from telecare.people import CarePlan, Contact, Device, Reablement, Resident, RiskFlag

_PHONE = re.compile(r"^\+?[0-9]{6,15}$")


def _hhmm(value: Any) -> time:
    if not isinstance(value, str):
        raise ValueError("expected HH:MM")  # YAML may turn an unquoted 21:00 into a number
    try:
        return parse_hhmm(value)
    except InvalidInput as err:
        raise ValueError("expected HH:MM") from err


def _phone(value: Any) -> str:
    if not isinstance(value, str):
        raise ValueError("expected a phone number as a quoted string, e.g. \"+34600123456\"")
    compact = re.sub(r"[ .\-()]", "", value)
    if not _PHONE.match(compact):
        raise ValueError("expected a phone number (digits, optional leading +)")
    return compact


@lru_cache(maxsize=1)
def _zones() -> frozenset[str]:
    return frozenset(available_timezones())


def _zone(value: str) -> str:
    # A lookup in the known names, not ZoneInfo(value): that opens a file named by the input (a 300-character
    # name raised OSError, and paths are not zone names).
    if value not in _zones():
        raise ValueError("unknown time zone (expected an IANA name like Europe/Madrid)")
    return value


def _no_nul(value: Any) -> Any:
    if isinstance(value, str) and ("\x00" in value or any(ord(c) < 32 and c not in "\t\n\r" for c in value)):
        raise ValueError("must not contain control characters such as NUL")
    return value


def _text_code(value: Any) -> Any:
    if isinstance(value, int):
        raise ValueError("expected a quoted string (leading zeros matter)")
    return value


KeySafe = Annotated[str, BeforeValidator(_text_code), Field(pattern=r"^[0-9A-Za-z#*]{3,12}$")]
HHMM = Annotated[time, BeforeValidator(_hhmm)]
Phone = Annotated[str, BeforeValidator(_phone)]
ID_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_.:-]*$"
Id = Annotated[str, Field(min_length=1, max_length=64, pattern=ID_PATTERN)]
_STRICT = ConfigDict(extra="forbid", str_strip_whitespace=True)


class _In(BaseModel):
    """Every input model: unknown fields refused, and no string carries NUL (PostgreSQL cannot store it)."""

    model_config = _STRICT

    @field_validator("*", mode="before")
    @classmethod
    def _text_is_clean(cls, value: Any) -> Any:
        for item in value if isinstance(value, list) else (value,):
            _no_nul(item)
        return value


class ReablementIn(_In):
    calls_per_week: int = Field(ge=1, le=14)
    until: date


class CarePlanIn(_In):
    night_start: HHMM = time(22, 0)
    night_end: HHMM = time(7, 0)
    bed_return_minutes: int = Field(30, ge=1, le=24 * 60)
    dose_times: list[HHMM] = Field([], max_length=24)
    dose_window_minutes: int = Field(60, ge=1, le=24 * 60)
    inactivity_hours: float = Field(12.0, gt=0, le=72)
    low_battery_percent: int = Field(20, ge=0, le=100)
    calling_start: HHMM = time(10, 0)
    calling_end: HHMM = time(20, 0)
    quiet_days: list[Annotated[int, Field(ge=1, le=7)]] = []
    follow_up_level: int = Field(2, ge=1, le=3)
    reablement: ReablementIn | None = None
    team: str | None = Field(None, max_length=100)
    named_caller: str | None = Field(None, max_length=100)

    def to_record(self) -> CarePlan:
        data = self.model_dump(exclude={"reablement", "dose_times", "quiet_days"})
        reablement = Reablement(self.reablement.calls_per_week, self.reablement.until) if self.reablement else None
        return CarePlan(**data, dose_times=tuple(sorted(self.dose_times)),
                        quiet_days=tuple(sorted(set(self.quiet_days))), reablement=reablement)


class ContactIn(_In):
    name: str = Field(min_length=1, max_length=200)
    phone: Phone
    relation: str = Field("", max_length=100)
    priority: int = Field(1, ge=1, le=99)
    key_holder: bool = False


class ResidentIn(_In):
    id: Id
    name: str = Field(min_length=1, max_length=200)
    timezone: Annotated[str, Field(max_length=64), AfterValidator(_zone)] = "Europe/Madrid"
    date_of_birth: date | None = None
    address: str = Field("", max_length=500)
    latitude: float | None = Field(None, ge=-90, le=90)
    longitude: float | None = Field(None, ge=-180, le=180)
    phones: list[Phone] = Field([], max_length=10)
    language: str = Field("ca", pattern=r"^[a-z]{2}$")
    key_safe_code: KeySafe | None = None
    at_home: bool = True
    risk_flags: list[RiskFlag] = []
    contacts: list[ContactIn] = Field([], max_length=50)
    care_plan: CarePlanIn = CarePlanIn()

    def to_record(self) -> Resident:
        return Resident(
            id=self.id, name=self.name, timezone=self.timezone, date_of_birth=self.date_of_birth,
            address=self.address, latitude=self.latitude, longitude=self.longitude, phones=tuple(self.phones),
            language=self.language, key_safe_code=self.key_safe_code, at_home=self.at_home,
            risk_flags=frozenset(self.risk_flags),
            contacts=tuple(sorted((Contact(**c.model_dump()) for c in self.contacts), key=lambda c: c.priority)),
            care_plan=self.care_plan.to_record(),
        )


class GatewayIn(_In):
    id: Id
    resident_id: Id

    def to_record(self) -> Device:
        return Device(self.id, DeviceType.GATEWAY, self.id, self.resident_id)


class DeviceIn(_In):
    id: Id
    type: DeviceType
    gateway_id: Id | None = None  # a gateway's is its own id
    resident_id: Id | None = None  # defaults to the gateway's resident when importing

    def to_record(self, resident_id: str | None = None) -> Device:
        if self.type is DeviceType.GATEWAY and self.gateway_id not in (None, self.id):
            raise InvalidInput(f"gateway {self.id}: its gateway_id must be its own id")
        gateway = self.id if self.type is DeviceType.GATEWAY else self.gateway_id
        owner = self.resident_id or resident_id
        if gateway is None or owner is None:
            raise InvalidInput(f"device {self.id}: gateway_id and resident_id are required")
        return Device(self.id, self.type, gateway, owner)


class PairIn(_In):
    gateway_id: Id
    resident_id: Id


class FleetFile(_In):
    residents: list[ResidentIn] = []
    gateways: list[GatewayIn] = []
    devices: list[DeviceIn] = []


def error_path(loc: tuple[Any, ...]) -> str:
    """('residents', 3, 'care_plan', 'night_start') -> 'residents[3].care_plan.night_start'."""
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out or "(file)"


def describe(err: ValidationError, limit: int = 20) -> str:
    """One line per problem, 'path: message', without echoing the (possibly personal) input."""
    lines = []
    for e in err.errors(include_input=False)[:limit]:
        msg = e["msg"].removeprefix("Value error, ")
        lines.append(f"{error_path(tuple(p for p in e['loc'] if not _is_tag(p)))}: {msg}")
    more = len(err.errors()) - limit
    return "\n".join(lines + ([f"... and {more} more"] if more > 0 else []))


def _is_tag(part: Any) -> bool:
    # pydantic adds validator names such as 'function-before[...]' to some locations
    return isinstance(part, str) and ("[" in part or part.startswith("function-"))
