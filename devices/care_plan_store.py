"""The care-plan edit's transaction: the residents row and its care_plan_history lines (devices.registry's tables)."""
from __future__ import annotations

import json
from datetime import datetime

from telecare.errors import NotFound
from telecare.store import Tx

from devices.care_plan import CarePlanEdit, FieldChange, apply_edit, diff
from devices.records import RESIDENT_COLUMNS, resident_from_row, resident_to_row, validate_resident

_UPDATE = """
    UPDATE residents SET risk_flags = ARRAY(SELECT jsonb_array_elements_text(%s)), language = %s, contacts = %s,
                         care_plan = %s, updated_at = %s
    WHERE id = %s"""


async def update_care_plan(tx: Tx, resident_id: str, edit: CarePlanEdit, changed_by: str, organisation: str,
                           now: datetime) -> list[FieldChange]:
    """Lock the row, apply the edit, write what changed; an edit that changes nothing writes nothing."""
    row = await tx.fetchrow("SELECT * FROM residents WHERE id = %s FOR UPDATE", (resident_id,))
    if row is None:
        raise NotFound(f"resident {resident_id} is not registered")
    before = resident_from_row(row)
    after = apply_edit(before, edit)
    validate_resident(after)
    changes = diff(before, after)
    if not changes:
        return []
    stored = dict(zip(RESIDENT_COLUMNS, resident_to_row(after), strict=True))
    # Keys of the stored plan this edit does not know (team, named caller, quiet days …) are kept as stored.
    plan = {**(row["care_plan"] or {}), **stored["care_plan"]}
    await tx.execute(_UPDATE, (stored["risk_flags"], stored["language"], stored["contacts"], plan, now, resident_id))
    await tx.executemany(
        """INSERT INTO care_plan_history (resident_id, at, changed_by, organisation, field, before, after)
           VALUES (%s, %s, %s, %s, %s, %s::jsonb, %s::jsonb)""",
        [(resident_id, now, changed_by, organisation, c.field, _json(c.before), _json(c.after)) for c in changes])
    return changes


def _json(value: object) -> str | None:
    """JSON text for a ::jsonb parameter (the driver adapts dicts and lists only; a field may be a scalar)."""
    return None if value is None else json.dumps(value)
