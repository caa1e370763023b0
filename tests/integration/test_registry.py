"""The registry against real PostgreSQL: round trips, gateway rules, all-or-nothing import, cache refresh."""
from __future__ import annotations

import shutil
from dataclasses import replace
from datetime import date, time
from pathlib import Path

import pytest

from demo.fleet import barcelona_fleet
from devices.importer import cli_import, cli_list, import_file
from devices.registry import Registry
from telecare.errors import ConflictError, InvalidInput, NotFound
from telecare.events import DeviceType
from telecare.metrics import REGISTRY_IMPORTS
from telecare.people import Device

EXAMPLE = Path(__file__).resolve().parents[2] / "docs" / "examples" / "fleet.yaml"
TODAY = date(2026, 11, 22)


class Ticks:
    """A hand-driven monotonic clock for the cache's rate limit."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


async def _seed(registry: Registry, n: int = 3):
    residents, devices = barcelona_fleet(n, seed=7, today=TODAY)
    counts = await registry.write_batch(residents, devices)
    return residents, devices, counts


async def test_fleet_round_trips_through_the_tables(db) -> None:
    registry = Registry(db)
    residents, devices, counts = await _seed(registry, 5)
    assert (counts.residents_created, counts.devices_created) == (5, 30)
    assert await registry.all_residents() == residents  # care plans, contacts, flags, phones intact
    assert await registry.all_devices() == sorted(devices, key=lambda d: d.id)
    assert await registry.resident("r-0002") == residents[1]
    assert await registry.resident("nobody") is None
    assert {d.id for d in await registry.devices_of("r-0003")} == {d.id for d in devices if d.resident_id == "r-0003"}
    again = await registry.write_batch(residents, devices)
    assert (again.residents_created, again.residents_updated, again.devices_updated) == (0, 5, 30)


async def test_upsert_updates_a_resident(db) -> None:
    registry = Registry(db)
    residents, _, _ = await _seed(registry, 1)
    changed = replace(residents[0], at_home=False, care_plan=replace(residents[0].care_plan, dose_times=(time(8, 0),)))
    assert await registry.upsert_resident(changed) is False
    assert await registry.resident(changed.id) == changed
    with pytest.raises(InvalidInput):
        await registry.upsert_resident(replace(changed, timezone="Mars/Olympus"))


async def test_gateway_rules(db) -> None:
    registry = Registry(db)
    await _seed(registry, 2)
    with pytest.raises(InvalidInput, match="own id"):
        await registry.register_device(Device("gw-x", DeviceType.GATEWAY, "gw-0001", "r-0001"))
    with pytest.raises(NotFound, match="gateway gw-none"):
        await registry.register_device(Device("pd-x", DeviceType.PENDANT, "gw-none", "r-0001"))
    with pytest.raises(ConflictError, match="another resident"):
        await registry.register_device(Device("pd-x", DeviceType.PENDANT, "gw-0002", "r-0001"))
    with pytest.raises(InvalidInput, match="not a gateway"):
        await registry.register_device(Device("pd-x", DeviceType.PENDANT, "pd-0001", "r-0001"))
    with pytest.raises(NotFound, match="resident"):
        await registry.register_device(Device("gw-x", DeviceType.GATEWAY, "gw-x", "r-none"))
    with pytest.raises(ConflictError, match="already registered as a pendant"):
        await registry.register_device(Device("pd-0001", DeviceType.FALL_SENSOR, "gw-0001", "r-0001"))
    with pytest.raises(ConflictError, match="devices of another resident"):
        await registry.register_device(Device("gw-0001", DeviceType.GATEWAY, "gw-0001", "r-0002"))
    assert await registry.register_device(Device("ds-1", DeviceType.DOOR_SENSOR, "gw-0001", "r-0001")) is True
    assert (await registry.device("ds-1")).gateway_id == "gw-0001"


async def test_pair_moves_a_device_to_another_home(db) -> None:
    registry = Registry(db)
    await _seed(registry, 2)
    moved = await registry.pair("pd-0001", "gw-0002", "r-0002")
    assert moved == Device("pd-0001", DeviceType.PENDANT, "gw-0002", "r-0002")
    assert (await registry.device("pd-0001")) == moved
    assert "pd-0001" in {d.id for d in await registry.devices_of("r-0002")}
    with pytest.raises(NotFound):
        await registry.pair("pd-none", "gw-0002", "r-0002")
    with pytest.raises(ConflictError):
        await registry.pair("fs-0001", "gw-0002", "r-0001")


async def test_cache_finds_devices_registered_elsewhere_without_a_query_storm(db) -> None:
    ticks = Ticks()
    reader = Registry(db, monotonic=ticks)  # e.g. the ingest process
    writer = Registry(db)  # e.g. the API process
    await _seed(writer, 1)
    assert (await reader.device("pd-0001")).resident_id == "r-0001"
    assert reader.reloads == 1
    await writer.register_device(Device("ds-9", DeviceType.DOOR_SENSOR, "gw-0001", "r-0001"))
    for _ in range(50):  # unknown ids within the rate limit cost nothing
        assert await reader.device("ds-9") is None
        assert await reader.device("junk") is None
    assert reader.reloads == 1
    ticks.now += 2.5
    assert (await reader.device("ds-9")).type is DeviceType.DOOR_SENSOR
    assert reader.reloads == 2
    await writer.pair("ds-9", "gw-0001", "r-0001")
    ticks.now += 61  # known devices are re-read after a while too (re-paired elsewhere)
    await reader.device("pd-0001")
    assert reader.reloads == 3


async def test_import_example_file_round_trip_and_idempotent(db, tmp_path: Path) -> None:
    registry = Registry(db)
    report = await import_file(registry, EXAMPLE)
    assert (report.residents_created, report.devices_created) == (2, 11)
    first = await registry.all_residents()
    r = next(x for x in first if x.id == "r-9001")
    assert r.care_plan.dose_times == (time(9, 0), time(14, 0), time(21, 0)) and r.care_plan.quiet_days == (7,)
    assert r.key_safe_code == "0472" and r.key_holders[0].phone == "+34600111222"
    again = await import_file(registry, EXAMPLE)
    assert (again.residents_created, again.residents_updated, again.devices_created, again.devices_updated) == (0, 2, 0, 11)
    assert await registry.all_residents() == first
    listing = await cli_list(db)
    assert "gw-9001" in listing and "11 device(s)" in listing and "Montserrat" not in listing
    assert "2 updated" in await cli_import(db, EXAMPLE)


async def test_a_bad_file_writes_nothing(db, tmp_path: Path) -> None:
    registry = Registry(db)
    refused = REGISTRY_IMPORTS.labels("refused")._value.get()
    bad = tmp_path / "bad.yaml"
    text = EXAMPLE.read_text()
    # Valid shape, but the last device points at a gateway nobody registered.
    bad.write_text(text + "  - {id: zz-1, type: pendant, gateway_id: gw-missing}\n")
    with pytest.raises(InvalidInput, match=r"devices\[9\].gateway_id: unknown gateway gw-missing"):
        await import_file(registry, bad)
    bad.write_text(text.replace('night_end: "07:30"', 'night_end: "7.30"'))
    with pytest.raises(InvalidInput, match=r"residents\[0\].care_plan.night_end: expected HH:MM"):
        await cli_import(db, bad)
    assert await registry.all_residents() == [] and await registry.all_devices() == []
    assert REGISTRY_IMPORTS.labels("refused")._value.get() == refused + 2  # counted, not just logged


async def test_a_database_refusal_rolls_back_the_whole_import(db, tmp_path: Path) -> None:
    registry = Registry(db)
    await registry.write_batch(*barcelona_fleet(1, seed=7, today=TODAY))
    # pd-0001 exists as a pendant; the file would re-register it as a fall sensor on another home.
    conflicting = tmp_path / "conflict.yaml"
    shutil.copy(EXAMPLE, conflicting)
    conflicting.write_text(EXAMPLE.read_text() + "  - {id: pd-0001, type: fall_sensor, gateway_id: gw-9002}\n")
    with pytest.raises(InvalidInput, match="nothing imported"):
        await import_file(registry, conflicting)
    assert {r.id for r in await registry.all_residents()} == {"r-0001"}
    assert len(await registry.all_devices()) == 6
