"""Campaigns against real PostgreSQL: CAP ingest (idempotent, atomic), information campaigns, progress."""
from __future__ import annotations

import http.server
import threading
from datetime import date, datetime, timezone
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from outreach.campaigns import (
    AudienceFilter, campaign_progress, create_information_campaign, ingest_cap, weather_ingest_cli,
)
from outreach.tasks import TaskStore
from telecare.errors import ConflictError, InvalidInput
from telecare.people import CarePlan, Resident, RiskFlag
from telecare.store import Database

ROOT = Path(__file__).resolve().parents[2]
SAMPLE = ROOT / "outreach" / "samples" / "barcelona_heat_warning.xml"
DATA = ROOT / "tests" / "data" / "cap"
MADRID = ZoneInfo("Europe/Madrid")
NOW = datetime(2027, 7, 14, 9, 0, tzinfo=MADRID)  # an hour after the warning was sent
BCN = (41.3888, 2.1590)


def person(rid: str, lat: float = BCN[0], lon: float = BCN[1], flags: tuple[RiskFlag, ...] = (),
           **kw: object) -> Resident:
    plan = CarePlan(**{k: kw.pop(k) for k in ("team", "quiet_days") if k in kw})  # type: ignore[arg-type]
    return Resident(rid, "Name", latitude=lat, longitude=lon, risk_flags=frozenset(flags), care_plan=plan,
                    **kw)  # type: ignore[arg-type]


RESIDENTS = [
    person("plain"), person("alone", flags=(RiskFlag.LIVES_ALONE,)),
    person("heat", flags=(RiskFlag.HEAT_VULNERABLE,)),
    person("heat_alone", flags=(RiskFlag.HEAT_VULNERABLE, RiskFlag.LIVES_ALONE)),
    person("girona", 41.9794, 2.8214, flags=(RiskFlag.HEAT_VULNERABLE,)),
]


async def add_rows(db: Database, residents: list[Resident]) -> None:
    for r in residents:
        await db.execute("INSERT INTO residents (id, name) VALUES (%s, 'Name')", (r.id,))


async def counts(db: Database) -> tuple[int, int]:
    return (await db.fetchval("SELECT count(*) FROM campaigns"), await db.fetchval("SELECT count(*) FROM call_tasks"))


async def test_heat_warning_becomes_a_prioritised_weather_campaign(db: Database) -> None:
    await add_rows(db, RESIDENTS)
    summary = await ingest_cap(db, RESIDENTS, SAMPLE.read_bytes(), NOW, by="operator-7")
    assert summary.created and summary.tasks == 4 and summary.skipped == 0
    rows = await db.fetch("""SELECT resident_id, purpose, mode, not_before, dedupe_key FROM call_tasks
                             WHERE campaign_id = %s ORDER BY priority, id""", (summary.campaign_id,))
    assert [r["resident_id"] for r in rows] == ["heat_alone", "heat", "alone", "plain"]
    assert {(r["purpose"], r["mode"]) for r in rows} == {("weather", "automated")}
    assert rows[0]["not_before"] == datetime(2027, 7, 14, 10, 0, tzinfo=MADRID)  # calling hours respected
    campaign = await TaskStore(db).get_campaign(summary.campaign_id)
    assert (campaign.kind, campaign.severity, campaign.event) == ("weather", "Severe",
                                                                  "Avís taronja per temperatures altes")
    assert campaign.message_for("es").startswith("Aviso naranja") and campaign.message_for("ca-ES").startswith("Avís")
    assert campaign.message_for("fr") == campaign.message and campaign.created_by == "operator-7"
    assert await campaign_progress(db, summary.campaign_id) == {
        "done": 0, "answered": 0, "unreached": 0, "pending": 4, "total": 4}


async def test_same_identifier_twice_creates_nothing_new(db: Database) -> None:
    await add_rows(db, RESIDENTS)
    first = await ingest_cap(db, RESIDENTS, SAMPLE.read_bytes(), NOW, by="a")
    again = await ingest_cap(db, RESIDENTS, SAMPLE.read_bytes(), NOW, by="b")
    assert not again.created and again.campaign_id == first.campaign_id and again.tasks == 0
    assert await counts(db) == (1, 4)


@pytest.mark.parametrize("name", ["xml_bomb.xml", "bad_namespace.xml", "open_polygon.xml", "bowtie_polygon.xml",
                                  "unknown_geocode.xml", "truncated.xml"])
async def test_malformed_cap_creates_nothing(db: Database, name: str) -> None:
    await add_rows(db, RESIDENTS)
    with pytest.raises(InvalidInput):
        await ingest_cap(db, RESIDENTS, (DATA / name).read_bytes(), NOW, by="a")
    assert await counts(db) == (0, 0)


async def test_failure_while_writing_tasks_rolls_back_the_campaign(db: Database) -> None:
    await add_rows(db, RESIDENTS[:2])  # the others have no residents row: the task insert violates the FK
    with pytest.raises(ConflictError, match="does not exist"):
        await ingest_cap(db, RESIDENTS, SAMPLE.read_bytes(), NOW, by="a")
    assert await counts(db) == (0, 0)


async def test_exercise_and_expired_warnings_create_nothing(db: Database) -> None:
    await add_rows(db, RESIDENTS)
    exercise = await ingest_cap(db, RESIDENTS, (DATA / "exercise.xml").read_bytes(), NOW, by="a")
    assert not exercise.created and "Exercise" in exercise.note
    late = await ingest_cap(db, RESIDENTS, SAMPLE.read_bytes(), datetime(2027, 7, 17, tzinfo=timezone.utc), by="a")
    assert not late.created and "expired" in late.note
    assert await counts(db) == (0, 0)


async def test_cold_circle_warning_and_cancel(db: Database) -> None:
    vic = [person("vic_cold", 41.93, 2.25, flags=(RiskFlag.COLD_VULNERABLE,), quiet_days=(7,)),
           person("vic_alone", 41.94, 2.26, flags=(RiskFlag.LIVES_ALONE,)), person("bcn")]
    await add_rows(db, vic)
    sunday = datetime(2027, 1, 10, 8, tzinfo=MADRID)
    summary = await ingest_cap(db, vic, (DATA / "circle_cold.xml").read_bytes(), sunday, by="a")
    rows = await db.fetch("SELECT resident_id, due_date FROM call_tasks ORDER BY priority")
    # Sunday is a quiet day for vic_cold, but a red cold warning still calls today inside calling hours.
    assert [(r["resident_id"], r["due_date"]) for r in rows] == [("vic_cold", date(2027, 1, 10)),
                                                                 ("vic_alone", date(2027, 1, 10))]
    geo = await ingest_cap(db, vic, (DATA / "geocode_only.xml").read_bytes(), sunday, by="a")
    assert geo.tasks == 3
    cancel = await ingest_cap(db, vic, (DATA / "cancel.xml").read_bytes(), sunday, by="a")
    assert cancel.campaign_id == geo.campaign_id
    assert (await campaign_progress(db, geo.campaign_id))["pending"] == 0
    assert (await campaign_progress(db, summary.campaign_id))["pending"] == 2


async def test_information_campaign_by_audience_and_progress_counts(db: Database) -> None:
    people = [person("a", flags=(RiskFlag.LIVES_ALONE,), team="nord", language="es"),
              person("b", flags=(RiskFlag.DEMENTIA,), team="nord"), person("c", team="sud"),
              person("girona", 41.9794, 2.8214, flags=(RiskFlag.LIVES_ALONE,), team="nord")]
    await add_rows(db, people)
    summary = await create_information_campaign(
        db, people, "Vacunació de la grip", "La campanya de vacunació comença dilluns.",
        {"teams": ["nord"], "geocodes": ["INE:08019"]}, NOW, by="coordinator")
    assert summary.tasks == 2
    store = TaskStore(db)
    tasks = {t.resident_id: t for t in await store.due_automated(datetime(2027, 7, 14, 10, 5, tzinfo=MADRID), 10)}
    assert set(tasks) == {"a", "b"}
    for t in tasks.values():
        assert await store.claim(t.id, NOW)
    await store.record_attempt(tasks["a"].id, "fine", NOW, people[0])
    after = await store.record_attempt(tasks["b"].id, "wrong_number", NOW, people[1])
    assert after.task.status == "unreached" and not after.needs_welfare_check  # information: no alert
    assert await campaign_progress(db, summary.campaign_id) == {
        "done": 2, "answered": 1, "unreached": 1, "pending": 0, "total": 2}
    only_es = await create_information_campaign(db, people, "Avís", "Text",
                                                AudienceFilter(languages=frozenset({"es"})), NOW, by="coordinator")
    assert only_es.tasks == 1


@pytest.mark.parametrize("bad,message", [({"risk_flags": ["rich"]}, "unknown risk flag"),
                                         ({"geocodes": ["INE:99999"]}, "unsupported area"),
                                         ({"district": "x"}, "unknown audience filter field"),
                                         ({"geocodes": 7}, "must be a list of strings")])
async def test_bad_audience_filter_is_refused(db: Database, bad: dict, message: str) -> None:
    with pytest.raises(InvalidInput, match=message):
        await create_information_campaign(db, RESIDENTS, "t", "m", bad, NOW, by="x")
    assert await counts(db) == (0, 0)


class _Lookup:
    async def all_residents(self) -> list[Resident]:
        return RESIDENTS


async def test_weather_cli_reads_files_and_urls(db: Database) -> None:
    await add_rows(db, RESIDENTS)
    out = await weather_ingest_cli(db, _Lookup(), str(SAMPLE), NOW)
    assert out.startswith("campaign ") and "4 call(s) planned" in out
    with pytest.raises(InvalidInput, match="no such CAP file"):
        await weather_ingest_cli(db, _Lookup(), "/nonexistent/warning.xml", NOW)

    body = (DATA / "geocode_only.xml").read_bytes()

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802
            code = 200 if self.path == "/cap.xml" else 404
            self.send_response(code)
            self.end_headers()
            self.wfile.write(body if code == 200 else b"")

        def log_message(self, *args: object) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        base = f"http://127.0.0.1:{server.server_address[1]}"
        out = await weather_ingest_cli(db, _Lookup(), f"{base}/cap.xml", datetime(2027, 7, 20, 9, tzinfo=MADRID))
        assert "campaign" in out and "created" in out
        with pytest.raises(InvalidInput, match="HTTP 404"):
            await weather_ingest_cli(db, _Lookup(), f"{base}/missing.xml", NOW)
    finally:
        server.shutdown()
        server.server_close()


async def test_update_calls_only_residents_not_already_called_for_the_warning(db: Database) -> None:
    people = [person("bcn"), person("manresa", 41.7250, 1.8266)]
    await add_rows(db, people)
    now = datetime(2027, 7, 20, 9, 30, tzinfo=MADRID)
    first = await ingest_cap(db, people[:1], (DATA / "geocode_only.xml").read_bytes(), now, by="feed")
    update = await ingest_cap(db, people, (DATA / "update.xml").read_bytes(), now, by="feed")
    assert (first.tasks, update.tasks) == (1, 1)
    rows = await db.fetch("SELECT resident_id FROM call_tasks WHERE campaign_id = %s", (update.campaign_id,))
    assert [r["resident_id"] for r in rows] == ["manresa"]
