"""Care-team routes: worklist, call log (page, API, CSV), campaigns with live progress, escalation tiers."""
from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from importlib import resources
from typing import Annotated, Any, Literal
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse, JSONResponse, Response
from pydantic import BaseModel, ConfigDict, Field

from dashboards.routes.common import MAX_ROW_ID, Name, PathRowId, RowId, ShortText, Text

from outreach import campaigns
from outreach.call_log import CallFilter, CallLog, csv_text
from outreach.cap import sample_warning
from outreach.escalation import Escalator
from outreach.human_calls import HUMAN_OUTCOMES, HumanCalls, OutsideCallingHours
from telecare.clock import Clock
from telecare.errors import InvalidInput
from telecare.metrics import HTTP_ERRORS
from telecare.people import ResidentLookup
from telecare.store import Database

from dashboards.access import Access, actor
from dashboards.audit import AuditAction, AuditLog

log = logging.getLogger(__name__)
PAGES = {"worklist": "worklist.html", "calls": "calls.html", "campaigns": "campaigns.html",
         "campaign": "campaign.html"}
ASSETS = {"care.js": "application/javascript", "care.css": "text/css"}
# A row id in a query string: outside 1..2^63-1 it cannot name a row (PostgreSQL would refuse it: a 503).
QueryRowId = Annotated[int | None, Query(ge=1, le=MAX_ROW_ID)]
# The weather route reads its body raw (XML); described here so the docs and the fuzz test know it.
CAP_BODY = {"requestBody": {"required": False, "content": {"application/xml": {"schema": {"type": "string"}}}}}


@dataclass(frozen=True, slots=True)
class CareDeps:
    """What the care-team routes need (built by OutreachService)."""

    db: Database
    tasks: Any
    call_log: CallLog
    human_calls: HumanCalls
    residents: ResidentLookup
    clock: Clock
    escalator: Escalator | None = None


class StartCall(BaseModel):
    task_id: RowId
    caller: Name | None = Field(None, description="ignored: the caller is the signed-in user")
    caller_phone: str | None = Field(None, max_length=32, pattern=r"^\+?[0-9 .()-]{3,32}$")
    urgent: bool = False  # start even outside the resident's calling hours (recorded on the call)


class OutcomeBody(BaseModel):
    outcome: Literal["fine", "concern", "no_answer", "wrong_number", "declined"]
    note: Text = Field("", max_length=500)
    urgent: bool = False
    by: ShortText = Field("", max_length=100, description="ignored: recorded as the signed-in user")


class AudienceBody(BaseModel):
    """Who an information campaign calls (outreach.campaigns.AudienceFilter checks the values)."""

    model_config = ConfigDict(extra="forbid")
    risk_flags: list[ShortText] = Field(default_factory=list, max_length=20)
    languages: list[Annotated[str, Field(pattern=r"^[a-z]{2}$")]] = Field(default_factory=list, max_length=20)
    teams: list[Annotated[ShortText, Field(min_length=1, max_length=100)]] = Field(default_factory=list,
                                                                                   max_length=100)
    geocodes: list[Annotated[ShortText, Field(min_length=1, max_length=64)]] = Field(default_factory=list,
                                                                                     max_length=100)


class InformationBody(BaseModel):
    title: Text = Field(min_length=1, max_length=200)
    message: Text = Field(min_length=1, max_length=2000)
    audience: AudienceBody = Field(default_factory=AudienceBody)
    by: Name | None = Field(None, description="ignored: the campaign is started by the signed-in user")


def _page(name: str) -> HTMLResponse:
    return HTMLResponse((resources.files("dashboards") / "static" / "care" / PAGES[name]).read_text())


def _day_bound(value: str | None, end: bool, zone: ZoneInfo) -> datetime | None:
    """`from`/`to` as a date (service-local day; `to` inclusive) or an ISO instant."""
    if not value:
        return None
    try:
        if len(value) == 10:
            day = date.fromisoformat(value) + timedelta(days=1 if end else 0)
            return datetime.combine(day, time(0), zone)
        parsed = datetime.fromisoformat(value)
    except ValueError as err:
        raise InvalidInput(f"{'to' if end else 'from'} must be a date (YYYY-MM-DD) or an ISO time") from err
    if parsed.tzinfo is None:
        raise InvalidInput("times need a UTC offset")
    return parsed


def router(deps: CareDeps) -> APIRouter:
    """The care team's pages and API."""
    r = APIRouter()
    zone = deps.human_calls.service_zone
    audit = AuditLog(deps.db)

    def access(request: Request) -> Access:
        return request.app.state.access

    async def audited(request: Request, action: AuditAction, residents: Any, detail: dict[str, Any]) -> None:
        await audit.record(actor(request), action, residents, deps.clock.now(), detail)

    async def only_visible(request: Request, rows: list[Any], resident: Any) -> list[Any]:
        """Team roles keep only their own teams' residents' rows."""
        seen = await access(request).visible(request, (resident(x) for x in rows))
        return rows if seen is None else [x for x in rows if resident(x) in seen]

    @r.get("/care", include_in_schema=False)
    @r.get("/care/worklist", include_in_schema=False)
    async def worklist_page() -> HTMLResponse:
        return _page("worklist")

    @r.get("/care/calls", include_in_schema=False)
    async def calls_page() -> HTMLResponse:
        return _page("calls")

    @r.get("/care/campaigns", include_in_schema=False)
    async def campaigns_page() -> HTMLResponse:
        return _page("campaigns")

    @r.get("/care/campaigns/{campaign_id}", include_in_schema=False)
    async def campaign_page(campaign_id: int) -> HTMLResponse:
        return _page("campaign")

    @r.get("/care/assets/{name}", include_in_schema=False)
    async def asset(name: str) -> Response:
        if name not in ASSETS:
            return JSONResponse({"detail": "no such file"}, status_code=404)
        return Response((resources.files("dashboards") / "static" / "care" / name).read_text(), media_type=ASSETS[name])

    @r.get("/api/worklist")
    async def worklist(request: Request, caller: str | None = None, team: str | None = None) -> Any:
        items = await deps.human_calls.worklist(caller=caller or None, team=team or None)
        items = await only_visible(request, items, lambda i: i.resident_id)
        await audited(request, AuditAction.WORKLIST_READ, (i.resident_id for i in items), {"view": "worklist"})
        return [i.to_dict() for i in items]

    @r.post("/api/calls/start")
    async def start_call(body: StartCall, request: Request) -> Any:
        task = await deps.tasks.get(body.task_id)
        await access(request).require(request, task.resident_id)
        try:
            started = await deps.human_calls.start_call(body.task_id, request.state.principal.name,
                                                        caller_phone=body.caller_phone, urgent=body.urgent)
        except OutsideCallingHours as err:  # a 409 that also says when calling hours start
            HTTP_ERRORS.labels("409").inc()
            return JSONResponse({"detail": str(err), "calling_hours_start": err.opens_at.isoformat()},
                                status_code=409)
        await audited(request, AuditAction.CALL_START, [task.resident_id], {"task_id": body.task_id,
                                                                             "call_id": started.call_id})
        return {"call_id": started.call_id, "phone": started.phone, "click_to_call": started.click_to_call,
                "outcomes": list(HUMAN_OUTCOMES)}

    @r.post("/api/calls/{call_id}/outcome")
    async def outcome(call_id: PathRowId, body: OutcomeBody, request: Request) -> Any:
        call = await deps.call_log.get(call_id)
        await access(request).require(request, call.resident_id)
        record = await deps.human_calls.record_outcome(call_id, body.outcome, body.note, urgent=body.urgent,
                                                       by=request.state.principal.name)
        await audited(request, AuditAction.CALL_OUTCOME, [call.resident_id], {"call_id": call_id,
                                                                               "outcome": body.outcome})
        return record.to_dict()

    def _filter(request: Request, resident_id: str | None, from_: str | None, to: str | None, purpose: str | None,
                outcome: str | None, campaign_id: int | None, limit: int) -> CallFilter:
        # Team roles: their teams' residents only, in the query itself, so the LIMIT counts their rows.
        return CallFilter(resident_id or None, _day_bound(from_, False, zone), _day_bound(to, True, zone),
                          purpose or None, outcome or None, campaign_id, limit, access(request).teams_in_scope(request))

    @r.get("/api/calls")
    async def calls(request: Request, resident_id: str | None = None,
                    from_: str | None = Query(None, alias="from"), to: str | None = None,
                    purpose: str | None = None, outcome: str | None = None, campaign_id: QueryRowId = None,
                    limit: int = Query(500, ge=1, le=10_000)) -> Any:
        """Call attempts, newest first, with each resident's name (an audited read; team roles: own teams)."""
        f = _filter(request, resident_id, from_, to, purpose, outcome, campaign_id, limit)
        found = await only_visible(request, await deps.call_log.query_named(f), lambda x: x[0].resident_id)
        # Audited before answering: no row, no names.
        await audited(request, AuditAction.CALL_LOG_NAMES_READ, (c.resident_id for c, _ in found),
                      {"view": "call_log"})
        return [{**c.to_dict(), "resident_name": name} for c, name in found]

    @r.get("/api/calls.csv")
    async def calls_csv(request: Request, resident_id: str | None = None,
                        from_: str | None = Query(None, alias="from"), to: str | None = None,
                        purpose: str | None = None, outcome: str | None = None, campaign_id: QueryRowId = None,
                        limit: int = Query(100_000, ge=1, le=100_000)) -> Any:
        f = _filter(request, resident_id, from_, to, purpose, outcome, campaign_id, limit)
        found = await only_visible(request, await deps.call_log.query_named(f), lambda x: x[0].resident_id)
        await audited(request, AuditAction.CALL_LOG_NAMES_READ, (c.resident_id for c, _ in found),
                      {"view": "call_log.csv"})
        text = csv_text(found, with_names=True)
        return Response(text, media_type="text/csv",
                        headers={"Content-Disposition": 'attachment; filename="call-log.csv"'})

    @r.get("/api/campaigns")
    async def list_campaigns() -> Any:
        out = []
        for c in await deps.tasks.list_campaigns():
            out.append({**_campaign(c), "progress": await _progress(c.id)})
        return out

    async def _progress(campaign_id: int) -> dict[str, Any]:
        """Counts, plus how many pending calls wait (for calling hours or a retry) and until when."""
        progress: dict[str, Any] = dict(await deps.tasks.campaign_progress(campaign_id))
        waiting, first = await deps.tasks.campaign_waiting(campaign_id, deps.clock.now())
        progress["waiting"], progress["waiting_until"] = waiting, first.isoformat() if first else None
        return progress

    @r.get("/api/campaigns/{campaign_id}")
    async def get_campaign(campaign_id: PathRowId) -> Any:
        c = await deps.tasks.get_campaign(campaign_id)
        return {**_campaign(c), "progress": await _progress(campaign_id)}

    @r.post("/api/campaigns/weather", openapi_extra=CAP_BODY)
    async def weather(request: Request, sample: bool = False,
                      by: Annotated[Name | None, Query(description="ignored: the signed-in user")] = None) -> Any:
        """Body: a CAP 1.2 XML document; or `?sample=true` for the bundled Barcelona heat warning."""
        now, by = deps.clock.now(), request.state.principal.name
        body = sample_warning(now) if sample else await request.body()
        if not body.strip():
            raise InvalidInput("send a CAP 1.2 XML document as the request body, or use ?sample=true")
        summary = await campaigns.ingest_cap(deps.db, deps.residents, body, now, by, refuse_expired=True, zone=zone)
        await audited(request, AuditAction.CAMPAIGN_START, [], {"campaign_id": summary.campaign_id, "kind": "weather"})
        return {"campaign_id": summary.campaign_id, "created": summary.created, "title": summary.title,
                "tasks": summary.tasks, "skipped": summary.skipped, "note": summary.note}

    @r.post("/api/campaigns/information")
    async def information(body: InformationBody, request: Request) -> Any:
        principal, audience = request.state.principal, body.audience.model_dump()
        if not request.state.rule.unbound(principal):  # a care team calls its own teams' residents only
            outside = set(audience["teams"]) - principal.teams
            if outside:
                await access(request).deny(request, principal, "a campaign may only call your own teams")
            audience["teams"] = audience["teams"] or sorted(principal.teams)
        summary = await campaigns.create_information_campaign(
            deps.db, deps.residents, body.title, body.message, audience, deps.clock.now(), principal.name)
        await audited(request, AuditAction.CAMPAIGN_START, [], {"campaign_id": summary.campaign_id,
                                                                "kind": "information"})
        return {"campaign_id": summary.campaign_id, "created": summary.created, "title": summary.title,
                "tasks": summary.tasks}

    @r.get("/api/escalations")
    async def escalations(alert_id: list[int] | None = Query(None)) -> Any:
        """Escalation tier per alert (all active ones without `alert_id`): 1 operators, 2 second tier, 3 key-holders."""
        if deps.escalator is None:
            return []
        return [{"alert_id": s.alert_id, "escalated_tier": s.tier, "state": s.state,
                 "next_at": s.next_at.isoformat(), "key_holder_index": s.contact_index}
                for s in await deps.escalator.tiers(alert_id)]

    return r


def _campaign(c: Any) -> dict[str, Any]:
    return {"id": c.id, "kind": c.kind, "title": c.title, "message": c.message, "status": c.status,
            "event": c.event, "severity": c.severity, "created_by": c.created_by,
            "created_at": c.created_at.isoformat(), "expires": c.expires.isoformat() if c.expires else None}
