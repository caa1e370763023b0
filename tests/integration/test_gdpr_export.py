"""Subject access export on real PostgreSQL: content of the zip, FHIR structure, completeness from the schema."""
from __future__ import annotations

import csv
import io
import json
import zipfile

import pytest

from entrypoints.gdpr_wiring import build_gdpr
from gdpr.catalog import DEVICE_ALIASES, EXCLUDED, RESIDENT_ALIASES, SECTIONS, covered_tables
from telecare.clock import FakeClock
from telecare.errors import NotFound
from tests.integration.gdpr_seed import ADDRESS, DAUGHTER, KEY_SAFE, NAME, OTHER, PHONES, RID, T0, seed
from tests.unit.test_gdpr_fhir import assert_valid_bundle

# Tables (not partitions, not other schemas) with a column naming a resident or one of their devices, or a
# foreign key to a table that does: found from the live schema, so a new table is noticed.
_REFERENCING = """
WITH RECURSIVE base AS (
    SELECT c.relname AS tbl FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
    WHERE n.nspname = current_schema() AND c.relkind IN ('r', 'p') AND NOT c.relispartition
), direct AS (
    SELECT DISTINCT b.tbl FROM base b JOIN information_schema.columns col
      ON col.table_schema = current_schema() AND col.table_name = b.tbl
    WHERE col.column_name::text IN (SELECT jsonb_array_elements_text(%(aliases)s))
    UNION
    SELECT DISTINCT tc.table_name FROM information_schema.table_constraints tc
      JOIN information_schema.constraint_column_usage ccu ON ccu.constraint_name = tc.constraint_name
    WHERE tc.constraint_type = 'FOREIGN KEY' AND ccu.table_name = 'residents'
    UNION
    SELECT 'residents'
), closure(tbl) AS (
    SELECT tbl FROM direct
    UNION
    SELECT src.relname FROM pg_constraint k JOIN pg_class src ON src.oid = k.conrelid
      JOIN pg_class dst ON dst.oid = k.confrelid JOIN closure ON closure.tbl = dst.relname
    WHERE k.contype = 'f'
)
SELECT DISTINCT tbl FROM closure WHERE tbl IN (SELECT tbl FROM base) ORDER BY tbl"""


async def _zip(db) -> zipfile.ZipFile:
    body = await build_gdpr(db, FakeClock(T0)).export_zip(RID, "cli:test")
    return zipfile.ZipFile(io.BytesIO(body))


async def referencing_tables(db) -> set[str]:
    """Every table of the live schema that holds data about a resident."""
    return {r["tbl"] for r in await db.fetch(_REFERENCING, {"aliases": sorted(RESIDENT_ALIASES | DEVICE_ALIASES)})}


async def test_every_table_that_refers_to_a_resident_is_exported_or_excluded_with_a_reason(db):
    tables = await referencing_tables(db)
    assert {"residents", "devices", "events", "alerts", "alert_history", "call_log", "audit_log"} <= tables
    missing = tables - covered_tables()
    assert not missing, f"tables holding resident data missing from gdpr/catalog.py SECTIONS or EXCLUDED: {missing}"
    assert all(reason.strip() for reason in EXCLUDED.values())
    # Every table the catalog names exists (or is declared optional), so the catalog cannot rot either.
    existing = {r["t"] for r in await db.fetch("SELECT tablename AS t FROM pg_tables WHERE schemaname = current_schema()")}
    assert {s.table for s in SECTIONS if not s.optional} <= existing


async def test_a_new_table_about_residents_fails_until_it_is_exported(db):
    await db.execute("CREATE TABLE home_visits (id bigserial PRIMARY KEY, resident_id text, note text)")
    await db.execute("CREATE TABLE visit_photos (id bigserial PRIMARY KEY, visit_id bigint REFERENCES home_visits(id))")
    assert {"home_visits", "visit_photos"} <= await referencing_tables(db) - covered_tables()


async def test_the_export_holds_everything_about_the_resident_and_nothing_about_others(db):
    ids = await seed(db)
    zf = await _zip(db)
    names = set(zf.namelist())
    assert {"README.txt", "export.json", "fhir_bundle.json"} <= names
    doc = json.loads(zf.read("export.json"))
    s = doc["sections"]
    profile = s["profile"][0]
    assert (profile["name"], profile["address"], profile["key_safe_code"]) == (NAME, ADDRESS, KEY_SAFE)
    assert profile["phones"] == list(PHONES) and profile["date_of_birth"] == "1938-03-14"
    assert [c["name"] for c in s["contacts"]] == [DAUGHTER.name, "Jordi Vilalta Puig"]
    assert "calling_start" in s["care_plan"][0]
    assert sorted(d["id"] for d in s["devices"]) == ["gw-1", "p-1"]
    assert len(s["events"]) == 3 and all(e["resident_id"] == RID for e in s["events"])
    assert [d["device_id"] for d in s["dead_letters"]] == ["p-1"] and s["dead_letters"][0]["payload"]["text"]
    assert sorted(a["id"] for a in s["alerts"]) == sorted([ids["help_alert"], ids["fall_alert"]])
    kinds = [h["kind"] for h in s["alert_history"]]
    assert {"raised", "note", "key_holder_called", "resolved"} <= set(kinds)
    assert [e["alert_id"] for e in s["escalations"]] == [ids["help_alert"]]
    assert len(s["calls"]) == 2 and any(KEY_SAFE in (c["note"] or "") for c in s["calls"])
    assert len(s["call_tasks"]) == 2 and len(s["rule_state"]) == 1
    actions = [a["action"] for a in s["audit"]]
    assert actions.count("resident.card.read") == 1 and "resident.key_safe.reveal" in actions
    assert "resident.data.export" in actions  # the export audits itself before it reads
    assert all(a["subject"] == RID for a in s["audit"])
    assert doc["absent_sections"] == []  # visits, notes and care-plan history exist since migration 0006
    assert s["visits"] == [] and s["notes"] == [] and s["care_plan_history"] == []
    assert OTHER not in zf.read("export.json").decode() and "Pere Soler" not in zf.read("export.json").decode()
    # One CSV per section, with the same rows.
    for section in s:
        rows = list(csv.DictReader(io.StringIO(zf.read(f"csv/{section}.csv").decode())))
        assert len(rows) == len(s[section]), section
    calls_csv = zf.read("csv/calls.csv").decode()
    assert KEY_SAFE in calls_csv


async def test_the_fhir_bundle_is_valid_and_self_contained(db):
    await seed(db)
    bundle = json.loads((await _zip(db)).read("fhir_bundle.json"))
    types = assert_valid_bundle(bundle)
    assert types["Patient"] == 1 and types["RelatedPerson"] == 2 and types["Device"] == 2
    assert types["Observation"] == 3 and types["Communication"] == 2
    assert types["Flag"] == 3  # dementia, lives alone, the open help alert (the fall is resolved)
    comms = [e["resource"] for e in bundle["entry"] if e["resource"]["resourceType"] == "Communication"]
    not_done = [c for c in comms if c["status"] == "not-done"]
    assert [c["statusReason"]["coding"][0]["code"] for c in not_done] == ["recipient-unavailable"]
    assert not_done[0]["recipient"][0]["reference"] == "RelatedPerson/contact-1"  # the daughter's number


async def test_an_unknown_resident_is_not_found_and_nothing_is_audited(db):
    with pytest.raises(NotFound):
        await build_gdpr(db, FakeClock(T0)).export_zip("nobody", "cli:test")
    assert await db.fetchval("SELECT count(*) FROM audit_log") == 0
