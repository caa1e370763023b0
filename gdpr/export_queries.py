"""Read-only queries behind a subject access export: every section of gdpr.catalog, in one snapshot."""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from gdpr.catalog import PROFILE_PARTS, SECTIONS
from telecare.errors import NotFound
from telecare.store import Database


@dataclass(frozen=True, slots=True)
class ExportData:
    """Everything held about one resident, as rows per section (plus the profile's JSON parts)."""

    resident_id: str
    generated_at: datetime
    sections: dict[str, list[dict[str, Any]]]
    absent: tuple[str, ...] = ()  # optional sections whose table does not exist in this database

    @property
    def profile(self) -> dict[str, Any]:
        return self.sections["profile"][0]


async def resident_exists(db: Database, resident_id: str) -> bool:
    """True when a residents row has this id."""
    return bool(await db.fetchval("SELECT EXISTS (SELECT 1 FROM residents WHERE id = %s)", (resident_id,)))


async def collect(db: Database, resident_id: str, now: datetime) -> ExportData:
    """Every section's rows for the resident from one consistent, read-only snapshot; NotFound if unknown."""
    sections: dict[str, list[dict[str, Any]]] = {}
    absent: list[str] = []
    async with db.transaction() as tx:
        await tx.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
        for s in SECTIONS:
            if s.optional and not await tx.fetchval("SELECT to_regclass(%s) IS NOT NULL", (s.table,)):
                absent.append(s.name)
                continue
            # Table names and filters come from the catalog (code), never from input; the id is a parameter.
            sections[s.name] = await tx.fetch(
                f"SELECT * FROM {s.table} WHERE {s.where} ORDER BY {s.order_by}", {"rid": resident_id})
    if not sections["profile"]:
        raise NotFound(f"resident {resident_id} is not registered")
    profile = sections["profile"][0]
    sections["contacts"] = list(profile.get("contacts") or [])
    sections["care_plan"] = [dict(profile.get("care_plan") or {})]
    sections["profile"] = [{k: v for k, v in profile.items() if k not in PROFILE_PARTS}]
    return ExportData(resident_id, now, sections, tuple(absent))
