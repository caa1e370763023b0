"""Pure call planning: which residents to call on which local day, inside which calling window."""
from __future__ import annotations

import math

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta, timezone
from functools import lru_cache
from zoneinfo import ZoneInfo

from outreach.call_vocabulary import CallMode, CallPurpose
from telecare.people import Resident, RiskFlag

# Follow-up level -> days between successful contacts (Barcelona: every 15/30/45 days).
FOLLOW_UP_DAYS: dict[int, int] = {1: 15, 2: 30, 3: 45}
# Residents never called yet are spread over the shortest follow-up interval, but a small service (or a
# handful of new enrolments) still gets every first call the same day.
MIN_FIRST_CALLS_PER_DAY = 50
FIRST_CALL = "first"  # the last part of a never-contacted resident's follow-up key
# Lower priority number = called first. Risk weights are subtracted from the base.
BASE_PRIORITY = 100
RISK_WEIGHTS: dict[RiskFlag, int] = {
    RiskFlag.LIVES_ALONE: 20,
    RiskFlag.DEMENTIA: 15,
    RiskFlag.HEAT_VULNERABLE: 10,
    RiskFlag.COLD_VULNERABLE: 5,
    RiskFlag.RECENT_DISCHARGE: 15,
    RiskFlag.REDUCED_MOBILITY: 5,
    RiskFlag.HEARING_IMPAIRED: 0,
}
AGE_WEIGHTS: tuple[tuple[int, int], ...] = ((90, 10), (80, 5))  # (min age, weight), first match wins
UNREACHED_RETRY_DAYS = 2  # an unreached follow-up (welfare alert raised) is tried again this many days later
LOOKAHEAD_DAYS = 14  # how far to search for an allowed day (7 would do unless all days are quiet)


@dataclass(frozen=True, slots=True)
class Window:
    """A calling window on a resident's local day, as UTC instants."""

    day: date
    start: datetime
    end: datetime


@dataclass(frozen=True, slots=True)
class PlannedCall:
    """A call the planner wants made; TaskStore turns it into a call_tasks row (deduplicated by key)."""

    resident_id: str
    purpose: CallPurpose
    mode: CallMode
    due_date: date  # the resident's local date
    not_before: datetime  # UTC
    not_after: datetime  # UTC
    priority: int
    assigned_to: str | None
    dedupe_key: str
    reason: str
    campaign_id: int | None = None
    max_attempts: int = 3


@lru_cache(maxsize=64)
def _zone(name: str) -> ZoneInfo:
    return ZoneInfo(name)


@lru_cache(maxsize=4096)
def _window(tz: str, day: date, start: time, end: time) -> Window:
    # fold=0: a local time that does not exist (spring forward) maps to the later wall time.
    zone = _zone(tz)
    return Window(day, datetime.combine(day, start, zone).astimezone(timezone.utc),
                  datetime.combine(day, end, zone).astimezone(timezone.utc))


def calling_window(resident: Resident, day: date) -> Window:
    """The resident's calling hours on a local day, in UTC."""
    plan = resident.care_plan
    return _window(resident.timezone, day, plan.calling_start, plan.calling_end)


def local_date(resident: Resident, at: datetime) -> date:
    """The resident's local calendar date at an instant."""
    return at.astimezone(_zone(resident.timezone)).date()


def next_calling_window(resident: Resident, at: datetime, *, ignore_quiet_days: bool = False) -> Window:
    """The first allowed window that has not ended at `at` (today's if still open, else a later day)."""
    quiet = () if ignore_quiet_days else resident.care_plan.quiet_days
    day = local_date(resident, at)
    for _ in range(LOOKAHEAD_DAYS):
        if day.isoweekday() not in quiet:
            window = calling_window(resident, day)
            if window.end > at:
                return window
        day += timedelta(days=1)
    raise ValueError(f"resident {resident.id} has no allowed calling day")


@dataclass(frozen=True, slots=True)
class CallingHours:
    """Whether a resident may be called at an instant; when not, when their calling hours open (UTC)."""

    open: bool
    opens_at: datetime | None  # None while open
    window: Window  # the current window when open, else the next one


def calling_hours_at(resident: Resident, at: datetime, *, ignore_quiet_days: bool = True) -> CallingHours:
    """Pure: are we inside the resident's calling hours at `at`, and if not, when do they start?

    Quiet days are a planning preference (no routine calls planned), so a call already on the worklist
    ignores them by default; pass False to treat a quiet day as closed.
    """
    window = next_calling_window(resident, at, ignore_quiet_days=ignore_quiet_days)
    inside = window.start <= at < window.end
    return CallingHours(inside, None if inside else window.start, window)


def service_time_text(at: datetime, zone: ZoneInfo, now: datetime | None = None) -> str:
    """A 24-hour time for messages, in the service zone: '10:00' today, else 'Thu 16 Jul 10:00', plus the zone."""
    local = at.astimezone(zone)
    same_day = now is not None and now.astimezone(zone).date() == local.date()
    text = f"{local:%H:%M}" if same_day else f"{local:%a} {local.day} {local:%b %H:%M}"
    return f"{text} ({zone.key})"


def age_on(born: date | None, day: date) -> int | None:
    """Whole years of age on a day."""
    if born is None:
        return None
    return day.year - born.year - ((day.month, day.day) < (born.month, born.day))


def risk_priority(resident: Resident, day: date, extra: Mapping[RiskFlag, int] | None = None) -> int:
    """Priority number for a resident (lower first): risk flags, then age."""
    score = sum(RISK_WEIGHTS.get(f, 0) for f in resident.risk_flags)
    if extra:
        score += sum(w for f, w in extra.items() if f in resident.risk_flags)
    if resident.care_plan.reablement is not None and resident.care_plan.reablement.until >= day:
        score += RISK_WEIGHTS[RiskFlag.RECENT_DISCHARGE] if RiskFlag.RECENT_DISCHARGE not in resident.risk_flags else 0
    age = age_on(resident.date_of_birth, day)
    if age is not None:
        score += next((w for min_age, w in AGE_WEIGHTS if age >= min_age), 0)
    return max(BASE_PRIORITY - score, 0)


def is_birthday(born: date | None, day: date) -> bool:
    """True on the birthday; a 29 February birthday is kept on 28 February in common years."""
    if born is None:
        return False
    if (born.month, born.day) == (2, 29) and not _leap(day.year):
        return (day.month, day.day) == (2, 28)
    return (born.month, born.day) == (day.month, day.day)


def _leap(year: int) -> bool:
    return year % 4 == 0 and (year % 100 != 0 or year % 400 == 0)


def reablement_weekdays(calls_per_week: int, quiet_days: Iterable[int]) -> frozenset[int]:
    """ISO weekdays for N calls a week, spread evenly over the allowed days."""
    allowed = [d for d in range(1, 8) if d not in set(quiet_days)]
    n = min(max(calls_per_week, 0), len(allowed))
    return frozenset(allowed[(i * len(allowed)) // n] for i in range(n)) if n else frozenset()


def plan_resident(resident: Resident, last_contact: datetime | None, now: datetime,
                  unreached_at: datetime | None = None) -> list[PlannedCall]:
    """The calls one resident needs on the next allowed calling day (at most one call)."""
    plan = resident.care_plan
    window = next_calling_window(resident, now)
    day = window.day
    priority = risk_priority(resident, day)
    assignee = plan.named_caller or plan.team

    def call(purpose: CallPurpose, key: str, reason: str) -> PlannedCall:
        return PlannedCall(resident.id, purpose, CallMode.HUMAN, day, window.start, window.end, priority, assignee,
                           key, reason)

    if is_birthday(resident.date_of_birth, day):
        # A birthday call is a contact too: it replaces a follow-up due the same day.
        return [call(CallPurpose.BIRTHDAY, f"birthday:{resident.id}:{day.isoformat()}", "birthday")]
    interval = FOLLOW_UP_DAYS.get(plan.follow_up_level, FOLLOW_UP_DAYS[2])
    # Keyed by the date the follow-up fell due (not the day planned): replanning on later days finds the
    # same key, so an overdue call is never planned twice.
    due = date.min if last_contact is None else local_date(resident, last_contact) + timedelta(days=interval)
    if due <= day:
        key = f"follow_up:{resident.id}:{FIRST_CALL if last_contact is None else due.isoformat()}"
        reason = ("first follow-up call" if last_contact is None
                  else f"follow-up level {plan.follow_up_level} (every {interval} days)")
        if unreached_at is not None and local_date(resident, unreached_at) >= due:
            # This cycle's call ended unreached (a welfare alert went out): try again a little later rather
            # than dropping the resident from follow-ups until someone happens to reach them.
            retry = local_date(resident, unreached_at) + timedelta(days=UNREACHED_RETRY_DAYS)
            if retry <= day:
                return [call(CallPurpose.FOLLOW_UP, f"{key}:retry:{retry.isoformat()}", f"{reason}; retry after unreached")]
        else:
            return [call(CallPurpose.FOLLOW_UP, key, reason)]
    reab = plan.reablement
    if reab is not None and day <= reab.until and day.isoweekday() in reablement_weekdays(
            reab.calls_per_week, plan.quiet_days):
        return [call(CallPurpose.FOLLOW_UP, f"reablement:{resident.id}:{day.isoformat()}",
                     f"reablement: {reab.calls_per_week} calls a week")]
    return []


def plan_calls(residents: Iterable[Resident], last_contact: Mapping[str, datetime], existing_keys: set[str],
               now: datetime, unreached: Mapping[str, datetime] | None = None) -> list[PlannedCall]:
    """Plan follow-up, reablement and birthday calls for every resident; skip keys already planned.

    `last_contact`: last successful call of any purpose; `unreached`: when the resident's latest routine
    follow-up task ended unreached (both UTC, by resident id).
    """
    if now.tzinfo is None:
        raise ValueError("plan_calls needs an aware `now`")
    unreached = unreached or {}
    out: list[PlannedCall] = []
    first_calls: list[PlannedCall] = []
    never_contacted = 0
    for resident in residents:
        if resident.id not in last_contact:
            never_contacted += 1
        for planned in plan_resident(resident, last_contact.get(resident.id), now, unreached.get(resident.id)):
            if planned.dedupe_key in existing_keys:
                continue
            (first_calls if planned.dedupe_key.endswith(f":{FIRST_CALL}") else out).append(planned)
    out += _spread_first_calls(first_calls, never_contacted)
    out.sort(key=lambda p: (p.due_date, p.priority, p.not_before, p.resident_id))
    return out


def _spread_first_calls(first_calls: list[PlannedCall], never_contacted: int) -> list[PlannedCall]:
    """A service starting up (or taking over many residents) has no call history: rather than calling
    everyone on day one, spread the first calls over the shortest follow-up interval, highest risk first."""
    quota = max(MIN_FIRST_CALLS_PER_DAY, math.ceil(never_contacted / min(FOLLOW_UP_DAYS.values())))
    first_calls.sort(key=lambda p: (p.priority, p.resident_id))
    return first_calls[:quota]
