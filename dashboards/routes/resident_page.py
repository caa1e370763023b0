"""The residents directory and the resident page: search, timeline, series, care plan, visits, notes.

Every read of personal data writes its audit row before the answer (no row, no data); every change records
the signed-in user and their organisation, never a name from the body."""
from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Any
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Query, Request
from fastapi.responses import FileResponse
from pydantic import BeforeValidator

from carerecord.store import CareRecord
from devices.care_plan import editable_fields
from devices.registry import Registry
from identity.users import UserStore
from insights.series_queries import ResidentSeries, SeriesName
from telecare.errors import NotFound
from telecare.people import RiskFlag

from dashboards.access import actor, principal_of
from dashboards.audit import AuditAction, AuditLog
from dashboards.resident_directory import PAGE_SIZE, DirectoryFilter, ResidentDirectory
from dashboards.resident_timeline import ResidentTimeline, TimelineKind
from dashboards.routes.common import PathId, ShortText
from dashboards.routes.resident_bodies import CarePlanBody, NoteBody, VisitBody
from dashboards.routes.system import STATIC_DIR

if TYPE_CHECKING:
    from dashboards.app import WebDeps

TIMELINE_LIMIT = 50


def _commas(values: object) -> object:
    """kinds=alert,call and kinds=alert&kinds=call mean the same."""
    if isinstance(values, list):
        return [k for v in values for k in (v.split(",") if isinstance(v, str) else [v]) if k != ""]
    return values


def router(deps: WebDeps, audit: AuditLog, users: UserStore) -> APIRouter:
    """/residents pages and /api/residents reads and writes (dashboards.policy, "issue 8, residents")."""
    api = APIRouter(tags=["residents"])
    db, clock = deps.db, deps.clock
    directory = ResidentDirectory(db, ZoneInfo(deps.service_timezone))
    timeline, series, record, registry = ResidentTimeline(db), ResidentSeries(db), CareRecord(db), Registry(db)

    @api.get("/residents", include_in_schema=False)
    async def directory_page() -> FileResponse:
        return FileResponse(STATIC_DIR / "residents.html", headers={"Cache-Control": "no-cache"})

    @api.get("/residents/{resident_id}", include_in_schema=False)
    async def resident_page(resident_id: PathId) -> FileResponse:
        return FileResponse(STATIC_DIR / "resident_page.html", headers={"Cache-Control": "no-cache"})

    @api.get("/api/residents", summary="Find residents by name, id, phone, address or team; filters; pages; audited")
    async def find(request: Request,
                   q: Annotated[ShortText, Query(max_length=100)] = "",
                   team: Annotated[ShortText | None, Query(min_length=1, max_length=120)] = None,
                   flag: RiskFlag | None = None,
                   level: Annotated[int | None, Query(ge=1, le=3)] = None,
                   open_alerts: bool | None = None, unreached: bool | None = None,
                   page: Annotated[int, Query(ge=1, le=10_000)] = 1,
                   page_size: Annotated[int, Query(ge=1, le=200)] = PAGE_SIZE) -> dict[str, Any]:
        now = clock.now()
        found = await directory.search(
            DirectoryFilter(q, team, flag, level, open_alerts, unreached, page, page_size,
                            request.app.state.access.teams_in_scope(request)), now)
        await audit.record(actor(request), AuditAction.DIRECTORY_READ, [r["id"] for r in found["residents"]], now,
                           {"page": page, "shown": len(found["residents"])})
        return found

    @api.get("/api/residents/{resident_id}/timeline",
             summary="Alerts, calls, visits, care-plan changes, notes and daily activity, newest first; audited")
    async def read_timeline(resident_id: PathId, request: Request,
                            kinds: Annotated[list[TimelineKind] | None, Query(), BeforeValidator(_commas)] = None,
                            before: Annotated[ShortText | None, Query(max_length=80)] = None,
                            limit: Annotated[int, Query(ge=1, le=200)] = TIMELINE_LIMIT) -> dict[str, Any]:
        now = clock.now()
        got = await timeline.page(resident_id, kinds or list(TimelineKind), before, limit, now)
        await audit.record(actor(request), AuditAction.TIMELINE_READ, [resident_id], now,
                           {"kinds": sorted(k.value for k in kinds or ()), "items": len(got["items"])})
        return {"resident_id": resident_id, **got}

    @api.get("/api/residents/{resident_id}/series/{name}", summary="One plotted series from the rollups; audited")
    async def read_series(resident_id: PathId, name: SeriesName, request: Request,
                          days: Annotated[int | None, Query(ge=1, le=366)] = None) -> dict[str, Any]:
        now = clock.now()
        got = await series.series(resident_id, name, days, now)
        await audit.record(actor(request), AuditAction.SERIES_READ, [resident_id], now, {"series": name.value})
        return got

    @api.get("/api/residents/{resident_id}/care-plan", summary="The editable care plan; audited")
    async def read_care_plan(resident_id: PathId, request: Request) -> dict[str, Any]:
        now = clock.now()
        resident = await registry.resident(resident_id)
        if resident is None:
            raise NotFound(f"resident {resident_id} is not registered")
        await audit.record(actor(request), AuditAction.CARE_PLAN_READ, [resident_id], now)
        return {"resident_id": resident_id, **editable_fields(resident)}

    @api.put("/api/residents/{resident_id}/care-plan",
             summary="Replace the editable care plan (care teams: their teams); each changed field is recorded")
    async def update_care_plan(resident_id: PathId, body: CarePlanBody, request: Request) -> dict[str, Any]:
        now, who = clock.now(), principal_of(request).name
        organisation = await users.organisation(who)
        changes = await registry.update_care_plan(resident_id, body.edit(), who, organisation.value, now)
        await audit.record(actor(request), AuditAction.CARE_PLAN_UPDATE, [resident_id], now,
                           {"fields": [c.field for c in changes]})
        resident = await registry.resident(resident_id)
        assert resident is not None
        return {"resident_id": resident_id, "changed": [c.field for c in changes], **editable_fields(resident)}

    @api.post("/api/residents/{resident_id}/visits", status_code=201,
              summary="Record a home visit (a visit that saw the resident counts as contact for follow-up calls)")
    async def add_visit(resident_id: PathId, body: VisitBody, request: Request) -> dict[str, Any]:
        now, who = clock.now(), principal_of(request).name
        visit = await record.add_visit(body.visit(resident_id), who, (await users.organisation(who)).value, now)
        await audit.record(actor(request), AuditAction.VISIT_RECORD, [resident_id], now, {"visit": visit.id})
        return visit.to_dict()

    @api.post("/api/residents/{resident_id}/notes", status_code=201,
              summary="Add a note to the shared record, tagged with the author's organisation")
    async def add_note(resident_id: PathId, body: NoteBody, request: Request) -> dict[str, Any]:
        now, who = clock.now(), principal_of(request).name
        note = await record.add_note(resident_id, body.text, who, (await users.organisation(who)).value, now)
        await audit.record(actor(request), AuditAction.NOTE_ADD, [resident_id], now, {"note": note.id})
        return note.to_dict()

    return api
