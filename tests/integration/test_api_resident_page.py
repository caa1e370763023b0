"""The residents directory and the resident page's APIs on real PostgreSQL: search and team scoping, pages,
validation, care-plan history, visits as contact, notes of both organisations, the timeline's order and cursor."""
from __future__ import annotations

from datetime import datetime, time, timedelta, timezone

import pytest

from alerts.store import AlertStore
from dashboards.app import WebDeps, create_app
from devices.registry import Registry
from identity.model import Organisation
from insights.rollups import RollupJob
from outreach.call_log import CallLog
from outreach.planning import plan_calls
from outreach.tasks import TaskStore
from telecare.alerts import AlertTrigger, AlertType, Severity
from telecare.bus import InProcessBus
from telecare.clock import FakeClock
from telecare.people import CarePlan, Resident, RiskFlag
from tests.insights_seed import history, store_events
from tests.web_helpers import api_client, ensure_user

pytestmark = pytest.mark.integration
T0 = datetime(2026, 11, 24, 9, 0, tzinfo=timezone.utc)  # a Tuesday
PLAN = {"follow_up_level": 2, "risk_flags": ["lives_alone"], "night_start": "22:00", "night_end": "07:00",
        "dose_times": ["09:00", "21:00"], "inactivity_hours": 12, "calling_start": "10:00", "calling_end": "20:00",
        "language": "ca", "contacts": [{"name": "Núria Puig", "phone": "+34600000002", "relation": "daughter",
                                        "key_holder": True}], "reablement": None}


def _resident(rid: str, name: str, team: str, **kw) -> Resident:
    plan = CarePlan(team=team, follow_up_level=kw.pop("level", 2))
    return Resident(rid, name, care_plan=plan, **kw)


@pytest.fixture
async def world(db):
    clock, bus = FakeClock(T0), InProcessBus()
    registry = Registry(db)
    for r in (_resident("r1", "Montserrat Puig Soler", "Nord", address="Carrer de Mallorca 12, Barcelona",
                        phones=("+34600111222",), risk_flags=frozenset({RiskFlag.LIVES_ALONE}), level=1),
              _resident("r2", "Jordi Vidal", "Nord", address="Passeig de Gràcia 3"),
              _resident("r3", "Montse Ferrer", "Sud", phones=("+34600999888",)),
              *[_resident(f"p{i:02d}", f"Pere Prat {i:02d}", "Nord") for i in range(7)]):
        await registry.upsert_resident(r)
    alerts = AlertStore(db, bus)
    app = create_app(WebDeps(db=db, bus=bus, alerts=alerts, clock=clock))
    return app, alerts, clock


async def _get(app, url, **who):
    async with api_client(app, **who) as client:
        return await client.get(url)


async def test_search_by_name_phone_address_id_and_team_with_team_scoping_and_audit(world, db):
    app, *_ = world
    names = lambda r: [x["name"] for x in r.json()["residents"]]  # noqa: E731
    assert names(await _get(app, "/api/residents?q=mont")) == ["Montse Ferrer", "Montserrat Puig Soler"]
    assert names(await _get(app, "/api/residents?q=puig%20mont")) == ["Montserrat Puig Soler"]
    assert names(await _get(app, "/api/residents?q=600%20111%20222")) == ["Montserrat Puig Soler"]
    assert names(await _get(app, "/api/residents?q=%2B34600999888")) == ["Montse Ferrer"]
    assert names(await _get(app, "/api/residents?q=mallorca")) == ["Montserrat Puig Soler"]
    assert names(await _get(app, "/api/residents?q=r2")) == ["Jordi Vidal"]
    assert names(await _get(app, "/api/residents?q=sud")) == ["Montse Ferrer"]
    assert len(names(await _get(app, "/api/residents?team=Nord"))) == 9
    assert names(await _get(app, "/api/residents?q=%25%25")) == []
    # A care team member of Nord never sees Sud's resident, whatever the search.
    carer = {"role": "care_team", "teams": ["Nord"], "name": "carer-nord"}
    assert names(await _get(app, "/api/residents?q=mont", **carer)) == ["Montserrat Puig Soler"]
    assert names(await _get(app, "/api/residents?team=Sud", **carer)) == []
    row = await db.fetchrow("SELECT residents, action FROM audit_log WHERE actor = 'carer-nord' ORDER BY id LIMIT 1")
    assert row == {"residents": ["r1"], "action": "resident.directory.read"}
    assert (await _get(app, "/api/residents", role="installer")).status_code == 403


async def test_filters_and_pages(world, db):
    app, alerts, clock = world
    await alerts.raise_or_attach(AlertTrigger("r2", AlertType.FALL, Severity.CRITICAL, T0, "fall"), T0)
    await db.execute("""INSERT INTO call_tasks (resident_id, purpose, mode, due_date, not_before, not_after,
                            status, next_attempt_at, dedupe_key, created_at, updated_at)
                        VALUES ('r3', 'follow_up', 'human', %s, %s, %s, 'unreached', %s, 'k', %s, %s)""",
                     (T0.date(), T0, T0, T0, T0, T0))
    ids = lambda r: [x["id"] for x in r.json()["residents"]]  # noqa: E731
    assert ids(await _get(app, "/api/residents?open_alerts=true")) == ["r2"]
    assert (await _get(app, "/api/residents?open_alerts=true")).json()["residents"][0]["open_alerts"] == 1
    assert ids(await _get(app, "/api/residents?unreached=true")) == ["r3"]
    assert ids(await _get(app, "/api/residents?flag=lives_alone")) == ["r1"]
    assert ids(await _get(app, "/api/residents?level=1")) == ["r1"]
    first = (await _get(app, "/api/residents?page_size=4")).json()
    assert first["has_more"] and first["total"] == 10 and len(first["residents"]) == 4
    pages = [x["id"] for p in (1, 2, 3)
             for x in (await _get(app, f"/api/residents?page_size=4&page={p}")).json()["residents"]]
    assert len(pages) == len(set(pages)) == 10
    assert not (await _get(app, "/api/residents?page_size=4&page=3")).json()["has_more"]
    for bad in ("level=4", "flag=rich", "page=0", "open_alerts=maybe", "page_size=500"):
        assert (await _get(app, f"/api/residents?{bad}")).status_code == 422, bad


async def test_care_plan_update_records_who_changed_what_and_validates(world, db):
    app, _, clock = world
    coordinator = {"role": "coordinator", "teams": ["Nord"], "name": "cora"}
    async with api_client(app, **coordinator) as client:
        got = await client.put("/api/residents/r1/care-plan", json=PLAN)
        assert got.status_code == 200, got.text
        assert set(got.json()["changed"]) == {"follow_up_level", "dose_times", "contacts"}
        clock.advance(timedelta(minutes=5))
        again = await client.put("/api/residents/r1/care-plan", json=PLAN)
        assert again.json()["changed"] == []
        later = {**PLAN, "calling_start": "11:00", "contacts": PLAN["contacts"] + [
            {"name": "Pau", "phone": "+34600000003", "relation": "neighbour", "key_holder": True}]}
        assert (await client.put("/api/residents/r1/care-plan", json=later)).json()["changed"] == [
            "calling_start", "contacts"]
        for bad in ({"calling_start": "21:00"}, {"night_start": "25:00"}, {"risk_flags": ["rich"]},
                    {"follow_up_level": 0}, {"language": "fr"}, {"surprise": 1}, {"dose_times": ["09:00", "09:00"]},
                    {"contacts": [{"name": "X", "phone": "call me"}]}, {"inactivity_hours": 0}):
            response = await client.put("/api/residents/r1/care-plan", json={**PLAN, **bad})
            assert response.status_code == 422, (bad, response.text)
        assert (await client.put("/api/residents/r3/care-plan", json=PLAN)).status_code == 403  # team Sud
    rows = await db.fetch("SELECT changed_by, organisation, field, before, after FROM care_plan_history ORDER BY id")
    assert [(r["changed_by"], r["field"]) for r in rows] == [
        ("cora", "follow_up_level"), ("cora", "dose_times"), ("cora", "contacts"), ("cora", "calling_start"),
        ("cora", "contacts")]
    assert rows[0]["before"] == 1 and rows[0]["after"] == 2 and rows[3]["before"] == "10:00"
    resident = await Registry(db).resident("r1")
    assert resident.care_plan.team == "Nord" and resident.care_plan.dose_times == (time(9), time(21))
    assert [c.name for c in resident.key_holders] == ["Núria Puig", "Pau"]
    async with api_client(app, name="op") as client:  # operators read the plan, do not edit it
        assert (await client.get("/api/residents/r1/care-plan")).json()["calling_start"] == "11:00"
        assert (await client.put("/api/residents/r1/care-plan", json=PLAN)).status_code == 403
    timeline = (await _get(app, "/api/residents/r1/timeline?kinds=care_plan", **coordinator)).json()["items"]
    assert [len(i["changes"]) for i in timeline] == [2, 3] and timeline[0]["changed_by"] == "cora"


async def test_a_visit_that_saw_the_resident_resets_the_follow_up_cadence(world, db):
    app, _, clock = world
    store = TaskStore(db)
    resident = await Registry(db).resident("r2")
    await CallLog(db).start_attempt(resident_id="r2", purpose="follow_up", caller="x", mode="human",
                                    phone="+34600000009", task_id=None, attempt=1, started_at=T0 - timedelta(days=40))
    await db.execute("UPDATE call_log SET outcome = 'fine', answered_at = started_at")
    due_before = plan_calls([resident], await store.last_successful_contact(), set(), T0)
    assert [p.purpose for p in due_before] == ["follow_up"]  # level 2: 30 days since the last reached call
    carer = {"role": "care_team", "teams": ["Nord"], "name": "carme"}
    async with api_client(app, **carer) as client:
        not_home = {"at": (T0 - timedelta(hours=2)).isoformat(), "visitor": "Carme", "purpose": "routine",
                    "outcome": "not_home"}
        assert (await client.post("/api/residents/r2/visits", json=not_home)).status_code == 201
        assert plan_calls([resident], await store.last_successful_contact(), set(), T0) == due_before
        seen = {**not_home, "outcome": "seen_well", "note": "Fine, garden tidy"}
        got = await client.post("/api/residents/r2/visits", json=seen)
        assert got.status_code == 201 and got.json()["contact"] and got.json()["organisation"] == "provider"
        for bad in ({"outcome": "abducted"}, {"at": "2026-11-24T08:00:00"}, {"visitor": ""},
                    {"at": (T0 + timedelta(days=1)).isoformat()}):
            assert (await client.post("/api/residents/r2/visits", json={**seen, **bad})).status_code in (400, 422)
    assert (await store.last_successful_contact())["r2"] == T0 - timedelta(hours=2)
    assert plan_calls([resident], await store.last_successful_contact(), set(), T0) == []


async def test_notes_carry_the_authors_organisation_and_both_teams_read_them(world, db):
    app, *_ = world
    await ensure_user(app, "social-nord", ["care_team"], ["Nord"])
    await app.state.auth.identity.users.set_organisation("social-nord", Organisation.MUNICIPAL, T0)
    async with api_client(app, role="care_team", teams=["Nord"], name="social-nord") as client:
        got = await client.post("/api/residents/r1/notes", json={"text": "Home help twice a week from Monday"})
        assert got.status_code == 201 and got.json()["organisation"] == "municipal"
        assert (await client.post("/api/residents/r1/notes", json={"text": "  "})).status_code == 422
    async with api_client(app, role="care_team", teams=["Nord"], name="carer-provider") as client:
        await client.post("/api/residents/r1/notes", json={"text": "Daughter will call on Friday"})
        items = (await client.get("/api/residents/r1/timeline?kinds=note")).json()["items"]
    assert [(i["author"], i["organisation"]) for i in items] == [("carer-provider", "provider"),
                                                                 ("social-nord", "municipal")]
    assert (await _get(app, "/api/residents/r1/timeline", role="installer")).status_code == 403
    assert (await _get(app, "/api/residents/r3/timeline", role="care_team", teams=["Nord"])).status_code == 403


async def test_timeline_is_newest_first_filters_by_kind_and_pages_without_gaps(world, db):
    app, alerts, clock = world
    await store_events(db, history("r1", 10, seed=5, start=T0.replace(hour=0) - timedelta(days=10)))  # midnights
    await RollupJob(db).catch_up(T0)
    raised = await alerts.raise_or_attach(AlertTrigger("r1", AlertType.FALL, Severity.CRITICAL,
                                                       T0 - timedelta(hours=3), "fall"), T0 - timedelta(hours=3))
    await alerts.acknowledge(raised.alert.id, "op", T0 - timedelta(hours=2, minutes=58))
    await CallLog(db).start_attempt(resident_id="r1", purpose="follow_up", caller="anna", mode="human",
                                    phone="+34600111222", task_id=None, attempt=1, started_at=T0 - timedelta(days=2))
    async with api_client(app, role="care_team", teams=["Nord"], name="carme") as client:
        await client.post("/api/residents/r1/notes", json={"text": "a note"})
        await client.post("/api/residents/r1/visits", json={"at": (T0 - timedelta(days=1)).isoformat(),
                                                            "visitor": "Carme", "purpose": "routine",
                                                            "outcome": "seen_well"})
        whole = (await client.get("/api/residents/r1/timeline?limit=200")).json()
        items = whole["items"]
        assert whole["next_before"] is None
        assert [i["at"] for i in items] == sorted((i["at"] for i in items), reverse=True)
        assert {i["kind"] for i in items} == {"note", "alert", "visit", "call", "activity"}
        alert = next(i for i in items if i["kind"] == "alert")
        assert alert["acknowledged_by"] == "op" and [h["kind"] for h in alert["history"]][:2] == [
            "raised", "acknowledged"]
        activity = [i for i in items if i["kind"] == "activity"]
        assert len(activity) >= 10 and all("heartbeat" not in i["counts"] for i in activity)
        assert sum(i["counts"].get("motion", 0) for i in activity) > 0
        seen, before = [], None
        while True:  # pages of 3 give every item exactly once, in the same order
            url = "/api/residents/r1/timeline?limit=3" + (f"&before={before}" if before else "")
            page = (await client.get(url.replace("+", "%2B"))).json()
            seen += page["items"]
            before = page["next_before"]
            if not before:
                break
        assert [(i["kind"], i["id"]) for i in seen] == [(i["kind"], i["id"]) for i in items]
        only = (await client.get("/api/residents/r1/timeline?kinds=visit&kinds=call")).json()["items"]
        assert [i["kind"] for i in only] == ["visit", "call"]
        same = (await client.get("/api/residents/r1/timeline?kinds=visit,call")).json()["items"]
        assert same == only
        assert (await client.get("/api/residents/r1/timeline?kinds=gossip")).status_code == 422
        assert (await client.get("/api/residents/r1/timeline?before=yesterday")).status_code == 400
        series = (await client.get("/api/residents/r1/series/bed?days=30")).json()
        assert len(series["points"]) == 30 and any(p["exits"] for p in series["points"])
        assert (await client.get("/api/residents/r1/series/mood")).status_code == 422
        assert (await client.get("/api/residents/r1/series/bed?days=0")).status_code == 422


async def test_the_demos_care_team_and_coordinator_find_their_residents_in_the_directory(db, tmp_root):
    from types import SimpleNamespace

    from entrypoints.demo import demo_logins, seed_fleet
    from telecare.settings import load_settings

    clock = FakeClock(T0)
    core = SimpleNamespace(db=db, clock=clock, registry=Registry(db),
                           settings=load_settings(database_url=None, data_dir=tmp_root / "demo-directory"))
    await seed_fleet(core, 50)
    await demo_logins(core)
    bus = InProcessBus()
    app = create_app(WebDeps(db=db, bus=bus, alerts=AlertStore(db, bus), clock=clock))
    users = app.state.auth.identity.users
    for name in ("care-team", "coordinator", "social-worker"):
        user = await users.get(name)
        (team,) = user.teams
        want = await db.fetchval("SELECT count(*) FROM residents WHERE care_plan->>'team' = %s", (team,))
        async with api_client(app, role=sorted(user.roles)[0], teams=user.teams, name=name) as client:
            got = (await client.get("/api/residents?page_size=200")).json()
        assert want > 0 and got["total"] == want and {r["team"] for r in got["residents"]} == {team}, name


async def test_erasure_deletes_notes_and_plan_history_and_keeps_visits_without_their_note(world, db):
    from entrypoints.gdpr_wiring import build_gdpr

    app, _, clock = world
    async with api_client(app, role="coordinator", teams=["Nord"], name="cora") as client:
        await client.put("/api/residents/r1/care-plan", json=PLAN)
        await client.post("/api/residents/r1/notes", json={"text": "Her son's number is on the fridge"})
        await client.post("/api/residents/r1/visits", json={"at": T0.isoformat(), "visitor": "Cora",
                                                            "purpose": "routine", "outcome": "seen_well",
                                                            "note": "Talked about her son"})
        await client.post("/api/residents/r2/notes", json={"text": "someone else's note"})
    await build_gdpr(db, clock).erase("r1", "cli:tester")
    assert await db.fetchval("SELECT count(*) FROM resident_notes WHERE resident_id = 'r1'") == 0
    assert await db.fetchval("SELECT count(*) FROM care_plan_history WHERE resident_id = 'r1'") == 0
    assert await db.fetch("SELECT outcome, note FROM visits WHERE resident_id = 'r1'") == [
        {"outcome": "seen_well", "note": ""}]
    assert await db.fetchval("SELECT count(*) FROM resident_notes WHERE resident_id = 'r2'") == 1
    kept = await db.fetch("SELECT table_name FROM erasure_log WHERE resident_id = 'r1' AND table_name = 'visits'")
    assert len(kept) == 1


@pytest.mark.parametrize("q", ["_", "a:b", "& | !", "٣٣٣٣٣", "ǅemal", "x" * 100, "'", "\\", "(", "mont:*", "é"])
async def test_odd_search_boxes_answer_a_page_never_an_error(world, q):
    app, *_ = world
    async with api_client(app) as client:
        response = await client.get("/api/residents", params={"q": q})
    assert response.status_code == 200, response.text
    assert isinstance(response.json()["residents"], list)
