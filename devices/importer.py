"""Import residents, gateways and devices from a YAML or JSON file: validate everything, then write all or nothing."""
from __future__ import annotations

import json
import logging
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from devices.credentials import IssuedCredentials
from devices.records import device_to_dict
from devices.registry import Registry
from devices.schema import FleetFile, describe
from telecare.errors import InvalidInput, TelecareError
from telecare.events import DeviceType
from telecare.metrics import REGISTRY_IMPORTS
from telecare.people import Device
from telecare.store import Database

log = logging.getLogger(__name__)

MAX_FILE_BYTES = 50 * 1024 * 1024


class _Loader(yaml.SafeLoader):
    """YAML 1.1 minus its surprises: 21:00 is not 1260, +34600… and 0123 stay text."""


_Loader.yaml_implicit_resolvers = {
    ch: [(tag, rx) for tag, rx in resolvers if tag not in ("tag:yaml.org,2002:int", "tag:yaml.org,2002:float")]
    for ch, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}
_Loader.add_implicit_resolver("tag:yaml.org,2002:int", re.compile(r"^-?(?:0|[1-9][0-9_]*)$"), list("-0123456789"))
_Loader.add_implicit_resolver("tag:yaml.org,2002:float", re.compile(r"^-?[0-9][0-9_]*\.[0-9_]*(?:[eE][-+]?[0-9]+)?$"),
                              list("-0123456789"))


@dataclass(frozen=True, slots=True)
class ImportReport:
    """What an import changed."""

    source: str
    residents_created: int
    residents_updated: int
    devices_created: int
    devices_updated: int
    credentials: tuple[IssuedCredentials, ...] = field(default=(), repr=False)  # printed once by the CLI only

    def summary(self) -> str:
        return (f"imported {self.source}: residents {self.residents_created} new, {self.residents_updated} updated; "
                f"devices {self.devices_created} new, {self.devices_updated} updated")

    def credentials_text(self) -> str:
        """The new gateways' MQTT logins, one per line (shown once: only their hashes are stored)."""
        if not self.credentials:
            return ""
        lines = [f"MQTT credentials of {len(self.credentials)} new gateway(s), shown once "
                 "(then run `telecare devices mqtt-acl -o DIR` and reload the broker):"]
        lines += [f"  {c.gateway_id}  username {c.username}  password {c.password}" for c in self.credentials]
        return "\n".join(lines)


def parse_document(text: str, suffix: str) -> Any:
    """YAML or JSON text -> plain data; InvalidInput with the line on a syntax error."""
    try:
        if suffix == ".json":
            return json.loads(text)
        return yaml.load(text, Loader=_Loader)  # noqa: S506 - a SafeLoader subclass
    except json.JSONDecodeError as err:
        raise InvalidInput(f"invalid JSON at line {err.lineno}, column {err.colno}: {err.msg}") from err
    except yaml.YAMLError as err:
        mark = getattr(err, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        raise InvalidInput(f"invalid YAML{where}: {getattr(err, 'problem', None) or 'syntax error'}") from err


def validate_document(doc: Any) -> FleetFile:
    """Plain data -> FleetFile; InvalidInput listing every bad field with its path."""
    if not isinstance(doc, dict):
        raise InvalidInput("the file must contain a mapping with residents, gateways and devices")
    try:
        fleet = FleetFile.model_validate(doc)
    except ValidationError as err:
        raise InvalidInput(describe(err)) from err
    problems: list[str] = []
    seen: dict[str, str] = {}
    for i, r in enumerate(fleet.residents):
        if r.id in seen:
            problems.append(f"residents[{i}].id: duplicate of {seen[r.id]}")
        seen.setdefault(r.id, f"residents[{i}]")
    seen.clear()
    items = [(f"gateways[{i}]", g) for i, g in enumerate(fleet.gateways)]
    items += [(f"devices[{i}]", d) for i, d in enumerate(fleet.devices)]
    for path, item in items:
        if item.id in seen:
            problems.append(f"{path}.id: duplicate of {seen[item.id]}")
        seen.setdefault(item.id, path)
    for i, d in enumerate(fleet.devices):
        if d.type is not DeviceType.GATEWAY and d.gateway_id is None:
            problems.append(f"devices[{i}].gateway_id: required for a {d.type.value}")
        if d.type is DeviceType.GATEWAY and d.gateway_id not in (None, d.id):
            problems.append(f"devices[{i}].gateway_id: a gateway's gateway_id is its own id")
    if problems:
        raise InvalidInput("\n".join(problems))
    return fleet


async def resolve_devices(registry: Registry, fleet: FleetFile) -> list[Device]:
    """Device records with resident ids filled in; references checked against the file and the registry."""
    residents = {r.id for r in fleet.residents}
    owners = {g.id: g.resident_id for g in fleet.gateways}
    owners |= {d.id: d.resident_id for d in fleet.devices if d.type is DeviceType.GATEWAY and d.resident_id}
    problems: list[str] = []
    out: list[Device] = []

    async def resident_known(rid: str) -> bool:
        return rid in residents or await registry.resident(rid) is not None

    for path, gw in [(f"gateways[{i}]", g) for i, g in enumerate(fleet.gateways)]:
        if not await resident_known(gw.resident_id):
            problems.append(f"{path}.resident_id: unknown resident {gw.resident_id}")
        out.append(gw.to_record())
    for i, d in enumerate(fleet.devices):
        path = f"devices[{i}]"
        if d.type is DeviceType.GATEWAY:
            owner = d.resident_id
        elif d.gateway_id in owners:
            owner = owners[d.gateway_id]
        else:
            known = await registry.device(d.gateway_id or "")
            if known is None or known.type is not DeviceType.GATEWAY:
                problems.append(f"{path}.gateway_id: unknown gateway {d.gateway_id}")
                continue
            owner = known.resident_id
        rid = d.resident_id or owner
        if rid is None:
            problems.append(f"{path}.resident_id: required for a gateway")
            continue
        if not await resident_known(rid):
            problems.append(f"{path}.resident_id: unknown resident {rid}")
            continue
        if d.type is not DeviceType.GATEWAY and rid != owner:
            problems.append(f"{path}.resident_id: gateway {d.gateway_id} belongs to another resident")
            continue
        out.append(d.to_record(rid))
    if problems:
        raise InvalidInput("\n".join(problems))
    return out


async def import_file(registry: Registry, path: Path | str) -> ImportReport:
    """Validate the whole file, then write it in one transaction; re-importing updates (idempotent)."""
    path = Path(path)
    try:
        if path.stat().st_size > MAX_FILE_BYTES:
            raise InvalidInput(f"{path.name}: larger than {MAX_FILE_BYTES // (1024 * 1024)} MB")
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as err:
        REGISTRY_IMPORTS.labels("refused").inc()
        raise InvalidInput(f"cannot read {path}: {type(err).__name__}") from err
    try:
        fleet = validate_document(parse_document(text, path.suffix.lower()))
        devices = await resolve_devices(registry, fleet)
        counts = await registry.write_batch([r.to_record() for r in fleet.residents], devices)
    except InvalidInput as err:
        REGISTRY_IMPORTS.labels("refused").inc()
        log.warning("import of %s refused (nothing written)", path.name)
        raise InvalidInput(f"{path.name}: nothing imported:\n{err}") from err
    except TelecareError as err:  # a rule the database enforces (e.g. a device changing type)
        REGISTRY_IMPORTS.labels("refused").inc()
        log.warning("import of %s refused by the registry (nothing written)", path.name)
        raise InvalidInput(f"{path.name}: nothing imported: {err}") from err
    report = ImportReport(str(path), counts.residents_created, counts.residents_updated,
                          counts.devices_created, counts.devices_updated, counts.credentials)
    REGISTRY_IMPORTS.labels("imported").inc()
    log.info("%s", report.summary())
    return report


async def cli_import(db: Database, path: Path | str) -> str:
    """`telecare devices import FILE`: the report as text (InvalidInput on a bad file)."""
    report = await import_file(Registry(db), path)
    return "\n".join(filter(None, [report.summary(), report.credentials_text()]))


async def cli_list(db: Database) -> str:
    """`telecare devices list`: a text table of every device (ids only, no personal data)."""
    rows = [device_to_dict(d) for d in await Registry(db).list_devices()]
    cols = ("id", "type", "gateway_id", "resident_id")
    widths = {c: max([len(c)] + [len(r[c]) for r in rows]) for c in cols}
    lines = ["  ".join(c.upper().ljust(widths[c]) for c in cols)]
    lines += ["  ".join(r[c].ljust(widths[c]) for c in cols) for r in rows]
    lines.append(f"{len(rows)} device(s)")
    return "\n".join(lines)
