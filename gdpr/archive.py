"""The subject access archive: one zip with export.json, one CSV per section and the FHIR bundle (pure)."""
from __future__ import annotations

import base64
import csv
import io
import json
import zipfile
from datetime import date, datetime
from decimal import Decimal
from typing import Any
from uuid import UUID

from gdpr import fhir
from gdpr.export_queries import ExportData

README = """Subject access export for resident {rid}, generated {at}.

export.json        everything held about the resident, one key per section
csv/<section>.csv  the same rows as CSV (nested values as JSON)
fhir_bundle.json   a FHIR R4 Bundle (collection): Patient, RelatedPerson, Device, Observation, Flag, Communication
Sections: {sections}
{absent}"""


def jsonable(value: Any) -> Any:
    """A stored value in JSON form: ISO times, text UUIDs, base64 bytes (with a text preview)."""
    if isinstance(value, (datetime, date)):
        return value.isoformat()
    if isinstance(value, (UUID, Decimal)):
        return str(value)
    if isinstance(value, (bytes, bytearray, memoryview)):
        raw = bytes(value)
        return {"base64": base64.b64encode(raw).decode(), "text": raw.decode("utf-8", "replace")}
    if isinstance(value, dict):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple, set, frozenset)):
        return [jsonable(v) for v in value]
    return value


def _cell(value: Any) -> Any:
    """A CSV cell: nested values as JSON; free text starting like a formula is neutralised (CSV injection)."""
    value = jsonable(value)
    if isinstance(value, (dict, list)):
        value = json.dumps(value, ensure_ascii=False, sort_keys=True)
    if value is None:
        return ""
    if isinstance(value, str) and value[:1] in ("=", "+", "-", "@"):
        return "'" + value
    return value


def csv_text(rows: list[dict[str, Any]]) -> str:
    """Rows as CSV with a header of every column seen (in first-seen order)."""
    columns: list[str] = []
    for row in rows:
        columns.extend(k for k in row if k not in columns)
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(columns)
    for row in rows:
        writer.writerow([_cell(row.get(c)) for c in columns])
    return out.getvalue()


def document(data: ExportData) -> dict[str, Any]:
    """export.json's content."""
    return {"resident_id": data.resident_id, "generated_at": data.generated_at.isoformat(),
            "sections": {name: jsonable(rows) for name, rows in data.sections.items()},
            "absent_sections": list(data.absent)}


def build_zip(data: ExportData) -> bytes:
    """The archive as bytes (deterministic order of members)."""
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        absent = f"Not held by this installation: {', '.join(data.absent)}\n" if data.absent else ""
        zf.writestr("README.txt", README.format(rid=data.resident_id, at=data.generated_at.isoformat(),
                                                sections=", ".join(sorted(data.sections)), absent=absent))
        zf.writestr("export.json", json.dumps(document(data), ensure_ascii=False, indent=2))
        for name in sorted(data.sections):
            zf.writestr(f"csv/{name}.csv", csv_text(data.sections[name]))
        zf.writestr("fhir_bundle.json", json.dumps(fhir.bundle(data), ensure_ascii=False, indent=2))
    return buf.getvalue()
