"""Campaigns: a CAP weather warning or a staff message becomes prioritised automated call tasks."""
from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo
from typing import Any

import httpx

from outreach.call_vocabulary import CallMode, CallPurpose
from outreach.cap import SEVERITIES, CapAlert, CapArea, CapInfo, expired_at, parse_cap
from outreach.geo import GEOCODES, HAZARD_FLAG, HAZARD_WEIGHT, area_shapes, hazard, residents_inside
from outreach.planning import PlannedCall, local_date, next_calling_window, risk_priority, service_time_text
from outreach.tasks import TaskStore
from outreach.task_records import CampaignKind, NewCampaign
from telecare.errors import InvalidInput
from telecare.metrics import CAP_MESSAGES
from telecare.people import Resident, ResidentLookup, RiskFlag
from telecare.store import Database

log = logging.getLogger(__name__)
ACT_ON = ("Actual",)  # Test/Exercise/System/Draft alerts never ring a resident's phone
ACT_ON_SEVERITY = ("Extreme", "Severe", "Moderate")  # red, orange, yellow
LANG_PREFERENCE = ("ca", "es", "en")
FETCH_TIMEOUT_S = 15.0


class WarningExpired(InvalidInput):
    """A person sent a CAP warning that is already over: refused rather than quietly creating nothing."""


@dataclass(frozen=True, slots=True)
class CampaignSummary:
    """What happened: `created` False for a duplicate identifier or an alert not acted on (see `note`)."""

    campaign_id: int | None
    created: bool
    title: str
    tasks: int
    skipped: int = 0
    note: str = ""


@dataclass(frozen=True, slots=True)
class AudienceFilter:
    """Who an information campaign calls. Empty fields do not filter; risk flags match any of them."""

    risk_flags: frozenset[RiskFlag] = frozenset()
    languages: frozenset[str] = frozenset()
    teams: frozenset[str] = frozenset()
    geocodes: tuple[tuple[str, str], ...] = ()  # e.g. (("INE", "08019"),) — the districts/areas we ship

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> AudienceFilter:
        """Validate an API filter: {"risk_flags": [..], "languages": [..], "teams": [..], "geocodes": ["INE:08019"]}."""
        unknown = set(data) - {"risk_flags", "languages", "teams", "geocodes"}
        if unknown:
            raise InvalidInput(f"unknown audience filter field(s): {', '.join(sorted(unknown))}")
        for key, value in data.items():
            if not isinstance(value, (list, tuple)) or not all(isinstance(v, str) for v in value):
                raise InvalidInput(f"audience filter field {key} must be a list of strings")
        try:
            flags = frozenset(RiskFlag(f) for f in data.get("risk_flags", ()))
        except ValueError as err:
            raise InvalidInput(f"unknown risk flag in audience filter ({err})") from err
        codes = []
        for code in data.get("geocodes", ()):
            name, _, value = str(code).partition(":")
            if (name.upper(), value) not in GEOCODES:
                supported = ", ".join(f"{n}:{v}" for n, v in GEOCODES)
                raise InvalidInput(f"unsupported area {code!r}; supported: {supported}")
            codes.append((name.upper(), value))
        return cls(flags, frozenset(data.get("languages", ())), frozenset(data.get("teams", ())), tuple(codes))

    def to_dict(self) -> dict[str, Any]:
        return {"risk_flags": sorted(self.risk_flags), "languages": sorted(self.languages),
                "teams": sorted(self.teams), "geocodes": [f"{n}:{v}" for n, v in self.geocodes]}


def select_audience(residents: Sequence[Resident], f: AudienceFilter) -> list[Resident]:
    """Pure: the residents an information campaign reaches."""
    chosen = [r for r in residents
              if (not f.risk_flags or f.risk_flags & r.risk_flags)
              and (not f.languages or r.language in f.languages)
              and (not f.teams or r.care_plan.team in f.teams)]
    if f.geocodes:
        chosen = residents_inside(chosen, area_shapes([CapArea("audience", geocodes=f.geocodes)]))
    return chosen


def _campaign_calls(residents: Sequence[Resident], purpose: CallPurpose, now: datetime, reason: str,
                    extra: Mapping[RiskFlag, int] | None, expires: datetime | None) -> tuple[list[PlannedCall], int]:
    """Pure: one automated call per resident in their next calling window, most at risk first."""
    plans, skipped = [], 0
    for r in residents:
        # A warning is about safety: calling hours hold, quiet days (a preference for routine calls) do not.
        w = next_calling_window(r, now, ignore_quiet_days=purpose == CallPurpose.WEATHER)
        if expires is not None and w.start >= expires:
            skipped += 1
            continue
        plans.append(PlannedCall(r.id, purpose, CallMode.AUTOMATED, w.day, max(w.start, now), w.end,
                                 risk_priority(r, local_date(r, now), extra), None, "", reason))
    plans.sort(key=lambda p: (p.priority, p.not_before, p.resident_id))
    return plans, skipped


def _messages(infos: Sequence[CapInfo]) -> dict[str, str]:
    out: dict[str, str] = {}
    for info in infos:
        text = " ".join(t for t in (info.headline, info.description, info.instruction) if t)
        out.setdefault(info.language.split("-")[0].lower(), text)
    return out


async def _all(residents: Sequence[Resident] | ResidentLookup) -> list[Resident]:
    return await residents.all_residents() if hasattr(residents, "all_residents") else list(residents)


async def ingest_cap(db: Database, residents: Sequence[Resident] | ResidentLookup, xml_bytes: bytes, now: datetime,
                     by: str, *, refuse_expired: bool = False,
                     zone: ZoneInfo | None = None) -> CampaignSummary:
    """Parse a CAP warning and create its campaign and calls in one transaction (idempotent per identifier).

    A feed lists warnings that are over, so by default an expired one is skipped with a note; a person's
    upload passes `refuse_expired` and gets WarningExpired naming when it ended (in `zone`).
    """
    try:
        # CPU work (XML, geometry) in a worker thread: the event loop keeps serving alarms meanwhile.
        alert, shapes = await asyncio.to_thread(_parse_with_shapes, xml_bytes)
    except InvalidInput:
        CAP_MESSAGES.labels("rejected").inc()
        raise
    store = TaskStore(db)
    ended = expired_at(alert, now)
    if refuse_expired and ended is not None:
        CAP_MESSAGES.labels("rejected").inc()
        when = service_time_text(ended, zone, now) if zone else ended.isoformat()
        raise WarningExpired(f"this warning expired at {when}: no calls were created. Send a current warning "
                             "(its <expires> must be in the future)")
    ignored = _not_acted_on(alert, now)
    if ignored:
        CAP_MESSAGES.labels("ignored").inc()
        return CampaignSummary(None, False, alert.identifier, 0, note=ignored)
    if alert.msg_type == "Cancel":
        cancelled = [cid for ref in alert.references if (cid := await store.cancel_campaign(ref, now)) is not None]
        CAP_MESSAGES.labels("cancelled").inc()
        return CampaignSummary(cancelled[0] if cancelled else None, False, alert.identifier, 0,
                               note=f"cancelled {len(cancelled)} campaign(s)")
    infos = sorted(alert.infos, key=lambda i: LANG_PREFERENCE.index(i.language[:2].lower())
                   if i.language[:2].lower() in LANG_PREFERENCE else len(LANG_PREFERENCE))
    main = infos[0]
    kind = hazard(alert.infos)
    extra = {HAZARD_FLAG[kind]: HAZARD_WEIGHT} if kind else None
    inside = await asyncio.to_thread(residents_inside, await _all(residents), shapes)
    if alert.msg_type == "Update" and alert.references:
        # An update (new times, wider area) must not ring everyone a second time for the same warning.
        already = await store.residents_in_campaigns(alert.references)
        inside = [r for r in inside if r.id not in already]
    plans, skipped = _campaign_calls(inside, CallPurpose.WEATHER, now, f"{main.severity} {kind or 'weather'} warning",
                                     extra, main.expires)
    messages = _messages(infos)
    spec = NewCampaign(
        kind=CampaignKind.WEATHER, title=(main.headline or main.event)[:200], message=messages[next(iter(messages))],
        created_by=by, source_id=alert.identifier, event=main.event, severity=main.severity,
        urgency=main.urgency, onset=main.onset, expires=main.expires,
        area={"areas": [asdict(a) for a in main.areas], "hazard": kind},
        audience={"messages": messages, "selected": len(plans), "skipped_expired": skipped})
    campaign, created, tasks = await store.create_campaign(spec, plans, now)
    CAP_MESSAGES.labels("campaign" if created else "duplicate").inc()
    log.info("CAP warning: campaign %s created=%s tasks=%s skipped=%s", campaign.id, created, tasks, skipped)
    note = "" if created else "this warning was already ingested; nothing new created"
    return CampaignSummary(campaign.id, created, campaign.title, tasks, skipped, note)


def _parse_with_shapes(xml_bytes: bytes) -> tuple[CapAlert, list[Any]]:
    alert = parse_cap(xml_bytes)
    return alert, area_shapes(alert.areas) if alert.msg_type in ("Alert", "Update") else []


def _not_acted_on(alert: CapAlert, now: datetime) -> str:
    """Why a well-formed alert creates no calls ('' if it does)."""
    if alert.status not in ACT_ON:
        return f"status {alert.status}: not an actual warning, nothing created"
    if alert.msg_type not in ("Alert", "Update", "Cancel"):
        return f"msgType {alert.msg_type}: nothing to do"
    if alert.msg_type == "Cancel":
        return ""
    worst = min((SEVERITIES.index(i.severity) for i in alert.infos), default=len(SEVERITIES) - 1)
    if SEVERITIES[worst] not in ACT_ON_SEVERITY:
        return f"severity {SEVERITIES[worst]}: below the level that triggers calls, nothing created"
    ended = expired_at(alert, now)
    if ended is not None:
        return f"warning expired at {ended.isoformat()}, nothing created"
    return ""


async def create_information_campaign(db: Database, residents: Sequence[Resident] | ResidentLookup, title: str,
                                      message: str, audience_filter: AudienceFilter | Mapping[str, Any],
                                      now: datetime, by: str) -> CampaignSummary:
    """A staff-triggered public-information campaign: one automated call per resident in the audience."""
    if not title.strip() or not message.strip():
        raise InvalidInput("an information campaign needs a title and a message")
    f = audience_filter if isinstance(audience_filter, AudienceFilter) else AudienceFilter.from_dict(audience_filter)
    chosen = select_audience(await _all(residents), f)
    plans, _ = _campaign_calls(chosen, CallPurpose.INFORMATION, now, "information campaign", None, None)
    spec = NewCampaign(kind=CampaignKind.INFORMATION, title=title.strip()[:200], message=message.strip(), created_by=by,
                       audience={"filter": f.to_dict(), "selected": len(plans)})
    campaign, _, tasks = await TaskStore(db).create_campaign(spec, plans, now)
    return CampaignSummary(campaign.id, True, campaign.title, tasks)


async def campaign_progress(db: Database, campaign_id: int) -> dict[str, int]:
    """done, answered, unreached, pending and total call counts for a campaign's progress bar."""
    return await TaskStore(db).campaign_progress(campaign_id)


async def read_source(path_or_url: str) -> bytes:
    """Bytes of a CAP file or http(s) URL; InvalidInput with a clear message when it cannot be read."""
    if path_or_url.startswith(("http://", "https://")):
        try:
            async with httpx.AsyncClient(timeout=FETCH_TIMEOUT_S, follow_redirects=True) as client:
                response = await client.get(path_or_url)
        except httpx.HTTPError as err:
            raise InvalidInput(f"cannot fetch the CAP feed: {type(err).__name__}") from err
        if response.status_code != 200:
            raise InvalidInput(f"the CAP feed answered HTTP {response.status_code}")
        return response.content
    path = Path(path_or_url)
    if not path.is_file():
        raise InvalidInput(f"no such CAP file: {path_or_url}")
    return path.read_bytes()


async def weather_ingest_cli(db: Database, residents: Sequence[Resident] | ResidentLookup, path_or_url: str,
                             now: datetime, zone: ZoneInfo | None = None) -> str:
    """`telecare weather ingest PATH_OR_URL`: a one-line report for the terminal (an expired warning is refused)."""
    summary = await ingest_cap(db, residents, await read_source(path_or_url), now, by="cli", refuse_expired=True,
                               zone=zone)
    if summary.created:
        return (f"campaign {summary.campaign_id} created: {summary.title!r}, {summary.tasks} call(s) planned"
                + (f", {summary.skipped} skipped (warning over before their calling hours)" if summary.skipped else ""))
    return f"no new campaign ({summary.note})" + (f"; campaign {summary.campaign_id}" if summary.campaign_id else "")
